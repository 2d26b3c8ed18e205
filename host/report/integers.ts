/**
 * The one integer formatter of the report (in JS; the wasm report loops
 * have their own copy of writeIntegerBackwards, see report-loops.ts):
 * Python's format(n, ',') as a string, and the same digits written straight
 * into a byte buffer for big tables.
 */
const COMMA = 0x2c;
const ZERO = 0x30;

/** Python's format(n, ',') for integers. */
export function withThousands(n: number | bigint): string {
  const text = n.toString();
  const sign = text.startsWith('-') ? '-' : '';
  const digits = text.slice(sign.length);
  const head = digits.length % 3 || 3;
  let out = sign + digits.slice(0, head);
  for (let i = head; i < digits.length; i += 3) out += `,${digits.slice(i, i + 3)}`;
  return out;
}

/** Characters n takes when printed, with or without thousands separators. */
export function integerLength(n: number, thousands: boolean): number {
  let digits = 1;
  for (let v = n; v >= 10; v = Math.floor(v / 10)) digits++;
  return thousands ? digits + Math.floor((digits - 1) / 3) : digits;
}

/**
 * The smallest integer that does not fit in `width` characters, capped at
 * 2^53 (beyond which doubles are not exact integers): integers in [0, limit)
 * can go through writeIntegerBackwards() into a width-wide cell.
 */
export function integerLimit(width: number, thousands: boolean): number {
  let digits = 0;
  while (digits < 16 && digits + 1 + (thousands ? Math.floor(digits / 3) : 0) <= width) digits++;
  return Math.min(10 ** digits, 2 ** 53);
}

/** "000" to "999" in ASCII, three bytes each: numbers are written three digits per step. */
const TRIPLES = new Uint8Array(3000);
for (let i = 0; i < 1000; i++) {
  TRIPLES[3 * i] = ZERO + Math.floor(i / 100);
  TRIPLES[3 * i + 1] = ZERO + (Math.floor(i / 10) % 10);
  TRIPLES[3 * i + 2] = ZERO + (i % 10);
}

/** Writes the three digits of v (0-999, zero-padded) to buf[pos, pos + 3). */
function writeTriple(buf: Uint8Array, pos: number, v: number): void {
  buf[pos] = TRIPLES[3 * v];
  buf[pos + 1] = TRIPLES[3 * v + 1];
  buf[pos + 2] = TRIPLES[3 * v + 2];
}

/** Writes v (an integer below 10^9) so that its last digit is at end-1; returns where it starts. */
function writeSmall(buf: Uint8Array, end: number, v: number, thousands: boolean): number {
  let pos = end;
  // `| 0`: int32 arithmetic, where division by a constant is a multiplication.
  v |= 0;
  while (v >= 1000) {
    const q = (v / 1000) | 0;
    pos -= 3;
    writeTriple(buf, pos, v - q * 1000);
    if (thousands) buf[--pos] = COMMA;
    v = q;
  }
  if (v >= 100) {
    pos -= 3;
    writeTriple(buf, pos, v);
  } else if (v >= 10) {
    buf[--pos] = TRIPLES[3 * v + 2];
    buf[--pos] = TRIPLES[3 * v + 1];
  } else {
    buf[--pos] = ZERO + v;
  }
  return pos;
}

/**
 * Writes n, an integer in [0, 2^53), so that its last digit is at end-1,
 * with thousands separators if asked. Numbers of 10 digits or more (totals
 * in ns) are split at 10^9 so that each part fits int32 arithmetic.
 */
export function writeIntegerBackwards(buf: Uint8Array, end: number, n: number, thousands: boolean): void {
  if (n < 1e9) {
    writeSmall(buf, end, n, thousands);
    return;
  }
  let high = Math.floor(n / 1e9);
  let low = n - high * 1e9; // exact: both terms are integers below 2^53
  if (low < 0) {
    // n / 1e9 rounded up to the next integer (possible just below a multiple of 10^9).
    high--;
    low += 1e9;
  }
  let pos = end;
  let v = low | 0;
  for (let group = 0; group < 3; group++) {
    const q = (v / 1000) | 0;
    pos -= 3;
    writeTriple(buf, pos, v - q * 1000);
    if (thousands) buf[--pos] = COMMA;
    v = q;
  }
  writeSmall(buf, pos, high, thousands);
}
