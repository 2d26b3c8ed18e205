/**
 * The text report, byte-for-byte in the layout of OVS's kernel_delay.py so
 * that its documentation, blog posts and users' scripts keep applying.
 * Pure functions: data in, lines out.
 */
import type { ColumnSpec, SectionSpec } from './manifest.js';
import type { SampleTables, SectionTable } from './section-table.js';
import { FirstSeenIds } from './first-seen-ids.js';
import { rowOrder } from './row-order.js';
import { integerLimit, TextBuffer, writeIntegerBackwards } from './text-buffer.js';

const INDENT = ' '.repeat(28);

/** Python's format(n, ',') for integers. */
export function withThousands(n: number | bigint): string {
  const digits = n.toString();
  if (digits.length <= 3) return digits;
  let out = '';
  const head = digits.length % 3 || 3;
  out = digits.slice(0, head);
  for (let i = head; i < digits.length; i += 3) out += `,${digits.slice(i, i + 3)}`;
  return out;
}

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

const NEWLINE = 0x0a;

/**
 * Lays out the rows of one section. Built once per section and table;
 * reports can have 100k rows, so the common path claims a whole run of
 * fixed-width lines as spaces in one call and drops the labels and digits
 * into place. A row that does not fit its fixed-width line (a number too
 * wide for its column, a label that is not ASCII) takes the general path,
 * which lets it push the line wider as Python's format does.
 */
class RowLayout {
  private readonly labelWidth: number;
  // Per number column: where its last digit goes in the line, its width,
  // separators or not, the gap before it, and the first value too wide for it.
  private readonly ends: number[] = [];
  private readonly widths: number[] = [];
  private readonly thousands: boolean[] = [];
  private readonly gaps: number[] = [];
  private readonly limits: number[] = [];
  /** Characters of a fixed-width line, without the newline. */
  readonly lineWidth: number;
  /** Each label id's bytes, cut to the column; null for labels that are not ASCII. */
  private readonly labelCells: (Uint8Array | null)[];

  constructor(
    section: SectionSpec,
    private readonly table: SectionTable,
  ) {
    const offset = hasLabel(section) ? 1 : 0;
    this.labelWidth = offset ? section.columns[0].width : 0;
    let end = INDENT.length + this.labelWidth;
    section.columns.slice(offset).forEach((col, i) => {
      const gap = offset + i === 0 ? 0 : col.gap;
      end += gap + col.width;
      this.ends.push(end);
      this.widths.push(col.width);
      this.gaps.push(gap);
      this.thousands.push(col.format === 'ns');
      this.limits.push(integerLimit(col.width, col.format === 'ns'));
    });
    this.lineWidth = end;
    this.labelCells = offset ? table.labels.map((label) => asciiCell(label ?? '', this.labelWidth)) : [];
  }

  /** Writes rows order[from], ..., order[to - 1] of the table, a line each. */
  writeRows(out: TextBuffer, order: Uint32Array, from: number, to: number): void {
    const stride = this.lineWidth + 1;
    let k = from;
    while (k < to) {
      let pos = out.claim((to - k) * stride);
      const buf = out.array;
      for (; k < to && this.fixedLine(buf, pos, order[k]); k++, pos += stride) buf[pos + this.lineWidth] = NEWLINE;
      if (k === to) return;
      // order[k] needs the general path: give back the unused lines, lay it out, go on.
      out.truncate(pos);
      this.generalLine(out, order[k]);
      k++;
    }
  }

  /** Lays row out in the fixed-width line at buf[pos]; false (leaving junk in it) if it does not fit. */
  private fixedLine(buf: Uint8Array, pos: number, row: number): boolean {
    const table = this.table;
    if (this.labelWidth) {
      const cell = this.labelCells[table.labelIds[row]];
      if (cell === null) return false;
      for (let i = 0, at = pos + INDENT.length; i < cell.length; i++) buf[at + i] = cell[i];
    }
    const values = table.values;
    const base = row * table.width;
    for (let i = 0; i < this.ends.length; i++) {
      const v = values[base + i];
      if (!(v >= 0 && v < this.limits[i] && Math.floor(v) === v)) return false;
      writeIntegerBackwards(buf, pos + this.ends[i], v, this.thousands[i]);
    }
    return true;
  }

  private generalLine(out: TextBuffer, row: number): void {
    const table = this.table;
    out.spaces(INDENT.length);
    if (this.labelWidth) out.left(table.label(row) ?? '', this.labelWidth);
    for (let i = 0; i < this.ends.length; i++) {
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

/** A section's TOTAL line over groups of its rows. */
class TotalLine {
  /** Per label id: whether rows with that label are left out. */
  private readonly excluded: Uint8Array;
  /** Value index of each summed column, and where its sum goes (a column listed twice is added twice, into one sum). */
  private readonly valueIndexes: number[];
  private readonly slots: number[];

  constructor(
    private readonly section: SectionSpec & { total: NonNullable<SectionSpec['total']> },
    private readonly table: SectionTable,
  ) {
    const offset = hasLabel(section) ? 1 : 0;
    const sum = section.total.sum;
    this.valueIndexes = sum.map((i) => i - offset);
    this.slots = sum.map((i) => sum.indexOf(i));
    const excluded = new Set(section.total.excludeLabels ?? []);
    this.excluded = Uint8Array.from(table.labels, (label) => (label !== undefined && excluded.has(label) ? 1 : 0));
  }

  /** The TOTAL line over rows order[from, to), or undefined (like the reference) when nothing was counted. */
  over(order: Uint32Array, from: number, to: number): string | undefined {
    const { table, excluded, valueIndexes, slots } = this;
    const sums = new Float64Array(slots.length);
    const values = table.values;
    const labelIds = table.labelIds;
    for (let k = from; k < to; k++) {
      const row = order[k];
      if (excluded[labelIds[row]]) continue;
      for (let j = 0; j < slots.length; j++) sums[slots[j]] += values[row * table.width + valueIndexes[j]];
    }
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
export function writeStatistics(out: TextBuffer, { sections, tables, threadName }: StatisticsInput): void {
  const ordered = [...sections]
    .sort((a, b) => a.order - b.order)
    .filter((s) => (s.scope ?? 'thread') === 'thread' && (tables.has(s.id) || s.alwaysShown));

  // Every thread with a row, numbered as first seen; each row's thread by that number.
  const slotOfTid = new FirstSeenIds();
  const slotsOfRows = ordered.map((section) => {
    const table = tables.get(section.id);
    const slots = new Uint32Array(table?.count ?? 0);
    const tids = table?.tids;
    for (let row = 0; row < slots.length; row++) slots[row] = slotOfTid.id(tids![row]);
    return slots;
  });
  const threads = slotOfTid.keys
    .map((tid, slot) => ({ tid, slot, name: threadName(tid) }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.tid - b.tid));
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
    const slots = slotsOfRows[s];
    const threadOfRow = new Uint32Array(slots.length);
    for (let row = 0; row < slots.length; row++) threadOfRow[row] = rankOfSlot[slots[row]];
    const sortColumn = section.sortDescendingBy === undefined ? -1 : section.sortDescendingBy - (hasLabel(section) ? 1 : 0);
    const { order, starts } = rowOrder(table, threadOfRow, threads.length, sortColumn);
    const total = section.total ? new TotalLine({ ...section, total: section.total }, table) : undefined;
    return { section, header, continued, order, starts, layout: new RowLayout(section, table), total };
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
        line(`${padLeft(String(tid), 10)} ${padRight(name, 16)} [${walk.section.title}]`);
        first = false;
      } else {
        out.newline();
        line(walk.continued);
      }
      line(walk.header);
      if (!walk.layout) continue;
      walk.layout.writeRows(out, walk.order, from, to);
      const total = walk.total?.over(walk.order, from, to);
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
    if (section.scope !== 'system' || !table?.count) continue;
    const order = new Uint32Array(table.count).map((_, row) => row);
    const out = new TextBuffer();
    new RowLayout(section, table).writeRows(out, order, 0, table.count);
    lines.push('', `# ${section.title}:`, headerLine(section), out.toString().replace(/\n$/, ''));
  }
  return lines;
}

/** writeStatistics as a string without the final newline (tests, small reports). */
export function formatStatistics(input: StatisticsInput): string {
  const out = new TextBuffer();
  writeStatistics(out, input);
  return out.toString().replace(/\n$/, '');
}

/** What the events table needs of one slow syscall (see driver/probe-set.ts SyscallEvent). */
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
