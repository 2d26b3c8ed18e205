/**
 * Thread selection (driver/thread-selection.ts): -t, --thread-name and the
 * renumbering into the user's PID namespace, as one step over a sample
 * (rows, histograms, events, exited threads).
 */
import { describe, expect, it } from 'vitest';
import { selectsAll, selectThreads, type ThreadFacts, type ThreadSelection, threadView } from '../../host/driver/thread-selection.js';
import type { CollectedSample } from '../../host/driver/probe-set.js';
import { tableFor } from '../../host/model/section-table.js';

/** Kernel tids 101..105 are the user's 1..5; 106 has exited (no user number, and its name was seen as worker-6). */
const NAMES = new Map([
  [1, 'worker-0'],
  [2, 'worker-1'],
  [3, 'worker-2'],
  [4, 'other'],
  [5, 'main'],
  [106, 'worker-6'],
]);
const facts: ThreadFacts = {
  userTid: (kernelTid) => (kernelTid >= 101 && kernelTid <= 105 ? kernelTid - 100 : undefined),
  name: (tid) => NAMES.get(tid),
};

function sample(): CollectedSample {
  const tables = new Map();
  for (const tid of [101, 102, 103, 104, 105, 106, 107]) {
    tableFor(tables, 'syscalls', 2).add(tid, 'getppid', [tid, 1]);
    tableFor(tables, 'run', 1).add(tid, undefined, [tid]);
  }
  tableFor(tables, 'upcall', 1).add(0, 'ok', [9]);
  const event = (tid: number) => ({
    tid,
    nr: 110,
    name: 'getppid',
    entryNs: 1n,
    exitNs: 2n,
    kernelStackId: -1,
    userStackId: -1,
    blockedNs: 0n,
    blockedStackId: -1,
    blockedCount: 0,
  });
  const histograms = [101, 102, 103, 104, 105, 106, 107].map((tid) => ({ tid, kind: 0, nr: tid, slots: [0, 1] }));
  return { tables, histograms, warnings: [], events: [event(101), event(103), event(107)] };
}

/** The (user) tids left in each section, and in the events. */
function selected(selection: ThreadSelection): Record<string, number[]> {
  const s = selectThreads(sample(), threadView(selection, facts));
  const out: Record<string, number[]> = {};
  for (const [id, table] of s.tables) out[id] = Array.from({ length: table.count }, (_, row) => table.tid(row));
  out.events = s.events!.map((e) => e.tid);
  // Each histogram stays with its thread (nr holds the kernel tid it was made with).
  expect(s.histograms!.map((h) => facts.userTid(h.nr) ?? h.nr)).toEqual(s.histograms!.map((h) => h.tid));
  out.histograms = s.histograms!.map((h) => h.tid);
  return out;
}

describe('thread selection', () => {
  it.each<[string, ThreadSelection, number[], number[]]>([
    ['nothing: every thread, renumbered (gone ones keep the kernel number)', {}, [1, 2, 3, 4, 5, 106, 107], [1, 3, 107]],
    ['-t: that thread only', { kernelTid: 103 }, [3], [3]],
    ['-t of a thread that exited', { kernelTid: 107 }, [107], [107]],
    ['--thread-name, searched (no anchors)', { name: /worker/ }, [1, 2, 3, 106], [1, 3]],
    ['--thread-name, anchored', { name: /^worker-[02]$/ }, [1, 3], [1, 3]],
    ['--thread-name: an exited thread matches by the name last seen; one never seen matches nothing', { name: /^worker-6$/ }, [106], []],
    ['--thread-name with -t: both must hold', { kernelTid: 103, name: /^worker-/ }, [3], [3]],
    ['--thread-name with -t of a thread it does not match: none', { kernelTid: 104, name: /^worker-/ }, [], []],
    ['--thread-name matching no thread: none', { name: /^nope$/ }, [], []],
  ])('%s', (_, selection, tids, events) => {
    const s = selected(selection);
    expect(s.syscalls).toEqual(tids);
    expect(s.run).toEqual(tids);
    expect(s.histograms, '--hist histograms go with their threads').toEqual(tids);
    expect(s.events).toEqual(events);
    expect(s.upcall, 'system scope (tid 0) always stays').toEqual([0]);
  });

  it('keeps every value with its row when rows are left out', () => {
    const s = selectThreads(sample(), threadView({ name: /^worker-[02]$/ }, facts));
    const syscalls = s.tables.get('syscalls')!;
    expect([0, 1].map((row) => syscalls.row(row))).toEqual([
      { tid: 1, label: 'getppid', values: [101, 1] },
      { tid: 3, label: 'getppid', values: [103, 1] },
    ]);
  });

  it('renumbers and selects the threads the kernel saw exit like their rows', () => {
    const exited = (selection: ThreadSelection) => {
      const s = sample();
      s.exited = new Map([
        [102, 'worker-1'],
        [106, 'worker-6'],
        [107, 'x'],
      ]);
      return [...selectThreads(s, threadView(selection, facts)).exited!];
    };
    expect(exited({})).toEqual([
      [2, 'worker-1'],
      [106, 'worker-6'],
      [107, 'x'],
    ]);
    expect(exited({ name: /worker/ })).toEqual([
      [2, 'worker-1'],
      [106, 'worker-6'],
    ]);
  });

  it('asks each thread its number and name once per sample', () => {
    const asked: string[] = [];
    const counting: ThreadFacts = {
      userTid: (k) => (asked.push(`tid ${k}`), facts.userTid(k)),
      name: (t) => (asked.push(`name ${t}`), facts.name(t)),
    };
    selectThreads(sample(), threadView({ name: /worker/ }, counting));
    expect(asked.filter((a) => a === 'tid 101')).toHaveLength(1);
    expect(asked.filter((a) => a === 'name 1')).toHaveLength(1);
  });

  it('says when a selection leaves nothing out', () => {
    expect(selectsAll({})).toBe(true);
    expect(selectsAll({ kernelTid: 3 })).toBe(false);
    expect(selectsAll({ name: /x/ })).toBe(false);
  });
});
