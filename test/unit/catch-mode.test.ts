/** Catch mode's pure parts: merging slices by the manifests' column rules, choosing the slices that cover an interval, and the watch loop with a fake kernel. */
import { describe, expect, it } from 'vitest';
import { type CaughtInterval, runCatchMode, SliceRing, truncatedWarning } from '../../host/driver/catch-mode.js';
import type { WaitOutcome } from '../../host/driver/sampler.js';
import { parseManifest, type SectionSpec } from '../../host/bundle/manifest.js';
import { mergeSamples, mergeSectionTables, unmergeable } from '../../host/report/merge-samples.js';
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

describe('merging slices', () => {
  it('adds counts and totals, keeps the largest maximum and smallest minimum, per thread, label and key column', () => {
    const a = table(SYSCALLS, [
      [10, 'read', [0, 3, 300, 150]],
      [10, 'poll', [7, 2, 50, 40]],
      [11, 'read', [0, 1, 90, 90]],
    ]);
    const b = table(SYSCALLS, [
      [10, 'read', [0, 2, 400, 390]],
      [11, 'read', [0, 4, 40, 20]],
      [10, 'write', [1, 1, 5, 5]],
    ]);
    expect(rowsOf(mergeSectionTables(SYSCALLS, [a, b]))).toEqual([
      { tid: 10, label: 'read', values: [0, 5, 700, 390] },
      { tid: 10, label: 'poll', values: [7, 2, 50, 40] },
      { tid: 11, label: 'read', values: [0, 5, 130, 90] },
      { tid: 10, label: 'write', values: [1, 1, 5, 5] },
    ]);
  });

  it('a mean is weighted by the column it names: LONG POLL averages over all intervals', () => {
    const a = table(LONG_POLL, [[5, undefined, [1, 400, 400, 400]]]);
    const b = table(LONG_POLL, [[5, undefined, [3, 100, 50, 200]]]);
    // (1 x 400 + 3 x 100) / 4 = 175
    expect(rowsOf(mergeSectionTables(LONG_POLL, [a, b]))).toEqual([{ tid: 5, label: undefined, values: [4, 175, 50, 400] }]);
  });

  it('a section whose manifest does not say how a column merges is left out, with a note', () => {
    const bare: SectionSpec = { ...LONG_POLL, id: 'bare', title: 'BARE', columns: LONG_POLL.columns.map(({ merge: _m, weight: _w, ...c }) => c) };
    expect(unmergeable(bare)).toMatch(/column COUNT/);
    const slice = (): ReportSample => ({ tables: new Map([['bare', table(bare, [[1, undefined, [1, 2, 2, 2]]])]]), warnings: ['w'], notes: [{ section: 'X', reason: 'y' }] });
    const merged = mergeSamples([bare], [slice(), slice()]);
    expect(merged.tables.size).toBe(0);
    expect(merged.notes).toEqual([
      { section: 'X', reason: 'y' },
      { section: 'BARE', reason: 'its manifest does not say how column COUNT adds up across windows' },
    ]);
    expect(merged.warnings).toEqual(['w', 'w']);
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

describe('choosing the slices that cover an interval', () => {
  // Slices of 100 ns with a gap of 2 ns between them: [0,100] [102,202] [204,304] ...
  const ring = () => {
    const r = new SliceRing<number>(1000n);
    for (let i = 0; i < 5; i++) r.push({ startNs: BigInt(i * 102), stopNs: BigInt(i * 102 + 100), sample: i });
    return r;
  };
  const covered = (r: SliceRing<number>, s: number, e: number) => {
    const c = r.cover(BigInt(s), BigInt(e));
    return c && { samples: c.slices.map((x) => x.sample), complete: c.complete };
  };

  it('from the slice holding the start to the slice holding the stop', () => {
    expect(covered(ring(), 150, 250)).toEqual({ samples: [1, 2], complete: true });
    expect(covered(ring(), 110, 120)).toEqual({ samples: [1], complete: true });
    expect(covered(ring(), 0, 508)).toEqual({ samples: [0, 1, 2, 3, 4], complete: true });
  });

  it('an edge in a gap between slices: the slice before the start, the slice after the stop', () => {
    expect(covered(ring(), 101, 203)).toEqual({ samples: [0, 1, 2], complete: true });
  });

  it('not yet: no slice has ended at the stop', () => {
    expect(covered(ring(), 400, 509)).toBeUndefined();
  });

  it('slices older than the ring keeps are forgotten; an interval starting before them is incomplete', () => {
    const r = new SliceRing<number>(250n);
    for (let i = 0; i < 5; i++) r.push({ startNs: BigInt(i * 102), stopNs: BigInt(i * 102 + 100), sample: i });
    expect(r.length).toBe(3); // stops 304, 406, 508: within 250 of 508
    expect(covered(r, 150, 500)).toEqual({ samples: [2, 3, 4], complete: false });
  });
});

describe('the watch loop', () => {
  function harness(outcomes: WaitOutcome[], catches: CaughtInterval[][]) {
    const events: string[] = [];
    let slice = 0;
    let clock = 0n;
    const source = {
      open: () => events.push('open'),
      close: () => {
        events.push('close');
        const edges = { startNs: clock, stopNs: clock + 100n };
        clock += 102n;
        return edges;
      },
      collect: (): ReportSample => ({ tables: new Map(), warnings: [], notes: [{ section: 'slice', reason: `${++slice}` }] }),
      reset: () => events.push('reset'),
      caught: () => catches.shift() ?? [],
      merge: (samples: ReportSample[]) => ({ tables: new Map(), warnings: [], notes: samples.flatMap((s) => s.notes ?? []) }),
    };
    const io = { nowMicros: () => 0, wait: async () => outcomes.shift() ?? 'elapsed', print: () => undefined };
    const render = {
      watching: () => events.push('watching'),
      caught: (index: number, c: CaughtInterval, sample: ReportSample, window: { startNs: bigint; stopNs: bigint }, measuredNs: number) =>
        events.push(
          `caught ${index} tid ${c.tid} [${window.startNs},${window.stopNs}] ${measuredNs} ${sample.notes!.map((n) => `${n.section} ${n.reason}`).join('+')}${sample.warnings.length ? ' truncated' : ''}`,
        ),
      warnings: (w: string[]) => events.push(`warnings ${w.length}`),
    };
    return { events, source, io, render };
  }
  const poll = (tid: number, s: number, e: number): CaughtInterval => ({ kind: 'long_poll', tid, nr: 7, startNs: BigInt(s), stopNs: BigInt(e) });

  it('announces watching once the first slice is open, and reports each catch over the slices that cover it, once they have closed', async () => {
    // Slice 1 [0,100], 2 [102,202], 3 [204,304]. A catch of thread 7 [50,210] and one of thread 8 [150,180], overlapping.
    const h = harness([], [[], [poll(8, 150, 180), poll(7, 50, 210)], []]);
    await runCatchMode({ sampleCount: 2 }, h.source, h.io, h.render);
    expect(h.events).toEqual([
      'open',
      'watching',
      'close',
      'reset',
      'open',
      'close',
      'reset',
      'open',
      'caught 1 tid 8 [102,202] 100 slice 2',
      'close',
      'reset',
      'open',
      'caught 2 tid 7 [0,304] 300 slice 1+slice 2+slice 3',
      'warnings 0',
    ]);
  });

  it('--sample-count N stops after N catches, even when more came at once', async () => {
    const h = harness([], [[poll(1, 10, 20), poll(2, 30, 40), poll(3, 50, 60)]]);
    await runCatchMode({ sampleCount: 2 }, h.source, h.io, h.render);
    expect(h.events.filter((e) => e.startsWith('caught'))).toEqual(['caught 1 tid 1 [0,100] 100 slice 1', 'caught 2 tid 2 [0,100] 100 slice 1']);
  });

  it('Ctrl-C prints nothing more: no catch, no warnings', async () => {
    const h = harness(['elapsed', 'interrupted'], [[], [poll(1, 10, 20)]]);
    expect(await runCatchMode({ sampleCount: Infinity }, h.source, h.io, h.render)).toBe('interrupted');
    expect(h.events.filter((e) => e.startsWith('caught') || e.startsWith('warnings'))).toEqual([]);
  });

  it('an interval older than the slices kept is reported from the oldest one, with a warning', async () => {
    const h = harness([], [[], [], [poll(1, 10, 250)]]);
    await runCatchMode({ sampleCount: 1, keepMs: 0 }, h.source, h.io, h.render);
    expect(h.events.filter((e) => e.startsWith('caught'))).toEqual(['caught 1 tid 1 [204,304] 100 slice 3 truncated']);
    expect(truncatedWarning(0)).toMatch(/oldest slice kept/);
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
