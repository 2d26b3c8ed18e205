/**
 * The recording format without BPF: a sample rendered live and the same
 * sample recorded (report/recording/writer.ts) and rendered again
 * (replay.ts) are the same bytes, text and NDJSON; rendering-only options
 * apply after the fact; folded stacks and diff from recorded data; bad
 * files are one line and their exit code (through the built CLI).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Ajv } from 'ajv';
import { afterAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../host/bundle/manifest.js';
import { jsonRenderer } from '../../host/report/json-renderer.js';
import { textRenderer } from '../../host/report/text-renderer.js';
import { type SampleTables, tableFor } from '../../host/model/section-table.js';
import type { ReportSample } from '../../host/model/sample.js';
import { timestampLine } from '../../host/report/timestamps.js';
import { RecordingWriter } from '../../host/report/recording/writer.js';
import { openRecording } from '../../host/report/recording/reader.js';
import { replay, type ReplayOptions } from '../../host/report/recording/replay.js';
import type { TextLayout } from '../../host/report/text-style.js';
import { collectRecording } from '../../host/report/recording/collect.js';
import { foldedStacks, frameName } from '../../host/report/recording/folded.js';
import { diffRecordings, diffTextLines, matchThreads } from '../../host/report/recording/diff.js';
import { CONTENT_SECURITY_POLICY, esc, htmlReport } from '../../host/report/recording/html.js';
import { UserError } from '../../host/base/exit-codes.js';
import { runKdelay } from '../helpers/kdelay.js';

const probeManifest = (name: string) => parseManifest(readFileSync(join(import.meta.dirname, '..', '..', 'probes', name, 'manifest.json'), 'utf8'), name);
const sections = [...probeManifest('syscalls').sections, ...probeManifest('sched').sections];
const dir = mkdtempSync(join(tmpdir(), 'kdelay-recording-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sampleWith(calls: number, quietThread = false): ReportSample {
  const tables: SampleTables = new Map();
  // A thread that ran but made no system call: the two text layouts print it differently.
  if (quietThread) tableFor(tables, 'run', 4).add(104, undefined, [1, 1_000, 1_000, 1_000]);
  tableFor(tables, 'syscalls', 4).add(101, 'read', [0, calls, calls * 1500, 9000]);
  tableFor(tables, 'syscalls', 4).add(101, 'futex', [202, 7, 70_000_000, 30_000_000]);
  tableFor(tables, 'syscalls', 4).add(102, 'clock_nanosleep', [230, 50, 52_000_000, 1_200_000]);
  tableFor(tables, 'ready', 3).add(101, undefined, [12, 340_000, 90_000]);
  tableFor(tables, 'run', 4).add(102, undefined, [50, 2_000_000, 10_000, 90_000]);
  return {
    tables,
    warnings: [],
    stacks: true,
    exited: new Map([[103, 'leaver']]),
    events: [
      {
        tid: 102,
        name: 'clock_nanosleep',
        nr: 230,
        entryNs: 1000n,
        exitNs: 1_201_000n,
        // It blocked: folded stacks take where (the exit path is the same for every call).
        kernelFrames: ['syscall_exit_work+0xbc [kernel]'],
        userFrames: ['clock_nanosleep+0x4b [libc.so.6]', 'sleeper+0x12 [workload]'],
        blocked: { ns: 1_199_000n, count: 1, kernelFrames: ['do_nanosleep+0x5e [kernel]', 'hrtimer_nanosleep+0x8f [kernel]'] },
      },
      {
        tid: 102,
        name: 'clock_nanosleep',
        nr: 230,
        entryNs: 5000n,
        exitNs: 1_105_000n,
        kernelFrames: ['do_nanosleep+0x5e [kernel]', 'hrtimer_nanosleep+0x8f [kernel]'],
        userFrames: ['clock_nanosleep+0x4b [libc.so.6]', 'sleeper+0x12 [workload]'],
      },
    ],
  };
}
const names: Record<number, string> = { 101: '<img src=x onerror=alert(1)>', 102: 'sleeper' };
const nameOf = (tid: number) => names[tid] ?? `<unknown:100/${tid}>`;
const window = { startNs: 10_000n, stopNs: 500_010_000n, dumpMonotonicNs: 500_200_000n };
const MICROS = 1_764_000_000_123_456;
const recordingSchema = new Ajv({ allErrors: true, strict: false }).compile(
  JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'schema', 'kdelay-recording.schema.json'), 'utf8')),
);

/** Every line of a recording against schema/kdelay-recording.schema.json. */
function expectValidRecording(file: string): void {
  const lines = gunzipSync(readFileSync(file)).toString().split('\n').filter(Boolean);
  expect(JSON.parse(lines[0])).toHaveProperty('kdelay_recording', 1);
  expect(JSON.parse(lines.at(-1)!)).toEqual({ type: 'end' });
  for (const line of lines) expect(recordingSchema(JSON.parse(line)), `${JSON.stringify(recordingSchema.errors)}\n${line.slice(0, 300)}`).toBe(true);
}

/** What the live run printed (text or NDJSON) for one sample, and the recording it wrote beside. */
function liveAndRecorded(file: string, json: boolean, calls = 1000, layout?: TextLayout): string {
  const out: string[] = [];
  const print = (line: string) => out.push(`${line}\n`);
  const write = (bytes: Uint8Array) => (out.push(Buffer.from(bytes).toString()), false);
  const target = { pid: 100, command: 'workload' };
  const live = json ? jsonRenderer(sections, nameOf, print, target) : textRenderer(sections, nameOf, print, write, undefined, layout && { layout, target });
  const writer = new RecordingWriter(file).start(
    {
      kdelay_version: '0.1.0',
      created: new Date(MICROS / 1000).toISOString(),
      host: { kernel: '6.18.0', machine: 'x86_64', hostname: 'test', time_zone: 'UTC' },
      target: { pid: 100, command: 'workload', exe: null },
      options: {
        json,
        ...(layout === 'reference' ? { text_layout: 'reference' as const } : {}),
        verdict: false,
        verdict_only: false,
        histograms: false,
        syscall_events_ns: 0,
        tid: null,
        thread_name: null,
        sample_time: 0.5,
        sample_count: 1,
        start_trigger: null,
        stop_trigger: null,
      },
      argv: ['-p', '100', '-s'],
      sections,
      syscall_names: null,
    },
    nameOf,
  );
  if (!json) print(timestampLine('# Start sampling', MICROS - 500_000));
  writer.progress('# Start sampling', MICROS - 500_000);
  if (json) live.windowOpened?.(1, MICROS - 500_000);
  writer.windowOpened(1, MICROS - 500_000);
  const sample = sampleWith(calls, layout !== undefined);
  writer.sample(1, sample, MICROS, 500_000_000, window);
  live.sample(1, { ...sampleWith(calls, layout !== undefined), window }, MICROS, 500_000_000);
  live.warnings(['something was dropped']);
  writer.warnings(['something was dropped']);
  writer.close();
  return out.join('');
}

async function replayed(file: string, options: ReplayOptions): Promise<string> {
  const out: string[] = [];
  await replay(
    await openRecording(file),
    options,
    (line) => out.push(`${line}\n`),
    (bytes) => (out.push(Buffer.from(bytes).toString()), false),
  );
  return out.join('');
}

describe('recording and replay', () => {
  it('renders text byte for byte as the live run printed it', async () => {
    const file = join(dir, 'text.kdelay');
    const live = liveAndRecorded(file, false);
    expect(live).toContain('# SYSCALL EVENTS:');
    expect(await replayed(file, { json: false })).toBe(live);
    // Gzip pays on repetitive NDJSON: the file starts with its magic.
    expect(readFileSync(file).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expectValidRecording(file);
  });

  it("replays a run in its text layout (--format reference: the reference's), or in the one asked for", async () => {
    const reference = join(dir, 'reference.kdelay');
    const liveReference = liveAndRecorded(reference, false, 1000, 'reference');
    const text = join(dir, 'text-layout.kdelay');
    const liveText = liveAndRecorded(text, false, 1000, 'text');
    expect(liveReference).toMatch(/^ +104 <unknown:100\/104> \[SYSCALL STATISTICS\]\n {28}NAME {17}NUMBER/m);
    expect(liveText).toMatch(/^ +104 <unknown:100\/104> \[SYSCALL STATISTICS\]\n {28}none in this window$/m);
    expect(await replayed(reference, { json: false })).toBe(liveReference);
    expect(await replayed(text, { json: false })).toBe(liveText);
    expect(await replayed(reference, { json: false, layout: 'text' })).toBe(liveText);
    expect(await replayed(text, { json: false, layout: 'reference' })).toBe(liveReference);
    expectValidRecording(reference);
  });

  it('renders NDJSON byte for byte as the live --json run printed it', async () => {
    const file = join(dir, 'json.kdelay');
    const live = liveAndRecorded(file, true);
    expect(await replayed(file, { json: true })).toBe(live);
  });

  it('applies -t and --thread-name after the fact, and refuses what the recording cannot give', async () => {
    const file = join(dir, 'select.kdelay');
    liveAndRecorded(file, false);
    const one = await replayed(file, { json: false, threadName: /^sleep/ });
    expect(one).toContain('sleeper');
    expect(one).not.toContain('onerror');
    const byTid = await replayed(file, { json: false, tid: 101 });
    expect(byTid).toContain('futex');
    expect(byTid).not.toContain('sleeper');
    await expect(replayed(file, { json: false, verdictOnly: true })).rejects.toThrow(/no verdict data/);
  });

  it('folds -s stacks: thread, user frames, kernel frames (where the call blocked, if it did), the call; by count or by time', async () => {
    const file = join(dir, 'folded.kdelay');
    liveAndRecorded(file, false);
    const all = await collectRecording(await openRecording(file), { json: false });
    const events = all.samples.flatMap((s) => (s.sample.events ?? []).map((event) => ({ event, thread: s.nameOf(event.tid) })));
    expect(foldedStacks(events, 'count')).toEqual(['sleeper;sleeper;clock_nanosleep;hrtimer_nanosleep;do_nanosleep;clock_nanosleep 2']);
    expect(foldedStacks(events, 'time')).toEqual(['sleeper;sleeper;clock_nanosleep;hrtimer_nanosleep;do_nanosleep;clock_nanosleep 2300000']);
    expect(frameName('[unknown] 0x7f00 (/usr/lib/libfoo.so+0x1234)')).toBe('[libfoo.so]');
    expect(frameName('[unknown] 0x7f00 (libfoo.so+0x1234; /usr/lib/libfoo.so: deleted)')).toBe('[libfoo.so]');
  });

  it('diffs two recordings: the thread whose calls doubled first', async () => {
    const a = join(dir, 'a.kdelay');
    const b = join(dir, 'b.kdelay');
    liveAndRecorded(a, false, 20_000);
    liveAndRecorded(b, false, 40_000);
    const diff = diffRecordings(await collectRecording(await openRecording(a), { json: false }), await collectRecording(await openRecording(b), { json: false }));
    const lines = diffTextLines(diff, a, b);
    expect(lines[0]).toMatch(/^<img src=x onerror=alert\(1\)> in read \+30\.0 ms \(×2\.0\), calls 20,000 → 40,000 \(×2\.0\)/);
  });
});

describe('diff and HTML, pure', () => {
  const t = (name: string, activityNs: number) => ({ name, activityNs });
  it('matches threads by name (busiest with busiest), then by role, never by TID', () => {
    const pairs = matchThreads([t('handler1', 5), t('worker', 9), t('worker', 1), t('main', 1)], [t('worker', 2), t('handler7', 3), t('worker', 8), t('new', 1)]);
    expect(pairs.map(([a, b]) => `${a?.name}:${a?.activityNs}-${b?.name}:${b?.activityNs}`)).toEqual([
      'worker:9-worker:8',
      'worker:1-worker:2',
      'handler1:5-handler7:3',
      'main:1-undefined:undefined',
      'undefined:undefined-new:1',
    ]);
  });

  it('escapes every string from the recording and admits only its own inline code', async () => {
    const file = join(dir, 'html.kdelay');
    liveAndRecorded(file, false);
    const page = htmlReport(await collectRecording(await openRecording(file), { json: false }));
    expect(page).not.toContain('<img');
    expect(page).toContain(esc(names[101]));
    expect(page).toContain('<svg class="flame"');
    expect(CONTENT_SECURITY_POLICY).toMatch(/^default-src 'none'; style-src 'sha256-[^']+'; script-src 'sha256-[^']+';/);
    expect(page.match(/<script>/g)).toHaveLength(1);
    expect(page.match(/<style>/g)).toHaveLength(1);
  });
});

describe('bad recordings', () => {
  const cases: [string, (file: string) => void, number, RegExp][] = [
    ['missing', () => {}, 66, /no such file/],
    ['garbage', (f) => writeFileSync(f, 'hello\nworld\n'), 65, /not a kdelay recording/],
    [
      'truncated',
      (f) => {
        liveAndRecorded(f, false);
        const bytes = readFileSync(f);
        writeFileSync(f, bytes.subarray(0, bytes.length - 40));
      },
      65,
      /cut short/,
    ],
    ['newer', (f) => writeFileSync(f, gzipSync(JSON.stringify({ kdelay_recording: 2, version: 2, kdelay_version: '9.0.0' }) + '\n')), 65, /newer kdelay .*format 2/],
  ];
  for (const [what, make, code, message] of cases) {
    it(`${what}: one line, exit ${code}`, async () => {
      const file = join(dir, `bad-${what}.kdelay`);
      make(file);
      const r = await runKdelay(['report', file]);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.code).toBe(code);
      // In-process too: a UserError, never another exception.
      await expect(
        (async () => {
          for await (const _ of (await openRecording(file)).records());
        })(),
      ).rejects.toBeInstanceOf(UserError);
    });
  }
});
