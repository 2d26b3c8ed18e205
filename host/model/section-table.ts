import { gather, wordsToF64 } from './wasm-loops.js';

/**
 * The rows of one report section for one sample, stored by column: thread
 * ids and values in typed arrays, labels as small ids into a list of the
 * distinct label strings. A 100k-row sample is then a handful of arrays
 * rather than 200k small objects, which kept the garbage collector busier
 * than the work itself; and the formatter sorts, totals and lays out labels
 * per distinct label (a few hundred syscall names), not per row.
 */
export class SectionTable {
  count = 0;
  private tidColumn = new Uint32Array(64);
  private labelIdColumn = new Uint32Array(64);
  /** Distinct labels by id; id 0 is "no label". */
  private readonly labelList: (string | undefined)[] = [undefined];
  private readonly labelIdOf = new Map<string, number>();
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
    const labelIds = new Uint32Array(capacity);
    labelIds.set(this.labelIdColumn.subarray(0, this.count));
    const values = new Float64Array(capacity * this.width);
    values.set(this.valueColumns.subarray(0, this.count * this.width));
    this.tidColumn = tids;
    this.labelIdColumn = labelIds;
    this.valueColumns = values;
  }

  /** The id of a label in this table, assigned on first use. */
  private internLabel(label: string | undefined): number {
    if (label === undefined) return 0;
    let id = this.labelIdOf.get(label);
    if (id === undefined) {
      id = this.labelList.length;
      this.labelList.push(label);
      this.labelIdOf.set(label, id);
    }
    return id;
  }

  /** Adds one row (tests, small probes). */
  add(tid: number, label: string | undefined, values: ArrayLike<number>): void {
    if (values.length !== this.width) throw new Error(`${this.section}: ${values.length} values for ${this.width} columns`);
    this.reserve(1);
    this.tidColumn[this.count] = tid;
    this.labelIdColumn[this.count] = this.internLabel(label);
    this.valueColumns.set(values, this.count * this.width);
    this.count++;
  }

  /**
   * Appends n rows given as raw guest words: u32 tids, per-row indexes into
   * `labels` (the batch's distinct labels), and u64 values as little-endian
   * u32 pairs (exact up to 2^53, i.e. 104 days in ns). The arrays may be
   * views of guest memory: they are read here and not kept.
   */
  appendWords(n: number, tids: Uint32Array, labelIndexes: Uint32Array, labels: readonly (string | undefined)[], valueWords: Uint32Array): void {
    this.reserve(n);
    this.tidColumn.set(tids.subarray(0, n), this.count);
    const ids = new Uint32Array(labels.length);
    for (let j = 0; j < labels.length; j++) ids[j] = this.internLabel(labels[j]);
    // The per-row loops in wasm (wasm-loops.ts): as JS they ran mostly
    // unoptimised in a CLI run, which reads once per process.
    this.labelIdColumn.set(gather(labelIndexes.subarray(0, n), ids), this.count);
    wordsToF64(valueWords.subarray(0, 2 * n * this.width), this.valueColumns.subarray(this.count * this.width));
    this.count += n;
  }

  tid(row: number): number {
    return this.tidColumn[row];
  }

  label(row: number): string | undefined {
    return this.labelList[this.labelIdColumn[row]];
  }

  value(row: number, column: number): number {
    return this.valueColumns[row * this.width + column];
  }

  setValue(row: number, column: number, value: number): void {
    this.valueColumns[row * this.width + column] = value;
  }

  /** All thread ids, by row; for hot loops (only the first `count` are rows). */
  get tids(): Uint32Array {
    return this.tidColumn;
  }

  /** All values, row-major (row * width + column); for hot loops. */
  get values(): Float64Array {
    return this.valueColumns;
  }

  /** Each row's label id (an index into `labels`); for hot loops. */
  get labelIds(): Uint32Array {
    return this.labelIdColumn;
  }

  /** The distinct labels by id; id 0 is undefined (no label). */
  get labels(): readonly (string | undefined)[] {
    return this.labelList;
  }

  /**
   * Renumbers rows' threads in place, dropping rows mapped to undefined:
   * kernel thread ids to a PID namespace's, or -t keeping one thread.
   */
  mapTids(map: (tid: number) => number | undefined): void {
    let kept = 0;
    for (let row = 0; row < this.count; row++) {
      const tid = map(this.tidColumn[row]);
      if (tid === undefined) continue;
      this.tidColumn[kept] = tid;
      this.labelIdColumn[kept] = this.labelIdColumn[row];
      this.valueColumns.copyWithin(kept * this.width, row * this.width, (row + 1) * this.width);
      kept++;
    }
    this.count = kept;
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
