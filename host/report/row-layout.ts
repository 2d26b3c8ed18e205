/**
 * How one section's rows become text, in the layout of OVS's kernel_delay.py
 * (cells, column headers, the rows' fixed-width lines and TOTAL lines),
 * shared by the per-thread statistics (statistics.ts) and the system-wide
 * sections (system-sections.ts). Pure: data in, lines out.
 */
import type { ColumnSpec, SectionSpec } from '../bundle/manifest.js';
import type { SectionTable } from '../model/section-table.js';
import { type Arena, withArena } from '../model/wasm-loops.js';
import { integerLimit, withThousands } from './integers.js';
import type { TextBuffer } from './text-buffer.js';

export const INDENT = ' '.repeat(28);

const padLeft = (s: string, width: number) => s.padStart(width);
export const padRight = (s: string, width: number) => s.padEnd(width);

function cell(col: ColumnSpec, value: string | number | undefined): string {
  if (value === undefined) return padRight('', col.width); // Python formats "" left-aligned
  if (col.format === 'label') return padRight(String(value).slice(0, col.width), col.width);
  const n = value as number;
  return padLeft(col.format === 'ns' ? withThousands(n) : n.toString(), col.width);
}

function joinCells(columns: ColumnSpec[], cells: string[]): string {
  return INDENT + cells.map((text, i) => (i === 0 ? '' : ' '.repeat(columns[i].gap)) + text).join('');
}

export function headerLine(section: SectionSpec): string {
  const cells = section.columns.map((col) => {
    const left = col.format === 'label' || col.headerAlign === 'left';
    return left ? padRight(col.header, col.width) : padLeft(col.header, col.width);
  });
  return joinCells(section.columns, cells);
}

export const hasLabel = (section: SectionSpec) => section.columns[0].format === 'label';

/**
 * Lays out the rows of one section, in a given order. Reports can have 100k
 * rows, so the common path lays a thread's rows out as fixed-width lines in
 * wasm (wasm-loops/report-loops.ts layoutLines), labels and digits dropped
 * into a run of spaces, and copies them out. A row that does not fit its
 * fixed-width line (a number too wide for its column, a label that is not
 * ASCII) takes the general path, which lets it push the line wider as
 * Python's format does.
 *
 * The rows, order and label cells live in `arena` from construction on: the
 * caller keeps the arena's scope open while it writes rows.
 */
export class RowLayout {
  private readonly labelWidth: number;
  private readonly widths: number[] = [];
  private readonly thousands: boolean[] = [];
  private readonly gaps: number[] = [];
  /** Characters of a fixed-width line, without the newline. */
  readonly lineWidth: number;
  /** layoutLines' inputs in the arena: values, label ids, label cells, columns. */
  private readonly valuesAt: number;
  private readonly labelIdsAt: number;
  private readonly labelCellsAt: number;
  private readonly columnsAt: number;
  private readonly valueColumnCount: number;
  private readonly orderAt: number;
  /** Room in the arena for the lines (and unfit flags) of `capacity` rows. */
  private capacity = 0;
  private linesAt = 0;
  private unfitAt = 0;

  constructor(
    section: SectionSpec,
    private readonly table: SectionTable,
    private readonly order: Uint32Array,
    private readonly arena: Arena,
  ) {
    const offset = hasLabel(section) ? 1 : 0;
    this.labelWidth = offset ? section.columns[0].width : 0;
    const valueColumns = section.columns.slice(offset);
    // Per number column: where its last digit goes in the line, separators
    // or not, and the first value too wide for it.
    const columns = new DataView(new ArrayBuffer(16 * valueColumns.length));
    let end = INDENT.length + this.labelWidth;
    valueColumns.forEach((col, i) => {
      const gap = offset + i === 0 ? 0 : col.gap;
      end += gap + col.width;
      this.widths.push(col.width);
      this.gaps.push(gap);
      this.thousands.push(col.format === 'ns');
      columns.setUint32(16 * i, end, true);
      columns.setUint32(16 * i + 4, col.format === 'ns' ? 1 : 0, true);
      columns.setFloat64(16 * i + 8, integerLimit(col.width, col.format === 'ns'), true);
    });
    this.lineWidth = end;

    const a = arena;
    // Each label id's bytes, cut to the column, as (offset, length); length ~0 for labels that are not ASCII.
    const labels = offset ? table.labels : [];
    const cellBytes = labels.map((label) => asciiCell(label ?? '', this.labelWidth));
    const labelBytes = a.alloc(cellBytes.reduce((sum, c) => sum + (c?.length ?? 0), 0));
    const labelCells = a.alloc(8 * labels.length);
    let at = labelBytes;
    cellBytes.forEach((cell, id) => {
      const pair = a.u32(labelCells + 8 * id, 2);
      pair[0] = at;
      pair[1] = cell === null ? 0xffff_ffff : cell.length;
      if (cell !== null) a.u8(at, cell.length).set(cell);
      at += cell?.length ?? 0;
    });
    this.orderAt = a.copyU32(order);
    this.valuesAt = a.copyF64(table.values.subarray(0, table.count * table.width));
    this.labelIdsAt = a.copyU32(table.labelIds.subarray(0, table.count));
    this.labelCellsAt = labelCells;
    this.columnsAt = a.copyU8(new Uint8Array(columns.buffer));
    this.valueColumnCount = valueColumns.length;
  }

  /** Writes rows order[from], ..., order[to - 1] of the table, a line each. */
  writeRows(out: TextBuffer, from: number, to: number): void {
    const n = to - from;
    const stride = this.lineWidth + 1;
    const a = this.arena;
    if (n > this.capacity) {
      // Grown for the largest thread so far; the old room stays allocated until the scope ends.
      this.capacity = Math.max(n, 2 * this.capacity);
      this.linesAt = a.alloc(this.capacity * stride);
      this.unfitAt = a.alloc(this.capacity);
    }
    // Called once per thread and section: no views or argument arrays here (see Arena.bytes).
    const misfits = a.loops.layoutLines(
      this.orderAt + 4 * from,
      n,
      this.valuesAt,
      this.table.width,
      this.labelIdsAt,
      this.labelCellsAt,
      this.columnsAt,
      this.valueColumnCount,
      this.lineWidth,
      INDENT.length,
      this.labelWidth,
      this.linesAt,
      this.unfitAt,
    );
    if (!misfits) {
      out.appendRange(a.bytes, this.linesAt, n * stride);
      return;
    }
    for (let k = 0; k < n; k++) {
      // generalLine() allocates nothing in the arena, so the memory (and a.bytes) stays put.
      if (a.bytes[this.unfitAt + k]) this.generalLine(out, this.order[from + k]);
      else out.appendRange(a.bytes, this.linesAt + k * stride, stride);
    }
  }

  private generalLine(out: TextBuffer, row: number): void {
    const table = this.table;
    out.spaces(INDENT.length);
    if (this.labelWidth) out.left(table.label(row) ?? '', this.labelWidth);
    for (let i = 0; i < this.widths.length; i++) {
      out.spaces(this.gaps[i]);
      out.integer(table.value(row, i), this.widths[i], this.thousands[i]);
    }
    out.newline();
  }
}

/** s cut to width as ASCII bytes (no padding: the line is spaces already), or null if s is not ASCII. */
function asciiCell(s: string, width: number): Uint8Array | null {
  const cut = s.length > width ? s.slice(0, width) : s;
  const bytes = new Uint8Array(cut.length);
  for (let i = 0; i < cut.length; i++) {
    const c = cut.charCodeAt(i);
    if (c >= 0x80) return null;
    bytes[i] = c;
  }
  return bytes;
}

/** A section's TOTAL line per thread. */
export class TotalLine {
  /** Per thread, the sums of its TOTAL line (slotCount each). */
  private readonly sums: Float64Array;
  private readonly slotCount: number;

  constructor(
    private readonly section: SectionSpec & { total: NonNullable<SectionSpec['total']> },
    table: SectionTable,
    order: Uint32Array,
    starts: Uint32Array,
  ) {
    const offset = hasLabel(section) ? 1 : 0;
    const sum = section.total.sum;
    // Value index of each summed column, and where its sum goes (a column listed twice is added twice, into one sum).
    const valueIndexes = Uint32Array.from(sum, (i) => i - offset);
    const slots = Uint32Array.from(sum, (i) => sum.indexOf(i));
    // Per label id: whether rows with that label are left out.
    const excludedLabels = new Set(section.total.excludeLabels ?? []);
    const excluded = Uint8Array.from(table.labels, (label) => (label !== undefined && excludedLabels.has(label) ? 1 : 0));
    const threads = starts.length - 1;
    this.slotCount = slots.length;
    // Summed in wasm (wasm-loops/report-loops.ts threadSums), rows in print order.
    this.sums = withArena((a) => {
      const sums = a.alloc(8 * threads * slots.length);
      a.loops.threadSums(
        a.copyU32(order),
        a.copyU32(starts),
        threads,
        a.copyF64(table.values.subarray(0, table.count * table.width)),
        table.width,
        a.copyU32(table.labelIds.subarray(0, table.count)),
        a.copyU8(excluded),
        a.copyU32(valueIndexes),
        a.copyU32(slots),
        slots.length,
        sums,
      );
      return a.f64(sums, threads * slots.length).slice();
    });
  }

  /** Thread's TOTAL line, or undefined (like the reference) when nothing was counted. */
  of(thread: number): string | undefined {
    const sums = this.sums.subarray(thread * this.slotCount, (thread + 1) * this.slotCount);
    const total = this.section.total;
    if (sums[0] === 0) return undefined;
    const columns = this.section.columns.slice(0, Math.max(...total.sum) + 1);
    const cells = columns.map((col, i) => {
      if (i === 0) return cell({ ...col, format: 'label' }, total.label);
      const j = total.sum.indexOf(i);
      return cell(col, j < 0 ? undefined : sums[j]);
    });
    return joinCells(columns, cells);
  }
}
