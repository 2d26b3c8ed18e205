/**
 * `kdelay diff A B`: what changed between two recordings, per thread and
 * section, largest first. Threads are matched by name, then by role (the
 * name without its digits: handler3 and handler7 are both handlers), never
 * by TID, which differs between two runs of one program. Every row of a
 * per-thread section becomes an item (a syscall, a run-queue total, an IRQ)
 * with its count and total time summed over the recording's samples; items
 * are ranked by how much of A's window their time moved. Nothing is
 * scaled: a run's work need not grow with its window (a window ended by
 * Ctrl-C or a trigger), so the two windows' lengths are shown beside. Pure.
 */
import { isThreadTable, type SectionSpec } from '../../bundle/manifest.js';
import { withThousands } from '../integers.js';
import { columnKey, jsonRecord, u64 } from '../json-records.js';
import { percentileNs } from '../histograms.js';
import { humanNs } from '../verdict.js';
import type { CollectedRecording } from './collect.js';

/** One thing that was counted, for one thread (or role), in both recordings. */
export interface DiffItem {
  thread: string;
  /** The thread ids in A and B (undefined: not there). */
  tidA?: number;
  tidB?: number;
  section: string;
  title: string;
  /** The row's label (syscall, IRQ name), or undefined for a section with one row per thread. */
  label?: string;
  countA: number;
  countB: number;
  totalNsA: number;
  totalNsB: number;
  deltaNs: number;
  /** |deltaNs| as a share of A's window. */
  share: number;
  text: string;
}

export interface RecordingDiff {
  windowNsA: number;
  windowNsB: number;
  items: DiffItem[];
  /** Run-queue wait percentiles per matched thread, when both recorded --hist. */
  waits: { thread: string; p99A: number; p99B: number }[];
}

interface ThreadTotals {
  tid: number;
  name: string;
  /** "section\0label" -> sums */
  items: Map<string, { section: SectionSpec; label?: string; count: number; totalNs: number }>;
  activityNs: number;
  runQueueHist?: number[];
}

const COUNT_KEY = /(^|_)(count|cnt)$/;

/** Per thread (by the name the report printed, exited mark dropped), every per-thread section's rows summed over the samples. */
function threadTotals(recording: CollectedRecording): ThreadTotals[] {
  const sections = recording.header.sections.filter(isThreadTable);
  const threads = new Map<number, ThreadTotals>();
  for (const s of recording.samples) {
    for (const section of sections) {
      const table = s.sample.tables.get(section.id);
      if (!table) continue;
      const keys = section.columns.map((c) => c.key ?? columnKey(c.header));
      const offset = section.columns[0].format === 'label' ? 1 : 0;
      const countAt = keys.findIndex((k, i) => i >= offset && COUNT_KEY.test(k)) - offset;
      const totalAt = keys.indexOf('total_ns') - offset;
      const averageAt = keys.indexOf('average_ns') - offset;
      for (let row = 0; row < table.count; row++) {
        const tid = table.tid(row);
        const t = threads.get(tid) ?? { tid, name: s.nameOf(tid).replace(/ \(exited\)$/, ''), items: new Map(), activityNs: 0 };
        threads.set(tid, t);
        const label = offset ? table.label(row) : undefined;
        const count = countAt >= 0 ? table.value(row, countAt) : 0;
        const totalNs = totalAt >= 0 ? table.value(row, totalAt) : averageAt >= 0 ? table.value(row, averageAt) * count : 0;
        const key = `${section.id}\0${label ?? ''}`;
        const item = t.items.get(key) ?? { section, label, count: 0, totalNs: 0 };
        item.count += count;
        item.totalNs += totalNs;
        t.items.set(key, item);
        t.activityNs += totalNs;
      }
    }
    for (const a of s.accounts ?? []) {
      const t = threads.get(a.tid);
      if (t && a.runQueueHist) t.runQueueHist = t.runQueueHist ? t.runQueueHist.map((n, i) => n + (a.runQueueHist?.[i] ?? 0)) : [...a.runQueueHist];
    }
  }
  return [...threads.values()];
}

const role = (name: string) => name.replace(/\d+/g, '#');

/** Pairs A's threads with B's: same name first (busiest with busiest), then same role; the rest stand alone. */
export function matchThreads<T extends { name: string; activityNs: number }>(a: T[], b: T[]): [T | undefined, T | undefined][] {
  const pairs: [T | undefined, T | undefined][] = [];
  const byActivity = (x: T, y: T) => y.activityNs - x.activityNs;
  let leftA = [...a].sort(byActivity);
  const leftB = [...b].sort(byActivity);
  for (const keyOf of [(t: T) => t.name, (t: T) => role(t.name)]) {
    const restA: T[] = [];
    for (const ta of leftA) {
      const i = leftB.findIndex((tb) => keyOf(tb) === keyOf(ta));
      if (i < 0) restA.push(ta);
      else pairs.push([ta, leftB.splice(i, 1)[0]]);
    }
    leftA = restA;
  }
  for (const ta of leftA) pairs.push([ta, undefined]);
  for (const tb of leftB) pairs.push([undefined, tb]);
  return pairs;
}

const signedNs = (ns: number) => `${ns >= 0 ? '+' : '-'}${humanNs(Math.abs(ns))}`;

function ratio(a: number, b: number): string {
  if (a === 0) return b === 0 ? '' : 'new';
  if (b === 0) return 'gone';
  const r = b / a;
  return `×${r >= 10 ? r.toFixed(0) : r >= 0.1 ? r.toFixed(1) : r.toFixed(2)}`;
}

/** The sentence for one item: what a person reads as the answer. */
function sentence(i: Omit<DiffItem, 'text' | 'share'>): string {
  const d = signedNs(i.deltaNs);
  const r = ratio(i.totalNsA, i.totalNsB);
  const times = r ? ` (${r})` : '';
  const calls = `${withThousands(Math.round(i.countA))} → ${withThousands(Math.round(i.countB))}`;
  switch (i.section) {
    case 'syscalls':
      return `${i.thread} in ${i.label} ${d}${times}, calls ${calls} (${ratio(i.countA, i.countB) || '='})`;
    case 'ready':
      return `${i.thread} waited for a CPU ${d}${times}, waits ${calls}`;
    case 'run':
      return `${i.thread} ran on a CPU ${d}${times}, stretches ${calls}`;
    case 'partial_run':
      return `${i.thread} ran across the window's edges ${d}${times}`;
    case 'stopped':
      return `${i.thread} was stopped ${d}${times}, stops ${calls}`;
    case 'hardirq':
      return `${i.thread} lost ${d} to hard IRQ ${i.label}${times}, ${calls}`;
    case 'softirq':
      return `${i.thread} lost ${d} to soft IRQ ${i.label}${times}, ${calls}`;
    case 'long_poll':
      return `${i.thread} worked between poll() calls ${d}${times}, intervals ${calls}`;
    default:
      return `${i.thread} ${i.title}${i.label ? ` ${i.label}` : ''} ${d}${times}, ${calls}`;
  }
}

const windowOf = (r: CollectedRecording) => r.samples.reduce((sum, s) => sum + s.windowNs, 0);

export function diffRecordings(a: CollectedRecording, b: CollectedRecording): RecordingDiff {
  const windowNsA = windowOf(a);
  const windowNsB = windowOf(b);
  const items: DiffItem[] = [];
  const waits: RecordingDiff['waits'] = [];
  for (const [ta, tb] of matchThreads(threadTotals(a), threadTotals(b))) {
    const thread = ta?.name ?? tb!.name;
    const keys = new Set([...(ta?.items.keys() ?? []), ...(tb?.items.keys() ?? [])]);
    for (const key of keys) {
      const ia = ta?.items.get(key);
      const ib = tb?.items.get(key);
      const { section, label } = (ia ?? ib)!;
      const countA = ia?.count ?? 0;
      const countB = ib?.count ?? 0;
      const totalNsA = ia?.totalNs ?? 0;
      const totalNsB = ib?.totalNs ?? 0;
      const deltaNs = totalNsB - totalNsA;
      const base = { thread, tidA: ta?.tid, tidB: tb?.tid, section: section.id, title: section.title, label, countA, countB, totalNsA, totalNsB, deltaNs };
      items.push({ ...base, share: windowNsA > 0 ? Math.abs(deltaNs) / windowNsA : 0, text: sentence(base) });
    }
    if (ta?.runQueueHist && tb?.runQueueHist) {
      const p99A = percentileNs(ta.runQueueHist, 0.99);
      const p99B = percentileNs(tb.runQueueHist, 0.99);
      if (p99A !== undefined && p99B !== undefined && p99A !== p99B) waits.push({ thread, p99A, p99B });
    }
  }
  // Largest share of the window first; among equals, the larger change in calls.
  items.sort((x, y) => y.share - x.share || Math.abs(y.countB - y.countA) - Math.abs(x.countB - x.countA));
  return { windowNsA, windowNsB, items, waits };
}

/** Changes smaller than this share of the window are left out of the text (--all shows them). */
export const DIFF_SHOWN_SHARE = 0.001;

const pct = (share: number) => `${(share * 100).toFixed(share >= 0.1 ? 0 : 1)}%`;

export function diffTextLines(diff: RecordingDiff, pathA: string, pathB: string, all = false): string[] {
  const shown = diff.items.filter((i) => all || i.share >= DIFF_SHOWN_SHARE);
  const lines = [shown.length ? `${shown[0].text}: ${pct(shown[0].share)} of the window` : `no change larger than ${pct(DIFF_SHOWN_SHARE)} of the window`];
  lines.push(`# A: ${pathA}, ${humanNs(diff.windowNsA)} of window; B: ${pathB}, ${humanNs(diff.windowNsB)}`);
  if (!shown.length) return lines;
  lines.push(`# ${'CHANGE'.padStart(10)} ${'WINDOW'.padStart(7)}  WHAT`);
  for (const i of shown) lines.push(`  ${signedNs(i.deltaNs).padStart(10)} ${pct(i.share).padStart(7)}  ${i.text}`);
  if (diff.waits.length) {
    lines.push('', '# RUN QUEUE WAITS (p99, from --hist):');
    for (const w of diff.waits) lines.push(`  ${w.thread}: p99 < ${humanNs(w.p99A)} -> < ${humanNs(w.p99B)}`);
  }
  return lines;
}

export function diffJsonLines(diff: RecordingDiff, pathA: string, pathB: string): string[] {
  const headline = diff.items[0] && diff.items[0].share >= DIFF_SHOWN_SHARE ? diff.items[0].text : null;
  return [
    jsonRecord('diff', { a: pathA, b: pathB, window_ns_a: u64(diff.windowNsA), window_ns_b: u64(diff.windowNsB), headline }),
    ...diff.items.map((i) =>
      jsonRecord('diff_change', {
        thread: i.thread,
        tid_a: i.tidA ?? null,
        tid_b: i.tidB ?? null,
        section: i.section,
        label: i.label ?? null,
        count_a: Math.round(i.countA),
        count_b: Math.round(i.countB),
        total_ns_a: u64(Math.round(i.totalNsA)),
        total_ns_b: u64(Math.round(i.totalNsB)),
        delta_ns: Math.round(i.deltaNs),
        window_share: Number(i.share.toFixed(6)),
        text: i.text,
      }),
    ),
    ...diff.waits.map((w) => jsonRecord('diff_wait', { thread: w.thread, run_queue_p99_ns_a: w.p99A, run_queue_p99_ns_b: w.p99B })),
  ];
}
