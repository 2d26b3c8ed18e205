/**
 * The order in which a section's rows print: grouped by thread (in thread
 * order), then by the section's sort column, largest first, then by label,
 * then as reported. That is four keys, so rows are sorted by each of them in
 * turn, least significant first, with a stable counting (radix) sort: a few
 * linear passes over typed arrays, where 100k comparator calls (with label
 * string comparisons on ties) took ~25 ms.
 */
import { type Arena, withArena } from '../model/wasm-loops.js';
import type { SectionTable } from '../model/section-table.js';

/** Radix digit: 16 bits, so a 32-bit key takes at most two passes. */
const DIGIT_BITS = 16;
const DIGIT_MASK = (1 << DIGIT_BITS) - 1;

/**
 * Each label id's rank among the table's distinct labels (no label sorts as
 * ""), so that equal texts tie and rows compare labels by number.
 */
function labelRankOfId(table: SectionTable): Uint32Array {
  const labels = table.labels;
  const byText = labels
    .map((_, id) => id)
    .sort((a, b) => {
      const la = labels[a] ?? '';
      const lb = labels[b] ?? '';
      return la < lb ? -1 : la > lb ? 1 : 0;
    });
  const rankOfId = new Uint32Array(labels.length);
  for (let i = 1; i < byText.length; i++) {
    const same = (labels[byText[i]] ?? '') === (labels[byText[i - 1]] ?? '');
    rankOfId[byText[i]] = same ? rankOfId[byText[i - 1]] : i;
  }
  return rankOfId;
}

export interface RowOrder {
  /** Row indexes in print order. */
  order: Uint32Array;
  /** Thread t's rows are order[starts[t]] up to order[starts[t + 1]]. */
  starts: Uint32Array;
}

/**
 * Sorts a section's rows for printing. `threadOfRow[row]` is the row's
 * thread rank, below `threads`; `sortColumn` indexes the table's values
 * (-1: no sort column).
 */
export function rowOrder(table: SectionTable, threadOfRow: Uint32Array, threads: number, sortColumn: number): RowOrder {
  // The passes run in wasm (wasm-loops/report-loops.ts): as JS they ran
  // mostly unoptimised in a CLI run, which sorts once per process.
  return withArena((a) => sortRows(a, table, threadOfRow, threads, sortColumn));
}

function sortRows(a: Arena, table: SectionTable, threadOfRow: Uint32Array, threads: number, sortColumn: number): RowOrder {
  const n = table.count;
  const k = a.loops;
  let sorted = a.alloc(4 * n);
  let spare = a.alloc(4 * n);
  const counts = a.alloc(4 << DIGIT_BITS);
  k.identity(sorted, n);
  /** Stable pass by a 32-bit key, skipping digits where every row is the same (small numbers leave the high digits alike). */
  const byKey = (keys: number) => {
    const differing = k.differing(keys, n);
    for (const shift of [0, DIGIT_BITS]) {
      if (!((differing >>> shift) & DIGIT_MASK)) continue;
      k.radixPass(keys, shift, sorted, spare, n, counts);
      [sorted, spare] = [spare, sorted];
    }
  };
  if (table.labels.length > 1) {
    const ranks = a.alloc(4 * n);
    k.gather(ranks, a.copyU32(table.labelIds.subarray(0, n)), a.copyU32(labelRankOfId(table)), n);
    byKey(ranks);
  }
  if (sortColumn >= 0) {
    // u32 pairs (high, low) that sort ascending where the column sorts
    // descending: integers in [0, 2^53) (all that u64 words give) by their
    // own halves, inverted, so that the high halves of numbers below 2^32 are
    // all alike and their passes skipped; anything else by its IEEE bits with
    // the sign bit flipped (all bits for negatives), which sort like the
    // numbers; -0 counts as 0, as `b - a` does, and NaN as the largest.
    const values = a.copyF64(table.values.subarray(0, n * table.width));
    const high = a.alloc(4 * n);
    const low = a.alloc(4 * n);
    k.descendingKeys(values, table.width, sortColumn, n, high, low);
    byKey(low);
    byKey(high);
  }
  // The thread pass last (most significant), with one bucket per thread,
  // so that its counts are each thread's place in the order.
  const starts = a.alloc(4 * (threads + 1));
  const order = a.alloc(4 * n);
  k.groupByThread(sorted, a.copyU32(threadOfRow.subarray(0, n)), n, threads, starts, a.alloc(4 * threads), order);
  return { order: a.u32(order, n).slice(), starts: a.u32(starts, threads + 1).slice() };
}
