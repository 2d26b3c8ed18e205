/**
 * The text report, byte-for-byte in the layout of OVS's kernel_delay.py so
 * that its documentation, blog posts and users' scripts keep applying.
 * Pure functions: data in, lines out.
 */
import type { ColumnSpec, SectionSpec } from '../bundle/manifest.js';
import type { SampleTables, SectionTable } from './section-table.js';
import { type Arena, firstSeenIds, gather, withArena } from './wasm-loops.js';
import { rowOrder } from './row-order.js';
import { integerLimit, withThousands } from './integers.js';
import { TextBuffer } from './text-buffer.js';

const INDENT = ' '.repeat(28);

const padLeft = (s: string, width: number) => s.padStart(width);
const padRight = (s: string, width: number) => s.padEnd(width);

function cell(col: ColumnSpec, value: string | number | undefined): string {
  if (value === undefined) return padRight('', col.width); // Python formats "" left-aligned
  if (col.format === 'label') return padRight(String(value).slice(0, col.width), col.width);
  const n = value as number;
  return padLeft(col.format === 'ns' ? withThousands(n) : n.toString(), col.width);
}

function joinCells(columns: ColumnSpec[], cells: string[]): string {
  return INDENT + cells.map((text, i) => (i === 0 ? '' : ' '.repeat(columns[i].gap)) + text).join('');
}

function headerLine(section: SectionSpec): string {
  const cells = section.columns.map((col) => {
    const left = col.format === 'label' || col.headerAlign === 'left';
    return left ? padRight(col.header, col.width) : padLeft(col.header, col.width);
  });
  return joinCells(section.columns, cells);
}

const hasLabel = (section: SectionSpec) => section.columns[0].format === 'label';

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
class RowLayout {
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
class TotalLine {
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

export interface StatisticsInput {
  sections: SectionSpec[];
  tables: SampleTables;
  threadName: (tid: number) => string;
}

/**
 * The per-thread statistics table, from the TID/THREAD header on, written
 * into `out` (every line ends with a newline).
 */
export function writeStatistics(out: TextBuffer, input: StatisticsInput): void {
  // The row layouts keep their rows in the wasm loops' memory until the report is written.
  withArena((arena) => writeStatisticsIn(arena, out, input));
}

function writeStatisticsIn(arena: Arena, out: TextBuffer, { sections, tables, threadName }: StatisticsInput): void {
  const ordered = [...sections].sort((a, b) => a.order - b.order).filter((s) => !s.hidden && (s.scope ?? 'thread') === 'thread' && (tables.has(s.id) || s.alwaysShown));

  // Every thread with a row, numbered as first seen; each row's thread by that number.
  // (In wasm, over all sections' rows at once: wasm-loops.ts firstSeenIds.)
  const counts = ordered.map((section) => tables.get(section.id)?.count ?? 0);
  const allTids = new Uint32Array(counts.reduce((a, b) => a + b, 0));
  let rowsBefore = 0;
  const firstRows = ordered.map((section, s) => {
    const table = tables.get(section.id);
    if (table) allTids.set(table.tids.subarray(0, table.count), rowsBefore);
    rowsBefore += counts[s];
    return rowsBefore - counts[s];
  });
  const { ids: slotOfRow, distinct: tidOfSlot } = firstSeenIds(allTids);
  const slotsOfRows = ordered.map((_, s) => slotOfRow.subarray(firstRows[s], firstRows[s] + counts[s]));
  const threads = Array.from(tidOfSlot, (tid, slot) => ({ tid, slot, name: threadName(tid) })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.tid - b.tid));
  const rankOfSlot = new Uint32Array(threads.length);
  threads.forEach(({ slot }, rank) => (rankOfSlot[slot] = rank));

  // Per section: its rows in print order, grouped by thread, and the lines
  // every thread repeats (built once: 400 threads made ~10k strings of them).
  const noRows = { order: new Uint32Array(0), starts: new Uint32Array(threads.length + 1) };
  const walks = ordered.map((section, s) => {
    const header = headerLine(section);
    const continued = `${padRight('', 10)} ${padRight('', 16)} [${section.title}]`;
    const table = tables.get(section.id);
    if (!table) return { section, header, continued, ...noRows, layout: undefined, total: undefined };
    const threadOfRow = gather(slotsOfRows[s], rankOfSlot);
    const sortColumn = section.sortDescendingBy === undefined ? -1 : section.sortDescendingBy - (hasLabel(section) ? 1 : 0);
    const { order, starts } = rowOrder(table, threadOfRow, threads.length, sortColumn);
    const total = section.total ? new TotalLine({ ...section, total: section.total }, table, order, starts) : undefined;
    return { section, header, continued, order, starts, layout: new RowLayout(section, table, order, arena), total };
  });

  // Room for every row plus the headers, so the buffer grows once.
  let bytes = 0;
  for (const walk of walks) bytes += walk.order.length * ((walk.layout?.lineWidth ?? 0) + 1) + threads.length * 512;
  out.reserve(bytes);
  const line = (text: string) => {
    out.text(text);
    out.newline();
  };

  line(`${padRight('TID', 10)} ${padRight('THREAD', 16)} <RESOURCE SPECIFIC>`);
  line(`${'-'.repeat(10)} ${'-'.repeat(16)} ${'-'.repeat(76)}`);
  threads.forEach(({ tid, name }, index) => {
    if (index > 0) out.newline();
    let first = true;
    for (const walk of walks) {
      const from = walk.starts[index];
      const to = walk.starts[index + 1];
      if (from === to && !walk.section.alwaysShown) continue;
      if (first) {
        // `${padLeft(tid, 10)} ${padRight(name, 16)} [title]`, written in place: once per thread and sample.
        out.integer(tid, 10, false);
        out.text(' ');
        out.text(name, 16);
        out.text(' [');
        out.text(walk.section.title);
        out.text(']');
        out.newline();
        first = false;
      } else {
        out.newline();
        line(walk.continued);
      }
      line(walk.header);
      if (!walk.layout) continue;
      walk.layout.writeRows(out, from, to);
      const total = walk.total?.of(index);
      if (total !== undefined) line(total);
    }
  });
}

/**
 * System-wide sections (scope 'system'), after the per-thread table: a
 * "# TITLE:" line, the column header and the rows in the order the probe
 * reported them. Printed only when there are rows, like the reference.
 */
export function formatSystemSections(sections: SectionSpec[], tables: SampleTables): string[] {
  const lines: string[] = [];
  for (const section of [...sections].sort((a, b) => a.order - b.order)) {
    const table = tables.get(section.id);
    if (section.hidden || section.scope !== 'system' || !table?.count) continue;
    if (section.layout === 'per-cpu') {
      lines.push('', '', `# ${section.title}${section.legend ? ` (${section.legend})` : ''}:`, ...perCpuLines(section, table));
      continue;
    }
    const order = new Uint32Array(table.count).map((_, row) => row);
    const out = new TextBuffer();
    withArena((arena) => new RowLayout(section, table, order, arena).writeRows(out, 0, table.count));
    lines.push('', `# ${section.title}:`, headerLine(section), out.toString().replace(/\n$/, ''));
  }
  return lines;
}

/**
 * A 'per-cpu' section: rows (label, cpu, count) become one line per label,
 * in the order the probe first reported it: `  LABEL: TOTAL [0: a, 1: b]`.
 */
function perCpuLines(section: SectionSpec, table: SectionTable): string[] {
  const byLabel = new Map<string, Map<number, number>>();
  for (let row = 0; row < table.count; row++) {
    const label = table.label(row) ?? '';
    const cpus = byLabel.get(label) ?? new Map<number, number>();
    byLabel.set(label, cpus);
    const cpu = table.value(row, 0);
    cpus.set(cpu, (cpus.get(cpu) ?? 0) + table.value(row, 1));
  }
  const width = section.columns[0].width;
  return [...byLabel].map(([label, cpus]) => {
    const counts = [...cpus].filter(([, n]) => n > 0).sort(([a], [b]) => a - b);
    const total = counts.reduce((sum, [, n]) => sum + n, 0);
    return `  ${padRight(label, width)}: ${total} [${counts.map(([cpu, n]) => `${cpu}: ${n}`).join(', ')}]`;
  });
}

/** writeStatistics as a string without the final newline (tests, small reports). */
export function formatStatistics(input: StatisticsInput): string {
  const out = new TextBuffer();
  writeStatistics(out, input);
  return out.toString().replace(/\n$/, '');
}

/** What the events table needs of one slow syscall (the driver's SyscallEvent is one). */
export interface EventLine {
  entryNs: bigint;
  exitNs: bigint;
  tid: number;
  name: string;
  kernelFrames?: string[];
  userFrames?: string[];
}

/**
 * The reference's "# SYSCALL EVENTS:" table: one line per event in arrival
 * order, then (when stacks are on) its kernel frames and its user frames.
 * Returns the lines and how many events had no stack to show.
 */
export function formatSyscallEvents(events: EventLine[], threadName: (tid: number) => string, stacks: boolean): { lines: string[]; lostStacks: number } {
  const lines = [
    '',
    '',
    '# SYSCALL EVENTS:',
    `  ${'ENTRY (ns)'.padStart(19)} ${'EXIT (ns)'.padStart(19)} ${'TID'.padStart(10)} ${'COMM'.padEnd(16)} ${'DELTA (us)'.padStart(10)}  SYSCALL`,
    `  ${'-'.repeat(19)} ${'-'.repeat(19)} ${'-'.repeat(10)} ${'-'.repeat(16)} ${'-'.repeat(10)}  ${'-'.repeat(16)}`,
  ];
  let lostStacks = 0;
  const frame = ' '.repeat(10);
  for (const e of events) {
    const deltaUs = (e.exitNs - e.entryNs) / 1000n; // int() truncation, as the reference
    lines.push(
      `  ${e.entryNs.toString().padStart(19)} ${e.exitNs.toString().padStart(19)} ${String(e.tid).padStart(10)} ` +
        `${threadName(e.tid).padEnd(16)} ${withThousands(deltaUs).padStart(10)}  ${e.name}`,
    );
    if (!stacks) continue;
    if (!e.kernelFrames || !e.userFrames) lostStacks++;
    for (const f of e.kernelFrames ?? []) lines.push(frame + f);
    for (const f of e.userFrames ?? []) lines.push(frame + f);
  }
  return { lines, lostStacks };
}

/** The reference's note after the events table when stacks were missing. */
export function lostStacksNote(count: number): string[] {
  return [
    '',
    `#WARNING: We were not able to display ${count} stack traces!`,
    '#         Consider increasing the stack trace size using',
    "#         the '--stack-trace-size' option.",
    '#         Note that this can also happen due to a stack id',
    '#         collision.',
  ];
}

const two = (n: number) => String(n).padStart(2, '0');

/**
 * "<message> @<local ISO time> (<HH:MM:SS> UTC)", as Python's
 * datetime.now().isoformat() prints it: microseconds, omitted when zero.
 */
export function timestampLine(message: string, epochMicros: number): string {
  const date = new Date(Math.floor(epochMicros / 1000));
  const micros = Math.floor(epochMicros) % 1_000_000;
  const local =
    `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}` +
    `T${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}` +
    (micros ? `.${String(micros).padStart(6, '0')}` : '');
  const utc = `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}`;
  return `${message} @${local} (${utc} UTC)`;
}

/** Microseconds since the epoch, with sub-millisecond resolution. */
export function nowEpochMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}
