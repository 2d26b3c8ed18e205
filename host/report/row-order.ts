/**
 * The order in which a section's rows print: grouped by thread (in thread
 * order), then by the section's sort column, largest first, then by label,
 * then as reported. That is four keys, so rows are sorted by each of them in
 * turn, least significant first, with a stable counting (radix) sort: a few
 * linear passes over typed arrays, where 100k comparator calls (with label
 * string comparisons on ties) took ~25 ms.
 */
import type { SectionTable } from './section-table.js';

/** Radix digit: 16 bits, so a 32-bit key takes at most two passes. */
const DIGIT_BITS = 16;
const DIGIT_MASK = (1 << DIGIT_BITS) - 1;

/** Reusable scratch for one sort: the two halves of the permutation and a digit histogram. */
class Passes {
  counts = new Uint32Array(1 << DIGIT_BITS);
  constructor(
    public order: Uint32Array,
    private spare: Uint32Array,
  ) {}

  /** Stable pass over `order` by the digit of keys[row] at `shift`. */
  private byDigit(keys: Uint32Array, shift: number): void {
    const counts = this.counts;
    const n = this.order.length;
    counts.fill(0);
    for (let row = 0; row < n; row++) counts[(keys[row] >>> shift) & DIGIT_MASK]++;
    let sum = 0;
    for (let d = 0; d <= DIGIT_MASK; d++) {
      const c = counts[d];
      counts[d] = sum;
      sum += c;
    }
    const from = this.order;
    const to = this.spare;
    for (let i = 0; i < n; i++) {
      const row = from[i];
      to[counts[(keys[row] >>> shift) & DIGIT_MASK]++] = row;
    }
    this.order = to;
    this.spare = from;
  }

  /**
   * Stable pass by a 32-bit key, skipping digits where every row is the same
   * (common: small numbers leave the high digits alike).
   */
  byKey(keys: Uint32Array): void {
    const n = this.order.length;
    let differing = 0;
    for (let row = 1; row < n; row++) differing |= keys[row] ^ keys[0];
    if (differing & DIGIT_MASK) this.byDigit(keys, 0);
    if (differing >>> DIGIT_BITS) this.byDigit(keys, DIGIT_BITS);
  }
}

/**
 * Each row's label as its rank among the table's distinct labels (no label
 * sorts as ""), so that equal texts tie and rows compare labels by number.
 */
function labelRanks(table: SectionTable): Uint32Array {
  const labels = table.labels;
  const byText = labels.map((_, id) => id).sort((a, b) => {
    const la = labels[a] ?? '';
    const lb = labels[b] ?? '';
    return la < lb ? -1 : la > lb ? 1 : 0;
  });
  const rankOfId = new Uint32Array(labels.length);
  for (let i = 1; i < byText.length; i++) {
    const same = (labels[byText[i]] ?? '') === (labels[byText[i - 1]] ?? '');
    rankOfId[byText[i]] = same ? rankOfId[byText[i - 1]] : i;
  }
  const ids = table.labelIds;
  const ranks = new Uint32Array(table.count);
  for (let row = 0; row < table.count; row++) ranks[row] = rankOfId[ids[row]];
  return ranks;
}

/**
 * u32 pairs (high, low) that sort ascending where the column's values sort
 * descending. Columns of integers in [0, 2^53) (all that u64 words give)
 * use the integer's own halves, inverted: the high halves of numbers below
 * 2^32 are then all alike and their passes skipped. Anything else uses the
 * IEEE bits with the sign bit flipped (all bits for negatives), which sort
 * like the numbers; -0 counts as 0, as `b - a` does, and NaN as the largest.
 */
function descendingKeys(table: SectionTable, column: number): { high: Uint32Array; low: Uint32Array } {
  const n = table.count;
  const high = new Uint32Array(n);
  const low = new Uint32Array(n);
  const values = table.values;
  const width = table.width;
  let integers = true;
  for (let row = 0; row < n && integers; row++) {
    const v = values[row * width + column];
    integers = v >= 0 && v < 2 ** 53 && Math.floor(v) === v;
  }
  if (integers) {
    for (let row = 0; row < n; row++) {
      const v = values[row * width + column];
      high[row] = ~Math.floor(v / 0x1_0000_0000);
      low[row] = ~(v >>> 0); // ToUint32 is v modulo 2^32, exact for integers
    }
    return { high, low };
  }
  const scratch = new Float64Array(1);
  const words = new Uint32Array(scratch.buffer);
  for (let row = 0; row < n; row++) {
    scratch[0] = values[row * width + column] + 0; // -0 + 0 is +0
    let hi = words[1];
    let lo = words[0];
    if (hi & 0x8000_0000) {
      hi = ~hi;
      lo = ~lo;
    } else {
      hi |= 0x8000_0000;
    }
    high[row] = ~hi;
    low[row] = ~lo;
  }
  return { high, low };
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
  const n = table.count;
  const identity = new Uint32Array(n);
  for (let i = 0; i < n; i++) identity[i] = i;
  const passes = new Passes(identity, new Uint32Array(n));
  if (table.labels.length > 1) passes.byKey(labelRanks(table));
  if (sortColumn >= 0) {
    const { high, low } = descendingKeys(table, sortColumn);
    passes.byKey(low);
    passes.byKey(high);
  }
  // The thread pass last (most significant), with one bucket per thread,
  // so that its counts are each thread's place in the order.
  const starts = new Uint32Array(threads + 1);
  for (let row = 0; row < n; row++) starts[threadOfRow[row] + 1]++;
  for (let t = 1; t <= threads; t++) starts[t] += starts[t - 1];
  const next = starts.slice(0, threads);
  const order = new Uint32Array(n);
  const sorted = passes.order;
  for (let i = 0; i < n; i++) {
    const row = sorted[i];
    order[next[threadOfRow[row]]++] = row;
  }
  return { order, starts };
}
