/**
 * A thread's histograms (--hist) as the text report and the JSON records
 * show them: log2 buckets of nanoseconds, as runqlat prints them, and the
 * percentiles the verdict quotes.
 */
import type { ThreadAccount } from './accounts.js';
import { withThousands } from './integers.js';

/** The upper bound of the bucket holding the p-th quantile (0 < p <= 1), or undefined for no samples. */
export function percentileNs(slots: readonly number[], p: number): number | undefined {
  const total = slots.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const rank = Math.ceil(p * total);
  let seen = 0;
  for (let s = 0; s < slots.length; s++) {
    seen += slots[s];
    if (seen >= rank) return 2 ** (s + 1);
  }
  return 2 ** slots.length;
}

/** The counts of a histogram as `runqlat` prints them (log2 buckets; empty ones at either end left out). */
export function histogramLines(unit: string, slots: readonly number[]): string[] {
  const first = slots.findIndex((count) => count > 0);
  let last = -1;
  slots.forEach((count, s) => count > 0 && (last = s));
  if (last < 0) return [];
  const max = Math.max(...slots);
  const WIDTH = 40;
  const lines = [`${' '.repeat(5)}${unit.padEnd(19)} : count     distribution`];
  // Unlike runqlat, empty buckets below the first used one are left out: in ns there are ten or more.
  for (let s = first; s <= last; s++) {
    const low = s === 0 ? 0 : 2 ** s;
    const high = 2 ** (s + 1) - 1;
    const stars = Math.round((slots[s] * WIDTH) / max);
    lines.push(`${String(low).padStart(10)} -> ${String(high).padEnd(10)} : ${String(slots[s]).padEnd(8)} |${'*'.repeat(stars).padEnd(WIDTH)}|`);
  }
  return lines;
}

/** --hist: each thread's histograms, after the verdict. */
export function histogramBlock(accounts: readonly ThreadAccount[]): string[] {
  const lines: string[] = [];
  for (const t of [...accounts].sort((a, b) => a.tid - b.tid)) {
    const hists: [string, number[]][] = [];
    if (t.runQueueHist) hists.push(['run-queue wait', t.runQueueHist]);
    for (const h of [...(t.syscallHists ?? [])].sort((a, b) => a.nr - b.nr)) hists.push([`${h.syscall} (${h.nr})`, h.slots]);
    if (hists.length === 0) continue;
    lines.push('', `# HISTOGRAMS of ${t.name} [${t.tid}]:`);
    for (const [title, slots] of hists) {
      const total = slots.reduce((a, b) => a + b, 0);
      lines.push('', `  ${title}, ${withThousands(BigInt(total))} in all:`, ...histogramLines('nsecs', slots).map((l) => `  ${l}`));
    }
  }
  return lines;
}

/** The JSON form of a bucket list: only non-empty buckets, with their bounds. */
export function histogramBuckets(slots: readonly number[]): { low_ns: number; high_ns: number; count: number }[] {
  return slots.flatMap((count, s) => (count > 0 ? [{ low_ns: s === 0 ? 0 : 2 ** s, high_ns: 2 ** (s + 1) - 1, count }] : []));
}
