// AssemblyScript (compiled by asc into dist/report-loops.wasm by
// scripts/bundle-cli.mjs; excluded from tsc). The per-row loops of reading
// and laying out a report. A CLI run formats once per process, and as JS
// these loops ran mostly before TurboFan had optimised them (a 100k-row
// report took ~2.5x its steady-state time); wasm is compiled before it runs.
// Memory is managed by the host (host/model/wasm-loops.ts): every argument is
// a byte offset into this module's memory, arrays are little-endian.

const SPACE: u8 = 0x20;
const COMMA: u8 = 0x2c;
const ZERO: u8 = 0x30;
const NEWLINE: u8 = 0x0a;

/** "000" to "999", three bytes each. */
const TRIPLES = memory.data(3000);
for (let i: u32 = 0; i < 1000; i++) {
  store<u8>(TRIPLES + 3 * i, ZERO + <u8>(i / 100));
  store<u8>(TRIPLES + 3 * i + 1, ZERO + <u8>((i / 10) % 10));
  store<u8>(TRIPLES + 3 * i + 2, ZERO + <u8>(i % 10));
}

/** Where the host may start allocating. */
export function heapBase(): usize {
  return (__heap_base + 15) & ~15;
}

/** v / 1000 for any u32, as a multiplication (Liftoff, the first tier, divides for real). */
// @ts-ignore: decorator
@inline function div1000(v: u32): u32 {
  return <u32>((<u64>v * 0x10624dd3) >> 38);
}

// @ts-ignore: decorator
@inline function writeTriple(pos: usize, v: u32): void {
  const t = TRIPLES + 3 * v;
  store<u16>(pos, load<u16>(t));
  store<u8>(pos, load<u8>(t, 2), 2);
}

/** Writes v so that its last digit is at end - 1; returns where it starts. */
function writeSmall(end: usize, v: u32, thousands: bool): usize {
  let pos = end;
  while (v >= 1000) {
    const q = div1000(v);
    pos -= 3;
    writeTriple(pos, v - q * 1000);
    if (thousands) store<u8>(--pos, COMMA);
    v = q;
  }
  if (v >= 100) {
    pos -= 3;
    writeTriple(pos, v);
  } else if (v >= 10) {
    pos -= 2;
    store<u8>(pos, load<u8>(TRIPLES + 3 * v + 1));
    store<u8>(pos, load<u8>(TRIPLES + 3 * v + 2), 1);
  } else {
    store<u8>(--pos, ZERO + <u8>v);
  }
  return pos;
}

/**
 * Writes n (an integer below 2^53) so that its last digit is at end - 1, as
 * integers.ts writeIntegerBackwards does. A copy, not an import: it runs in
 * the wasm report loops, writing into their own linear memory row by row,
 * where a call out to JS per number would cost the boundary crossing the
 * kernels exist to avoid.
 */
function writeInteger(end: usize, n: u64, thousands: bool): void {
  if (n < 1_000_000_000) {
    writeSmall(end, <u32>n, thousands);
    return;
  }
  const high = n / 1_000_000_000;
  let v = <u32>(n - high * 1_000_000_000);
  let pos = end;
  for (let group = 0; group < 3; group++) {
    const q = div1000(v);
    pos -= 3;
    writeTriple(pos, v - q * 1000);
    if (thousands) store<u8>(--pos, COMMA);
    v = q;
  }
  if (high < 0x1_0000_0000) {
    writeSmall(pos, <u32>high, thousands);
  } else {
    // Not reached for n < 2^53 (high < 2^24), kept total anyway.
    writeInteger(pos, high, thousands);
  }
}

/**
 * Lays out rows order[0, n) as fixed-width lines of lineWidth characters and
 * a newline each, at out. A row that does not fit (label not ASCII, a value
 * not an integer in [0, its column's limit)) gets unfit[k] = 1 and a line of
 * junk; returns how many did not fit.
 *
 *   values: f64[rows * width]; labelIds: u32[rows];
 *   labelCells: per label id (offset, length) of its ASCII bytes cut to the
 *     label column, length 0xffffffff when not ASCII; unused if labelWidth is 0;
 *   columns: per value column (end: u32, thousands: u32, limit: f64), end
 *     being where its last digit goes, relative to the line.
 */
export function layoutLines(
  order: usize, n: u32, values: usize, width: u32, labelIds: usize, labelCells: usize,
  columns: usize, columnCount: u32, lineWidth: u32, labelAt: u32, labelWidth: u32, out: usize, unfit: usize,
): u32 {
  const stride = lineWidth + 1;
  memory.fill(out, SPACE, <usize>n * stride);
  memory.fill(unfit, 0, n);
  let misfits: u32 = 0;
  for (let k: u32 = 0; k < n; k++) {
    const row = load<u32>(order + (<usize>k << 2));
    const line = out + <usize>k * stride;
    store<u8>(line + lineWidth, NEWLINE);
    let fits = true;
    if (labelWidth) {
      const cell = labelCells + (<usize>load<u32>(labelIds + (<usize>row << 2)) << 3);
      const length = load<u32>(cell, 4);
      if (length == 0xffffffff) fits = false;
      else memory.copy(line + labelAt, load<u32>(cell), length);
    }
    const base = values + (<usize>row * width << 3);
    for (let i: u32 = 0; i < columnCount && fits; i++) {
      const column = columns + (<usize>i << 4);
      const v = load<f64>(base + (<usize>i << 3));
      // Integers in [0, limit), limit <= 2^53; the signed truncation is
      // inline code in Liftoff, where Math.floor and the unsigned one are not.
      if (!(v >= 0 && v < load<f64>(column, 8) && <f64><i64>v == v)) {
        fits = false;
        break;
      }
      writeInteger(line + load<u32>(column), <u64><i64>v, load<u32>(column, 4) != 0);
    }
    if (!fits) {
      store<u8>(unfit + k, 1);
      misfits++;
    }
  }
  return misfits;
}

/**
 * Numbers the distinct u32 keys[0, n) 0, 1, 2, ... in order of first
 * appearance: ids[i] is key i's number, distinct[] the keys by number.
 * table: 2^bits (key, number + 1) u32 pairs, zeroed, 2^bits > n.
 * Returns how many distinct keys there were.
 */
export function firstSeenIds(keys: usize, n: u32, table: usize, bits: u32, ids: usize, distinct: usize): u32 {
  const mask: u32 = (1 << bits) - 1;
  let seen: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const key = load<u32>(keys + (<usize>i << 2));
    let slot = (key * 0x9e3779b1) >>> (32 - bits);
    while (true) {
      const entry = table + (<usize>slot << 3);
      const numberPlusOne = load<u32>(entry, 4);
      if (numberPlusOne == 0) {
        store<u32>(entry, key);
        store<u32>(entry, seen + 1, 4);
        store<u32>(distinct + (<usize>seen << 2), key);
        store<u32>(ids + (<usize>i << 2), seen);
        seen++;
        break;
      }
      if (load<u32>(entry) == key) {
        store<u32>(ids + (<usize>i << 2), numberPlusOne - 1);
        break;
      }
      slot = (slot + 1) & mask;
    }
  }
  return seen;
}

/** dst[i] = lookup[index[i]] for u32 arrays. */
export function gather(dst: usize, index: usize, lookup: usize, n: u32): void {
  for (let i: u32 = 0; i < n; i++) {
    store<u32>(dst + (<usize>i << 2), load<u32>(lookup + (<usize>load<u32>(index + (<usize>i << 2)) << 2)));
  }
}

/** u64 words to f64 (rounded to nearest above 2^53, as hi * 2^32 + lo is in JS). */
export function wordsToF64(src: usize, dst: usize, n: u32): void {
  for (let i: u32 = 0; i < n; i++) {
    const at = <usize>i << 3;
    store<f64>(dst + at, <f64>load<u64>(src + at));
  }
}

/** dst[i] = i. */
export function identity(dst: usize, n: u32): void {
  for (let i: u32 = 0; i < n; i++) store<u32>(dst + (<usize>i << 2), i);
}

/** The bits in which keys[0, n) differ from keys[0]. */
export function differing(keys: usize, n: u32): u32 {
  let bits: u32 = 0;
  if (n == 0) return 0;
  const first = load<u32>(keys);
  for (let i: u32 = 1; i < n; i++) bits |= load<u32>(keys + (<usize>i << 2)) ^ first;
  return bits;
}

/** Stable counting-sort pass of from[0, n) into to by the 16-bit digit of keys[row] at shift; counts: u32[65536]. */
export function radixPass(keys: usize, shift: u32, from: usize, to: usize, n: u32, counts: usize): void {
  memory.fill(counts, 0, 65536 << 2);
  for (let row: u32 = 0; row < n; row++) {
    const at = counts + (<usize>((load<u32>(keys + (<usize>row << 2)) >>> shift) & 0xffff) << 2);
    store<u32>(at, load<u32>(at) + 1);
  }
  let sum: u32 = 0;
  for (let d: u32 = 0; d < 65536; d++) {
    const at = counts + (<usize>d << 2);
    const c = load<u32>(at);
    store<u32>(at, sum);
    sum += c;
  }
  for (let i: u32 = 0; i < n; i++) {
    const row = load<u32>(from + (<usize>i << 2));
    const at = counts + (<usize>((load<u32>(keys + (<usize>row << 2)) >>> shift) & 0xffff) << 2);
    const place = load<u32>(at);
    store<u32>(at, place + 1);
    store<u32>(to + (<usize>place << 2), row);
  }
}

/**
 * u32 pairs (high, low) that sort ascending where values[row * width +
 * column] sort descending; row-order.ts explains the two encodings
 * (integers below 2^53 by their halves, anything else by IEEE bits).
 */
export function descendingKeys(values: usize, width: u32, column: u32, n: u32, high: usize, low: usize): void {
  let integers = true;
  for (let row: u32 = 0; row < n && integers; row++) {
    const v = load<f64>(values + ((<usize>row * width + column) << 3));
    integers = v >= 0 && v < 9007199254740992.0 && <f64><i64>v == v; // see layoutLines
  }
  for (let row: u32 = 0; row < n; row++) {
    const v = load<f64>(values + ((<usize>row * width + column) << 3));
    let hi: u32, lo: u32;
    if (integers) {
      const u = <u64><i64>v;
      hi = <u32>(u >> 32);
      lo = <u32>u;
    } else {
      // -0 + 0 is +0; every NaN as the one NaN JS stores.
      const bits = v != v ? 0x7ff8000000000000 : reinterpret<u64>(v + 0);
      hi = <u32>(bits >> 32);
      lo = <u32>bits;
      if (hi & 0x80000000) {
        hi = ~hi;
        lo = ~lo;
      } else {
        hi |= 0x80000000;
      }
    }
    store<u32>(high + (<usize>row << 2), ~hi);
    store<u32>(low + (<usize>row << 2), ~lo);
  }
}

/**
 * The last, most significant pass: rows of sorted[0, n) into order, grouped
 * by threadOfRow[row] (below threads), keeping their order within a thread.
 * starts: u32[threads + 1], thread t's rows are order[starts[t], starts[t + 1]);
 * next: u32[threads] scratch.
 */
export function groupByThread(sorted: usize, threadOfRow: usize, n: u32, threads: u32, starts: usize, next: usize, order: usize): void {
  memory.fill(starts, 0, (<usize>threads + 1) << 2);
  for (let row: u32 = 0; row < n; row++) {
    const at = starts + ((<usize>load<u32>(threadOfRow + (<usize>row << 2)) + 1) << 2);
    store<u32>(at, load<u32>(at) + 1);
  }
  for (let t: u32 = 1; t <= threads; t++) {
    const at = starts + (<usize>t << 2);
    store<u32>(at, load<u32>(at) + load<u32>(at - 4));
  }
  memory.copy(next, starts, <usize>threads << 2);
  for (let i: u32 = 0; i < n; i++) {
    const row = load<u32>(sorted + (<usize>i << 2));
    const at = next + (<usize>load<u32>(threadOfRow + (<usize>row << 2)) << 2);
    const place = load<u32>(at);
    store<u32>(at, place + 1);
    store<u32>(order + (<usize>place << 2), row);
  }
}

/**
 * Per thread t, the TOTAL line's sums over rows order[starts[t], starts[t + 1]),
 * in that order (so that rounding matches a plain loop): rows whose label id
 * is excluded are skipped; value column valueIndexes[j] adds into slot
 * slots[j] of sums[t * slotCount ...] (f64).
 */
export function threadSums(
  order: usize, starts: usize, threads: u32, values: usize, width: u32, labelIds: usize, excluded: usize,
  valueIndexes: usize, slots: usize, slotCount: u32, sums: usize,
): void {
  memory.fill(sums, 0, (<usize>threads * slotCount) << 3);
  for (let t: u32 = 0; t < threads; t++) {
    const to = load<u32>(starts + ((<usize>t + 1) << 2));
    const sum = sums + ((<usize>t * slotCount) << 3);
    for (let k = load<u32>(starts + (<usize>t << 2)); k < to; k++) {
      const row = load<u32>(order + (<usize>k << 2));
      if (load<u8>(excluded + load<u32>(labelIds + (<usize>row << 2)))) continue;
      const base = values + (<usize>row * width << 3);
      for (let j: u32 = 0; j < slotCount; j++) {
        const at = sum + (<usize>load<u32>(slots + (<usize>j << 2)) << 3);
        store<f64>(at, load<f64>(at) + load<f64>(base + (<usize>load<u32>(valueIndexes + (<usize>j << 2)) << 3)));
      }
    }
  }
}
