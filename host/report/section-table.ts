/**
 * The rows of one report section for one sample, stored by column: thread
 * ids and values in typed arrays, labels as shared strings. A 100k-row
 * sample is then a handful of arrays rather than 200k small objects, which
 * kept the garbage collector busier than the work itself.
 */
export class SectionTable {
  count = 0;
  private tidColumn = new Uint32Array(64);
  private labelColumn: (string | undefined)[] = [];
  private valueColumns: Float64Array;

  constructor(
    readonly section: string,
    /** Numbers per row. */
    readonly width: number,
  ) {
    this.valueColumns = new Float64Array(64 * width);
  }

  private reserve(extra: number): void {
    const needed = this.count + extra;
    if (needed <= this.tidColumn.length) return;
    const capacity = Math.max(needed, this.tidColumn.length * 2);
    const tids = new Uint32Array(capacity);
    tids.set(this.tidColumn.subarray(0, this.count));
    const values = new Float64Array(capacity * this.width);
    values.set(this.valueColumns.subarray(0, this.count * this.width));
    this.tidColumn = tids;
    this.valueColumns = values;
  }

  /** Adds one row (tests, small probes). */
  add(tid: number, label: string | undefined, values: ArrayLike<number>): void {
    if (values.length !== this.width) throw new Error(`${this.section}: ${values.length} values for ${this.width} columns`);
    this.reserve(1);
    this.tidColumn[this.count] = tid;
    this.labelColumn[this.count] = label;
    this.valueColumns.set(values, this.count * this.width);
    this.count++;
  }

  /**
   * Appends n rows given as raw guest words: u32 tids, labels, and u64
   * values as little-endian u32 pairs (exact up to 2^53, i.e. 104 days in ns).
   */
  appendWords(n: number, tids: Uint32Array, labels: (string | undefined)[], valueWords: Uint32Array): void {
    this.reserve(n);
    this.tidColumn.set(tids.subarray(0, n), this.count);
    const values = this.valueColumns;
    for (let i = 0, out = this.count * this.width, total = n * this.width; i < total; i++, out++) {
      values[out] = valueWords[2 * i + 1] * 0x1_0000_0000 + valueWords[2 * i];
    }
    for (let i = 0; i < n; i++) this.labelColumn[this.count + i] = labels[i];
    this.count += n;
  }

  tid(row: number): number {
    return this.tidColumn[row];
  }

  label(row: number): string | undefined {
    return this.labelColumn[row];
  }

  value(row: number, column: number): number {
    return this.valueColumns[row * this.width + column];
  }

  /** All values, row-major (row * width + column); for hot loops. */
  get values(): Float64Array {
    return this.valueColumns;
  }

  /** One row as a plain object (JSON output, tests). */
  row(row: number): { tid: number; label: string | undefined; values: number[] } {
    const start = row * this.width;
    return { tid: this.tid(row), label: this.label(row), values: Array.from(this.valueColumns.subarray(start, start + this.width)) };
  }
}

/** All rows of a sample, by section id. */
export type SampleTables = Map<string, SectionTable>;

/** The table for `section` in `tables`, created on first use. */
export function tableFor(tables: SampleTables, section: string, width: number): SectionTable {
  let table = tables.get(section);
  if (!table) tables.set(section, (table = new SectionTable(section, width)));
  return table;
}
