/**
 * The text layout, against test/fixtures/reference-layout.txt: the data of
 * kernel_delay.rst's example laid out by Python's str.format with the
 * reference script's format strings (test/fixtures/reference-layout.py
 * regenerates it).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatStatistics } from '../../host/report/statistics.js';
import { timestampLine } from '../../host/report/timestamps.js';
import { withThousands } from '../../host/report/integers.js';
import { parseManifest } from '../../host/bundle/manifest.js';
import { columnKey, u64 } from '../../host/report/json-records.js';
import { jsonRenderer } from '../../host/report/json-renderer.js';
import { textRenderer } from '../../host/report/text-renderer.js';
import { validNdjson } from '../helpers/json-schema.js';
import { type SampleTables, tableFor } from '../../host/model/section-table.js';

const probeManifest = (name: string) => parseManifest(readFileSync(join(import.meta.dirname, '..', '..', 'probes', name, 'manifest.json'), 'utf8'), name);
const manifest = { sections: [...probeManifest('syscalls').sections, ...probeManifest('sched').sections] };
const expected = readFileSync(join(import.meta.dirname, '..', 'fixtures', 'reference-layout.txt'), 'utf8').trimEnd();

interface Row {
  section: string;
  tid: number;
  label: string | undefined;
  values: number[];
}
const sys = (tid: number, label: string, ...values: number[]): Row => ({ section: 'syscalls', tid, label, values });
const longPoll = (tid: number, ...values: number[]): Row => ({ section: 'long_poll', tid, label: undefined, values });
const sched = (section: string, tid: number, ...values: number[]): Row => ({ section, tid, label: undefined, values });
function tables(rows: Row[]): SampleTables {
  const out: SampleTables = new Map();
  for (const r of rows) tableFor(out, r.section, r.values.length).add(r.tid, r.label, r.values);
  return out;
}

// Deliberately out of order: the formatter sorts rows by total and threads by name.
const rows: Row[] = [
  longPoll(31760, 1, 5, 5, 5),
  sys(31741, 'read', 0, 1, 1292, 1292),
  sys(31741, 'recvmsg', 47, 494, 125208756, 310331),
  sys(31741, 'getrusage', 98, 1, 1424, 1424),
  sys(31741, 'poll', 7, 5, 184193176, 184191520),
  sys(31750, 'poll', 7, 1, 1000, 1000),
  sys(31741, 'sendmsg', 46, 4, 43294, 11213),
  sys(31741, 'futex', 202, 8, 18768758, 4023039),
  sys(31741, 'write', 1, 1, 5949, 5949),
  longPoll(31741, 4, 46048294, 1021, 184191520),
  sys(31741, 'sendto', 44, 10, 375861, 266867),
  sched('stopped', 31741, 3, 3045728323, 1015739474),
  sched('run', 31741, 6, 136764071, 1480, 115146424),
  sched('ready', 31741, 7, 11334, 6636),
  sched('partial_run', 31760, 1, 500123456),
];
const names: Record<number, string> = { 31741: 'revalidator122', 31750: '<unknown:31700/31750>', 31760: 'zz-idle' };

describe('text report', () => {
  it("matches the reference's layout byte for byte", () => {
    const text = formatStatistics({ sections: manifest.sections, tables: tables(rows), threadName: (tid) => names[tid] });
    expect(text).toBe(expected);
  });

  it('marks a thread the kernel saw exit with its name and (exited); live threads keep the layout', () => {
    let text = '';
    const renderer = textRenderer(
      manifest.sections,
      (tid) => names[tid],
      () => {},
      (bytes) => ((text += Buffer.from(bytes).toString()), true),
    );
    renderer.sample(1, { tables: tables(rows), warnings: [], exited: new Map([[31750, 'handler7']]) }, 0, 123);
    // The reference's report with one line changed: the gone thread's, which it could only call <unknown:PID/TID>.
    expect(text.trimEnd()).toBe(expected.replace('     31750 <unknown:31700/31750> [SYSCALL STATISTICS]', '     31750 handler7 (exited) [SYSCALL STATISTICS]'));
  });

  it('lets a number wider than its column push the line wider, like str.format', () => {
    const lines = formatStatistics({ sections: manifest.sections, tables: tables([sys(1, 'read', 0, 12345678901, 1, 1)]), threadName: () => 't' }).split('\n');
    expect(lines[4]).toBe(`${' '.repeat(28)}${'read'.padEnd(20)} ${'0'.padStart(6)}  12345678901  ${'1'.padStart(16)}  ${'1'.padStart(16)}`);
  });

  it('truncates labels to the column width like {:20.20}', () => {
    const lines = formatStatistics({ sections: manifest.sections, tables: tables([sys(1, 'a_very_long_syscall_name_indeed', 999, 1, 2, 3)]), threadName: () => 't' }).split('\n');
    expect(lines[4]).toBe(`${' '.repeat(28)}a_very_long_syscall_ ${'999'.padStart(6)}  ${'1'.padStart(10)}  ${'2'.padStart(16)}  ${'3'.padStart(16)}`);
  });

  it.each([
    [0n, '0'],
    [999n, '999'],
    [1000n, '1,000'],
    [184193176n, '184,193,176'],
    [18446744073709551615n, '18,446,744,073,709,551,615'],
    [1234567, '1,234,567'],
    [-123, '-123'],
    [-1234567n, '-1,234,567'],
  ])('groups %s as %s', (n, text) => expect(withThousands(n)).toBe(text));
});

describe('timestamp lines', () => {
  const original = process.env.TZ;
  it('prints local ISO time with microseconds and the UTC clock, like datetime.isoformat()', () => {
    process.env.TZ = 'Europe/Amsterdam';
    try {
      const micros = Date.UTC(2023, 5, 8, 10, 17, 22) * 1000 + 725127;
      expect(timestampLine('# Start sampling', micros)).toBe('# Start sampling @2023-06-08T12:17:22.725127 (10:17:22 UTC)');
      // isoformat() leaves out a zero fraction.
      expect(timestampLine('# Sample dump', Date.UTC(2023, 5, 8, 10, 17, 22) * 1000)).toBe('# Sample dump @2023-06-08T12:17:22 (10:17:22 UTC)');
    } finally {
      if (original === undefined) delete process.env.TZ;
      else process.env.TZ = original;
    }
  });
});

describe('NDJSON report', () => {
  // A window of 123 ns that closed 1 ms before the report, at CLOCK_MONOTONIC 10 s.
  const run = { pid: 31741, command: 'ovs-vswitchd', window: () => ({ startNs: 9_998_999_877n, stopNs: 9_999_000_000n }), monotonicNs: () => 10_000_000_000n };
  const dumpMicros = Date.UTC(2026, 10, 30, 12, 0, 0) * 1000;

  it('emits one versioned sample record with numeric fields keyed by column', () => {
    const lines: string[] = [];
    jsonRenderer(
      manifest.sections,
      (tid) => names[tid],
      (l) => lines.push(l),
      run,
    ).sample(1, { tables: tables(rows.slice(0, 2)), warnings: [] }, dumpMicros, 123);
    expect(lines).toHaveLength(1);
    const [record] = validNdjson(lines.join('\n'));
    expect(record.schema).toBe(1);
    expect(record.type).toBe('sample');
    expect(record.data).toMatchObject({
      sample: 1,
      pid: 31741,
      command: 'ovs-vswitchd',
      time: '2026-11-30T12:00:00.000Z',
      window_start_ns: 9_998_999_877,
      window_stop_ns: 9_999_000_000,
      window_ns: 123,
      window_start_time: '2026-11-30T11:59:59.998Z',
      window_stop_time: '2026-11-30T11:59:59.999Z',
      interrupted: false,
      target_exited: false,
      trigger_delta_ns: null,
      incomplete: false,
      warnings: [],
      system: {},
    });
    expect(record.data.threads).toEqual([
      { tid: 31741, name: 'revalidator122', exited: false, sections: { syscalls: [{ name: 'read', number: 0, count: 1, total_ns: 1292, max_ns: 1292 }] } },
      { tid: 31760, name: 'zz-idle', exited: false, sections: { long_poll: [{ count: 1, average_ns: 5, min_ns: 5, max_ns: 5 }] } },
    ]);
  });

  it('gives a thread the kernel saw exit the name it exited with, and exited: true', () => {
    const lines: string[] = [];
    const sample = { tables: tables(rows.filter((r) => r.tid !== 31760)), warnings: [], exited: new Map([[31750, 'handler7']]) };
    jsonRenderer(
      manifest.sections,
      (tid) => names[tid],
      (l) => lines.push(l),
      run,
    ).sample(1, sample, dumpMicros, 123);
    const [record] = validNdjson(lines.join('\n'));
    expect((record.data.threads as { tid: number; name: string; exited: boolean }[]).map((t) => [t.tid, t.name, t.exited])).toEqual([
      [31741, 'revalidator122', false],
      [31750, 'handler7', true],
    ]);
  });

  it('marks a window ended by Ctrl-C, and reports notes, events, skips and warnings as typed records', () => {
    const lines: string[] = [];
    const renderer = jsonRenderer(
      manifest.sections,
      (tid) => names[tid] ?? 'x',
      (l) => lines.push(l),
      run,
    );
    const event = { entryNs: 2n ** 60n, exitNs: 2n ** 60n + 5n, tid: 31741, nr: 0, name: 'read', kernelStackId: -1, userStackId: -1 };
    renderer.sample(
      2,
      { tables: tables([]), warnings: [], notes: [{ section: 'UPCALL STATISTICS', reason: 'the openvswitch kernel module is not loaded' }], events: [event] },
      dumpMicros,
      5,
      7n,
      'interrupted',
    );
    renderer.skipped(3n, dumpMicros);
    renderer.warnings(['a map was full']);
    const records = validNdjson(lines.join('\n'));
    expect(records.map((r) => r.type)).toEqual(['sample', 'unavailable', 'syscall_event', 'skipped', 'warning']);
    expect(records[0].data).toMatchObject({ interrupted: true, target_exited: false, trigger_delta_ns: 7, threads: [] });
    expect(records[1].data).toEqual({ sample: 2, section: 'UPCALL STATISTICS', reason: 'the openvswitch kernel module is not loaded' });
    // Beyond 2^53 a u64 is a string, never a rounded number; small ones stay numbers.
    expect(records[2].data).toMatchObject({ entry_ns: '1152921504606846976', exit_ns: '1152921504606846981', duration_ns: 5, kernel_stack: null });
  });

  it("marks a sample whose probes warned as incomplete, with that window's warnings", () => {
    const lines: string[] = [];
    const warnings = ['349 measurements were dropped because a syscalls map was full'];
    jsonRenderer(
      manifest.sections,
      (tid) => names[tid],
      (l) => lines.push(l),
      run,
    ).sample(4, { tables: tables(rows.slice(0, 1)), warnings }, dumpMicros, 123);
    const [record] = validNdjson(lines.join('\n'));
    expect(record.data).toMatchObject({ sample: 4, incomplete: true, warnings });
  });

  it('writes u64s as numbers while exact, as decimal strings beyond 2^53 - 1', () => {
    expect([u64(0n), u64(2n ** 53n - 1n), u64(2n ** 53n), u64(2n ** 64n - 1n), u64(42)]).toEqual([0, 9007199254740991, '9007199254740992', '18446744073709551615', 42]);
  });

  it('derives stable keys from headers', () => {
    expect(['TOTAL ns', 'MAX ns', 'VECT_NR', 'SCHED_CNT'].map(columnKey)).toEqual(['total_ns', 'max_ns', 'vect_nr', 'sched_cnt']);
  });
});

describe('text report', () => {
  it("prints an incomplete sample's warnings under its header, and nothing for a complete one", () => {
    const out: string[] = [];
    const renderer = textRenderer(
      manifest.sections,
      (tid) => names[tid] ?? 'x',
      (l) => out.push(l),
      (bytes) => (out.push(Buffer.from(bytes).toString()), true),
    );
    renderer.sample(1, { tables: tables(rows.slice(0, 1)), warnings: [] }, 0, 1);
    expect(out.join('\n')).not.toMatch(/incomplete/);
    out.length = 0;
    renderer.sample(2, { tables: tables(rows.slice(0, 1)), warnings: ['7 measurements were dropped because a syscalls map was full'] }, 0, 1);
    expect(out[0]).toMatch(/^# Sample dump @/);
    expect(out[1]).toBe('# WARNING: incomplete sample: 7 measurements were dropped because a syscalls map was full');
  });

  it('says which sections could not be measured, one line each after the tables, from their title and reason', () => {
    const out: string[] = [];
    const renderer = textRenderer(
      manifest.sections,
      (tid) => names[tid] ?? 'x',
      (l) => out.push(l),
      () => true,
    );
    const notes = [{ section: 'UPCALL STATISTICS', reason: 'the openvswitch kernel module is not loaded' }];
    renderer.sample(1, { tables: tables(rows.slice(0, 1)), warnings: [], notes }, 0, 1);
    expect(out.at(-1)).toBe('\n# UPCALL STATISTICS: not available (the openvswitch kernel module is not loaded)');
  });
});

describe('syscall events table', () => {
  it("matches the reference's layout (test/fixtures/events-layout.txt, from its format strings)", async () => {
    const { formatSyscallEvents } = await import('../../host/report/syscall-events.js');
    const events = [
      {
        entryNs: 2161821694935486n,
        exitNs: 2161821695031201n,
        tid: 3359699,
        name: 'futex',
        kernelFrames: ['do_syscall_64+0x68 [kernel]'],
        userFrames: ['ovs_mutex_lock_at+0x18 [ovs-vswitchd]'],
      },
      { entryNs: 2161821695276882n, exitNs: 2161823695333687n, tid: 3359698, name: 'poll', kernelFrames: [], userFrames: ['[unknown] 0x7f00 (libc.so.6+0x1234)'] },
      { entryNs: 1n, exitNs: 2n, tid: 1, name: 'read' }, // stack lost
    ];
    const comm: Record<number, string> = { 3359699: 'revalidator14', 3359698: 'revalidator13', 1: 'x' };
    const { lines, lostStacks } = formatSyscallEvents(events.slice(0, 2), (tid) => comm[tid], true);
    expect(lines.join('\n')).toBe(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'events-layout.txt'), 'utf8').replace(/\n$/, ''));
    expect(lostStacks).toBe(0);
    expect(formatSyscallEvents(events, (tid) => comm[tid], true).lostStacks).toBe(1);
    expect(formatSyscallEvents(events, (tid) => comm[tid], false).lines).toHaveLength(5 + 3);
  });

  it('prints whichever stack of an event survived, and counts the event as lost, as the reference', async () => {
    const { formatSyscallEvents } = await import('../../host/report/syscall-events.js');
    const halfLost = [{ entryNs: 1n, exitNs: 2n, tid: 1, name: 'read', userFrames: ['main+0x10 [x]'] }];
    const { lines, lostStacks } = formatSyscallEvents(halfLost, () => 'x', true);
    expect(lines.at(-1)).toBe('          main+0x10 [x]');
    expect(lostStacks).toBe(1);
  });

  it('a call that blocked: the switch-out stack, under a line saying so, replaces the exit path; then the user stack', async () => {
    const { formatSyscallEvents } = await import('../../host/report/syscall-events.js');
    const exitPath = ['syscall_exit_work+0xbc [kernel]', 'do_syscall_64+0x243 [kernel]'];
    const waited = ['__schedule+0x628 [kernel]', 'schedule+0x23 [kernel]', 'pipe_read+0x4fa [kernel]'];
    const user = ['wait_pipe+0x18 [w]'];
    const event = { entryNs: 1n, exitNs: 20_001_001n, tid: 1, name: 'read', kernelFrames: exitPath, userFrames: user };
    const twice = formatSyscallEvents([{ ...event, blocked: { ns: 19_999_999n, count: 2, kernelFrames: waited } }], () => 'x', true);
    expect(twice.lines.slice(5)).toEqual([
      expect.stringMatching(/ read$/),
      '          -- blocked 19,999 us off the CPU (longest of 2 times), kernel stack at its switch-out:',
      ...waited.map((f) => `          ${f}`),
      '          wait_pipe+0x18 [w]',
    ]);
    expect(twice.lostStacks).toBe(0);
    const once = formatSyscallEvents([{ ...event, blocked: { ns: 5000n, count: 1, kernelFrames: waited } }], () => 'x', true);
    expect(once.lines[6]).toBe('          -- blocked 5 us off the CPU (once), kernel stack at its switch-out:');
    // Its switch-out stack lost: the exit path as the reference, and the event counts as lost.
    const lost = formatSyscallEvents([{ ...event, blocked: { ns: 5000n, count: 1 } }], () => 'x', true);
    expect(lost.lines.slice(6)).toEqual([...exitPath, ...user].map((f) => `          ${f}`));
    expect(lost.lostStacks).toBe(1);
  });
});
