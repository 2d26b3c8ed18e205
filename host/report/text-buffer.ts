/**
 * A growable byte buffer for laying out large reports without creating a
 * string per cell: numbers are written digit by digit, padding as runs of
 * spaces. 100k rows cost ~100k string fragments otherwise, and garbage
 * collection of those dominated the time to print a big report.
 */
import { integerLength, withThousands, writeIntegerBackwards } from './integers.js';

const SPACE = 0x20;
const NEWLINE = 0x0a;
const UTF8 = new TextEncoder();

export class TextBuffer {
  // Plain indexed writes: Buffer's fill/set/write validate their arguments on
  // every call, which cost more than the writes themselves here.
  private buf = new Uint8Array(1 << 16);
  private length = 0;
  /** Padded bytes of recent left() cells: labels repeat a lot (syscall names). */
  private readonly cells = new Map<number, Map<string, Uint8Array>>();

  /**
   * Appends n bytes of spaces and returns where they start, for callers that
   * lay out fixed-width lines in place (see RowLayout in format.ts). The
   * returned region is valid until the next call.
   */
  claim(n: number): number {
    this.reserve(n);
    const start = this.length;
    this.buf.fill(SPACE, start, start + n);
    this.length += n;
    return start;
  }

  /** Empties the buffer and keeps its room, for the next report. */
  clear(): void {
    this.length = 0;
  }

  /** Drops everything from `length` on (undoes a claim()). */
  truncate(length: number): void {
    this.length = Math.min(this.length, length);
  }

  /** The backing array; only valid until the next call that appends. */
  get array(): Uint8Array {
    return this.buf;
  }

  /** Padded bytes of a left-aligned, cut cell (cached: labels repeat a lot). */
  cellBytes(s: string, width: number): Uint8Array {
    let byText = this.cells.get(width);
    if (!byText) this.cells.set(width, (byText = new Map()));
    let bytes = byText.get(s);
    if (!bytes) {
      const cut = s.length > width ? s.slice(0, width) : s;
      bytes = Buffer.from(cut + ' '.repeat(Math.max(0, width - cut.length)), 'utf8');
      if (byText.size < 4096) byText.set(s, bytes);
    }
    return bytes;
  }

  /** Makes room for n more bytes (callers that know the size avoid regrowth). */
  reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    bigger.set(this.buf.subarray(0, this.length));
    this.buf = bigger;
  }

  /** Appends bytes as they are. */
  append(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** Appends src[start, start + n). */
  appendRange(src: Uint8Array, start: number, n: number): void {
    this.reserve(n);
    const buf = this.buf;
    if (n > 1024) {
      buf.set(src.subarray(start, start + n), this.length);
    } else {
      // A thread's few lines: a loop, not a view per call (garbage for every thread of every sample).
      for (let i = 0; i < n; i++) buf[this.length + i] = src[start + i];
    }
    this.length += n;
  }

  spaces(n: number): void {
    if (n <= 0) return;
    this.reserve(n);
    const buf = this.buf;
    for (let i = 0; i < n; i++) buf[this.length++] = SPACE;
  }

  newline(): void {
    this.reserve(1);
    this.buf[this.length++] = NEWLINE;
  }

  /** Text padded with spaces to `width` characters (not truncated; see left()). */
  text(s: string, width = 0): void {
    this.reserve(s.length * 3);
    if (!this.asciiText(s)) {
      // Native UTF-8 encoding for the rest (and for long lines: a per-character
      // JS loop over the ~2k header and TOTAL lines of a big report ran
      // unoptimised in a one-shot CLI run).
      this.length += UTF8.encodeInto(s, this.buf.subarray(this.length)).written;
    }
    this.spaces(width - s.length);
  }

  /**
   * Writes a short ASCII string byte by byte, without the view encodeInto
   * needs; false (nothing written) for other strings. Headers are written
   * for every thread of every sample, and those views were most of a long
   * run's garbage.
   */
  private asciiText(s: string): boolean {
    if (s.length > 128) return false;
    const buf = this.buf;
    const at = this.length;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return false;
      buf[at + i] = c;
    }
    this.length += s.length;
    return true;
  }

  /** Like Python's '{:W.W}' on a string: left-aligned, cut at width. */
  left(s: string, width: number): void {
    const bytes = this.cellBytes(s, width);
    this.reserve(bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** A non-negative integer right-aligned in width, optionally with thousands separators. */
  integer(n: number, width: number, thousands: boolean): void {
    if (!Number.isSafeInteger(n) || n < 0) {
      // Not expected from probes (u64 counters and durations); stay correct anyway.
      const s = thousands ? withThousands(BigInt(Math.trunc(n))) : String(n);
      this.spaces(width - s.length);
      this.text(s);
      return;
    }
    const len = integerLength(n, thousands);
    this.spaces(width - len);
    this.reserve(len);
    writeIntegerBackwards(this.buf, this.length + len, n, thousands);
    this.length += len;
  }

  /** The text so far (for tests and small reports). */
  toString(): string {
    return Buffer.from(this.buf.buffer, this.buf.byteOffset, this.length).toString('utf8');
  }

  /** The bytes so far, without copying. */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}
