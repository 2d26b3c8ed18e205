/** Catch mode's pure parts: a window as the difference of two snapshots by the manifests' column rules, choosing the snapshots around an interval, and the watch loop with a fake kernel. */
import { describe, expect, it } from 'vitest';
import { type CaughtInterval, runCatchMode, type Snapshot, SnapshotRing, truncatedWarning } from '../../host/driver/catch-mode.js';
import type { WaitOutcome } from '../../host/driver/sampler.js';
import { parseManifest, type SectionSpec } from '../../host/bundle/manifest.js';
import { differenceOfHistograms, differenceOfSamples, mergeSectionTables, unmergeable } from '../../host/report/merge-samples.js';
import type { ReportSample } from '../../host/model/sample.js';
import { SectionTable } from '../../host/model/section-table.js';
import { BUILTIN_PROBES } from '../helpers/bpf.js';
import { readFileSync } from 'node:fs';
import { parseOptions } from '../../host/cli/options.js';
import type { KdelayOptions } from '../../host/driver/options.js';
import { join } from 'node:path';

const SYSCALLS: SectionSpec = {
  id: 'syscalls',
  title: 'SYSCALL STATISTICS',
  order: 100,
  columns: [
    { header: 'NAME', width: 20, gap: 0, format: 'label' },
    { header: 'NUMBER', width: 6, gap: 1, format: 'int', merge: 'key' },
    { header: 'COUNT', width: 10, gap: 2, format: 'int', merge: 'sum' },
    { header: 'TOTAL ns', width: 16, gap: 2, format: 'ns', merge: 'sum' },
    { header: 'MAX ns', width: 16, gap: 2, format: 'ns', merge: 'max' },
  ],
};
const LONG_POLL: SectionSpec = {
  id: 'long_poll',
  title: 'LONG POLL STATISTICS',
  order: 150,
  columns: [
    { header: 'COUNT', width: 10, gap: 0, format: 'int', merge: 'sum' },
    { header: 'AVERAGE ns', width: 16, gap: 2, format: 'ns', merge: 'mean', weight: 0 },
    { header: 'MIN ns', width: 16, gap: 2, format: 'ns', merge: 'min' },
    { header: 'MAX ns', width: 16, gap: 2, format: 'ns', merge: 'max' },
  ],
};

function table(section: SectionSpec, rows: [number, string | undefined, number[]][]): SectionTable {
  const t = new SectionTable(section.id, section.columns.filter((c) => c.format !== 'label').length);
  for (const [tid, label, values] of rows) t.add(tid, label, values);
  return t;
}

const rowsOf = (t: SectionTable) => Array.from({ length: t.count }, (_, i) => t.row(i));

const sampleOf = (section: SectionSpec, t: SectionTable): ReportSample => ({ tables: new Map([[section.id, t]]), warnings: [] });

describe('a caught window: the difference of two snapshots', () => {
  it('counts and totals subtract, per thread, label and key column; rows with nothing new are left out', () => {
    const before = table(SYSCALLS, [
      [10, 'read', [0, 3, 300, 150]],
      [10, 'poll', [7, 2, 50, 40]],
    ]);
    const after = table(SYSCALLS, [
      [10, 'read', [0, 5, 700, 390]],
      [10, 'poll', [7, 2, 50, 40]],
      [11, 'read', [0, 1, 90, 90]],
    ]);
    const d = differenceOfSamples([SYSCALLS], sampleOf(SYSCALLS, before), sampleOf(SYSCALLS, after), []);
    expect(rowsOf(d.tables.get('syscalls')!)).toEqual([
      { tid: 10, label: 'read', values: [0, 2, 400, 390] },
      { tid: 11, label: 'read', values: [0, 1, 90, 90] },
    ]);
    expect(d.notes).toEqual([]);
  });

  it("a snapshot's rows with one identity are added up first (a probe may report a row in parts)", () => {
    const after = table(SYSCALLS, [
      [10, 'read', [0, 3, 300, 150]],
      [10, 'read', [0, 2, 100, 90]],
    ]);
    const d = differenceOfSamples([SYSCALLS], undefined, sampleOf(SYSCALLS, after), []);
    expect(rowsOf(d.tables.get('syscalls')!)).toEqual([{ tid: 10, label: 'read', values: [0, 5, 400, 150] }]);
  });

  it('a mean is recomputed from the weighted sums; an extreme that did not change is the one since watching began, with a note', () => {
    const before = table(LONG_POLL, [[5, undefined, [1, 400, 400, 400]]]);
    const after = table(LONG_POLL, [[5, undefined, [4, 175, 50, 400]]]);
    // (4 x 175 - 1 x 400) / 3 = 100; MIN 50 is new (exact), MAX 400 is not.
    const d = differenceOfSamples([LONG_POLL], sampleOf(LONG_POLL, before), sampleOf(LONG_POLL, after), []);
    expect(rowsOf(d.tables.get('long_poll')!)).toEqual([{ tid: 5, label: undefined, values: [3, 100, 50, 400] }]);
    expect(d.notes).toEqual([{ section: 'LONG POLL STATISTICS', reason: 'where MAX ns did not change in this window, it is the extreme since kdelay began watching' }]);
  });

  it('never below zero: a count a snapshot read twice while the kernel moved it arrives late, not negative', () => {
    const before = table(SYSCALLS, [[10, 'read', [0, 3, 300, 150]]]);
    const after = table(SYSCALLS, [[10, 'read', [0, 2, 200, 150]]]);
    expect(differenceOfSamples([SYSCALLS], sampleOf(SYSCALLS, before), sampleOf(SYSCALLS, after), []).tables.get('syscalls')!.count).toBe(0);
  });

  it('histograms subtract bucket by bucket; warnings and events are those of the snapshots in between', () => {
    expect(
      differenceOfHistograms(
        [{ tid: 1, kind: 1, nr: 0, slots: [1, 2, 0] }],
        [
          { tid: 1, kind: 1, nr: 0, slots: [1, 5, 1] },
          { tid: 2, kind: 1, nr: 0, slots: [0, 0, 0] },
        ],
      ),
    ).toEqual([{ tid: 1, kind: 1, nr: 0, slots: [0, 3, 1] }]);
    const s = (w: string): ReportSample => ({ tables: new Map(), warnings: [w] });
    expect(differenceOfSamples([], s('a'), s('c'), [s('b'), s('c')]).warnings).toEqual(['b', 'c']);
  });

  it('a section whose manifest does not say how a column adds up is left out, with a note', () => {
    const bare: SectionSpec = { ...LONG_POLL, id: 'bare', title: 'BARE', columns: LONG_POLL.columns.map(({ merge: _m, weight: _w, ...c }) => c) };
    expect(unmergeable(bare)).toMatch(/column COUNT/);
    const d = differenceOfSamples([bare], undefined, sampleOf(bare, table(bare, [[1, undefined, [1, 2, 2, 2]]])), []);
    expect(d.tables.size).toBe(0);
    expect(d.notes).toEqual([{ section: 'BARE', reason: 'its manifest does not say how column COUNT adds up across windows' }]);
  });

  it('mergeSectionTables keeps the largest maximum and the smallest minimum, and weights a mean', () => {
    const a = table(LONG_POLL, [[5, undefined, [1, 400, 400, 400]]]);
    const b = table(LONG_POLL, [[5, undefined, [3, 100, 50, 200]]]);
    expect(rowsOf(mergeSectionTables(LONG_POLL, [a, b]))).toEqual([{ tid: 5, label: undefined, values: [4, 175, 50, 400] }]);
  });

  it('every built-in manifest says how each of its number columns merges', () => {
    for (const probe of BUILTIN_PROBES) {
      const manifest = parseManifest(readFileSync(join(import.meta.dirname, '..', '..', 'probes', probe, 'manifest.json'), 'utf8'), probe);
      for (const section of manifest.sections) expect(unmergeable(section), `${probe}: ${section.id}`).toBeUndefined();
    }
  });

  it('the manifest refuses a mean without a summed weight, and a merge on a label', () => {
    const manifest = (columns: unknown[]) => JSON.stringify({ name: 'm', version: '1', abi: 1, sections: [{ id: 's', title: 'S', order: 1, columns }] });
    const col = (extra: object, format = 'int') => ({ header: 'H', width: 5, gap: 0, format, ...extra });
    expect(() => parseManifest(manifest([col({ merge: 'max' }), col({ merge: 'mean', weight: 0 })]), 'x')).toThrow(/weight must be another column merged by sum/);
    expect(() => parseManifest(manifest([col({ merge: 'mean' })]), 'x')).toThrow(/weight/);
    expect(() => parseManifest(manifest([col({ merge: 'key' }, 'label')]), 'x')).toThrow(/label column/);
    expect(() => parseManifest(manifest([col({ merge: 'avg' })]), 'x')).toThrow(/merge must be one of/);
    expect(() => parseManifest(manifest([col({ merge: 'sum' }), col({ merge: 'mean', weight: 0 })]), 'x')).not.toThrow();
  });
});

describe('choosing the snapshots around an interval', () => {
  // Snapshots at 0 (the gate's opening), 100, 200, 300, 400.
  const ring = (keepNs = 1000n) => {
    const r = new SnapshotRing<number>(keepNs);
    for (let i = 0; i < 5; i++) r.push({ atNs: BigInt(i * 100), sample: i });
    return r;
  };
  const around = (r: SnapshotRing<number>, s: number, e: number) => {
    const a = r.around(BigInt(s), BigInt(e));
    return a && { before: a.before.sample, between: a.between.map((x) => x.sample), after: a.after.sample, complete: a.complete };
  };

  it('the last snapshot at or before the start and the first at or after the stop', () => {
    expect(around(ring(), 150, 250)).toEqual({ before: 1, between: [2, 3], after: 3, complete: true });
    expect(around(ring(), 110, 120)).toEqual({ before: 1, between: [2], after: 2, complete: true });
    expect(around(ring(), 100, 200)).toEqual({ before: 1, between: [2], after: 2, complete: true });
  });

  it('not yet: no snapshot at or after the stop', () => {
    expect(around(ring(), 350, 401)).toBeUndefined();
  });

  it('snapshots older than the ring keeps are forgotten, but one at or before its horizon stays; an interval starting before it is incomplete', () => {
    const r = ring(250n);
    expect(r.length).toBe(4); // 100 (at the horizon, 400 - 250 = 150, or before it), 200, 300, 400
    expect(around(r, 150, 390)).toEqual({ before: 1, between: [2, 3, 4], after: 4, complete: true });
    expect(around(r, 50, 390)).toEqual({ before: 1, between: [2, 3, 4], after: 4, complete: false });
  });

  it('keeps one snapshot a second of those older than the dense stretch', () => {
    const SECOND = 1_000_000_000n;
    const r = new SnapshotRing<number>(30n * SECOND, 2n * SECOND);
    // One every 100 ms for 5 s: 0.0 s ... 5.0 s.
    for (let i = 0; i <= 50; i++) r.push({ atNs: (BigInt(i) * SECOND) / 10n, sample: i });
    const kept = (r.around(0n, 5n * SECOND)!.between.map((s) => s.sample) as number[]).concat();
    // 0 (the before), then 10, 20 (the first of seconds 1 and 2), then every one from 3.0 s on.
    expect([0, ...kept]).toEqual([0, 10, 20, ...Array.from({ length: 21 }, (_, i) => 30 + i)]);
    expect(around(r, 1_500_000_000, 4_000_000_000)).toMatchObject({ before: 10, after: 40 });
  });
});

describe('the watch loop', () => {
  function harness(outcomes: WaitOutcome[], catches: CaughtInterval[][]) {
    const events: string[] = [];
    let clock = 0n;
    const source = {
      open: () => (events.push('open'), clock),
      snapshot: (): Snapshot<ReportSample> => {
        clock += 100n;
        events.push(`snapshot ${clock}`);
        return { atNs: clock, sample: { tables: new Map(), warnings: [], notes: [{ section: 'at', reason: `${clock}` }] } };
      },
      caught: () => catches.shift() ?? [],
      difference: (before: Snapshot<ReportSample>, after: Snapshot<ReportSample>) => ({
        tables: new Map(),
        warnings: [],
        notes: [{ section: `${before.atNs}`, reason: `${after.atNs}` }],
      }),
    };
    const io = { nowMicros: () => 0, wait: async () => outcomes.shift() ?? 'elapsed', print: () => undefined };
    const render = {
      watching: () => events.push('watching'),
      caught: (index: number, c: CaughtInterval, sample: ReportSample, window: { startNs: bigint; stopNs: bigint }) =>
        events.push(
          `caught ${index} tid ${c.tid} [${window.startNs},${window.stopNs}] ${sample.notes!.map((n) => `${n.section}-${n.reason}`).join('+')}${sample.warnings.length ? ' truncated' : ''}`,
        ),
      warnings: (w: string[]) => events.push(`warnings ${w.length}`),
    };
    return { events, source, io, render };
  }
  const poll = (tid: number, s: number, e: number): CaughtInterval => ({ kind: 'long_poll', tid, nr: 7, startNs: BigInt(s), stopNs: BigInt(e) });

  it('opens the gate once and announces watching, then reports each catch between the snapshots around it once the later one is taken', async () => {
    // Snapshots at 0 (opening), 100, 200, 300. A catch of thread 7 [50,210] and one of thread 8 [150,180], overlapping, posted before the snapshot at 200.
    const h = harness([], [[], [poll(8, 150, 180), poll(7, 50, 210)], []]);
    await runCatchMode({ sampleCount: 2 }, h.source, h.io, h.render);
    expect(h.events).toEqual([
      'open',
      'watching',
      'snapshot 100',
      'snapshot 200',
      'caught 1 tid 8 [100,200] 100-200',
      'snapshot 300',
      'caught 2 tid 7 [0,300] 0-300',
      'warnings 0',
    ]);
  });

  it('--sample-count N stops after N catches, even when more came at once', async () => {
    const h = harness([], [[poll(1, 10, 20), poll(2, 30, 40), poll(3, 50, 60)]]);
    await runCatchMode({ sampleCount: 2 }, h.source, h.io, h.render);
    expect(h.events.filter((e) => e.startsWith('caught'))).toEqual(['caught 1 tid 1 [0,100] 0-100', 'caught 2 tid 2 [0,100] 0-100']);
  });

  it('Ctrl-C prints nothing more: no catch, no warnings', async () => {
    const h = harness(['elapsed', 'interrupted'], [[], [poll(1, 10, 20)]]);
    expect(await runCatchMode({ sampleCount: Infinity }, h.source, h.io, h.render)).toBe('interrupted');
    expect(h.events.filter((e) => e.startsWith('caught') || e.startsWith('warnings'))).toEqual([]);
  });

  it('an interval older than the snapshots kept is reported from the oldest one, with a warning', async () => {
    const h = harness([], [[], [], [poll(1, 10, 250)]]);
    await runCatchMode({ sampleCount: 1, keepMs: 0 }, h.source, h.io, h.render);
    expect(h.events.filter((e) => e.startsWith('caught'))).toEqual(['caught 1 tid 1 [200,300] 200-300 truncated']);
    expect(truncatedWarning(0)).toMatch(/oldest snapshot kept/);
  });
});

describe('the catch flags', () => {
  const parse = (line: string) => parseOptions(line.split(' ')) as KdelayOptions;

  it('run until Ctrl-C unless --sample-count says how many catches, and bring the verdict', () => {
    expect(parse('--catch-long-poll 500')).toMatchObject({ catchLongPollMs: 500, sampleCount: Infinity, verdict: true });
    expect(parse('--catch-syscall 2.5 --sample-count 3')).toMatchObject({ catchSyscallMs: 2.5, sampleCount: 3, verdict: true });
    expect(parse('--sample-count 3')).toMatchObject({ catchLongPollMs: undefined, sampleCount: 3, verdict: false });
  });

  it('refuse a threshold that is no positive number, and triggers', () => {
    expect(() => parse('--catch-long-poll 0')).toThrow(/positive number of milliseconds/);
    expect(() => parse('--catch-syscall x')).toThrow(/positive number of milliseconds/);
    expect(() => parse('--catch-long-poll 10 --start-trigger t:sched:sched_switch')).toThrow(/take no --start-trigger/);
  });
});
