/**
 * The text report, byte-for-byte in the layout of OVS's kernel_delay.py so
 * that its documentation, blog posts and users' scripts keep applying.
 * Pure functions: data in, lines out.
 */
import type { ColumnSpec, SectionSpec } from './manifest.js';
import type { SampleTables, SectionTable } from './section-table.js';
import { TextBuffer, writeIntegerEndingAt } from './text-buffer.js';

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

/**
 * Writes one row of a section. Built once per section; reports can have
 * 100k rows, so the common path claims the row's fixed width as spaces in
 * one call and drops the label and digits into place. A number too wide for
 * its column takes the general path, which lets it push the line wider as
 * Python's format does.
 */
function rowWriter(section: SectionSpec): (out: TextBuffer, table: SectionTable, row: number) => void {
  const offset = hasLabel(section) ? 1 : 0;
  const labelWidth = offset ? section.columns[0].width : 0;
  let end = INDENT.length + labelWidth;
  const numeric = section.columns.slice(offset).map((col, i) => {
    end += (offset + i === 0 ? 0 : col.gap) + col.width;
    return { gap: offset + i === 0 ? 0 : col.gap, width: col.width, thousands: col.format === 'ns', end };
  });
  const lineWidth = end;
  const general = (out: TextBuffer, table: SectionTable, row: number) => {
    out.spaces(INDENT.length);
    if (offset) out.left(table.label(row) ?? '', labelWidth);
    numeric.forEach((col, i) => {
      out.spaces(col.gap);
      out.integer(table.value(row, i), col.width, col.thousands);
    });
    out.newline();
  };
  return (out, table, row) => {
    const start = out.claim(lineWidth + 1);
    const buf = out.array;
    if (offset) buf.set(out.cellBytes(table.label(row) ?? '', labelWidth), start + INDENT.length);
    const values = table.values;
    const base = row * table.width;
    for (let i = 0; i < numeric.length; i++) {
      const col = numeric[i];
      if (!writeIntegerEndingAt(buf, start + col.end, col.width, values[base + i], col.thousands)) {
        out.truncate(start);
        general(out, table, row);
        return;
      }
    }
    buf[start + lineWidth] = 0x0a;
  };
}

/** The TOTAL line over rows[from, to) of order, or undefined (like the reference) when nothing was counted. */
function totalLine(section: SectionSpec, table: SectionTable, order: Uint32Array, from: number, to: number): string | undefined {
  const total = section.total;
  if (!total) return undefined;
  const offset = hasLabel(section) ? 1 : 0;
  const excluded = new Set(total.excludeLabels ?? []);
  const sums = new Map<number, number>(total.sum.map((i) => [i, 0]));
  for (let k = from; k < to; k++) {
    const row = order[k];
    const label = table.label(row);
    if (label !== undefined && excluded.has(label)) continue;
    for (const i of total.sum) sums.set(i, sums.get(i)! + table.value(row, i - offset));
  }
  if (sums.get(total.sum[0]) === 0) return undefined;
  const columns = section.columns.slice(0, Math.max(...total.sum) + 1);
  const cells = columns.map((col, i) => (i === 0 ? cell({ ...col, format: 'label' }, total.label) : cell(col, sums.get(i))));
  return joinCells(columns, cells);
}

export interface StatisticsInput {
  sections: SectionSpec[];
  tables: SampleTables;
  threadName: (tid: number) => string;
}

/**
 * The order in which a section's rows print: grouped by thread (in thread
 * order), then by the section's sort column, largest first, then by label.
 * A counting sort groups rows by thread; only each thread's few rows are
 * then sorted by comparison.
 */
function rowOrder(section: SectionSpec, table: SectionTable, threadRank: Map<number, number>): { order: Uint32Array; rank: Uint32Array } {
  const n = table.count;
  const rank = new Uint32Array(n);
  const starts = new Uint32Array(threadRank.size + 1);
  // Consecutive rows often share a thread; skip the Map lookup for them.
  let lastTid = -1;
  let lastRank = 0;
  for (let i = 0; i < n; i++) {
    const tid = table.tid(i);
    if (tid !== lastTid) {
      lastTid = tid;
      lastRank = threadRank.get(tid)!;
    }
    starts[(rank[i] = lastRank) + 1]++;
  }
  for (let r = 1; r < starts.length; r++) starts[r] += starts[r - 1];
  const order = new Uint32Array(n);
  const next = starts.slice(0, -1);
  for (let i = 0; i < n; i++) order[next[rank[i]]++] = i;

  const values = table.values;
  const width = table.width;
  const column = section.sortDescendingBy === undefined ? -1 : section.sortDescendingBy - (hasLabel(section) ? 1 : 0);
  const compare = (a: number, b: number) => {
    if (column >= 0) {
      const d = values[b * width + column] - values[a * width + column];
      if (d) return d;
    }
    const la = table.label(a) ?? '';
    const lb = table.label(b) ?? '';
    return la < lb ? -1 : la > lb ? 1 : a - b;
  };
  for (let r = 0; r + 1 < starts.length; r++) {
    if (starts[r + 1] - starts[r] > 1) order.subarray(starts[r], starts[r + 1]).sort(compare);
  }
  return { order, rank };
}

/**
 * The per-thread statistics table, from the TID/THREAD header on, written
 * into `out` (every line ends with a newline).
 */
export function writeStatistics(out: TextBuffer, { sections, tables, threadName }: StatisticsInput): void {
  const ordered = [...sections]
    .sort((a, b) => a.order - b.order)
    .filter((s) => (s.scope ?? 'thread') === 'thread' && (tables.has(s.id) || s.alwaysShown));
  const tids = new Set<number>();
  for (const section of ordered) {
    const table = tables.get(section.id);
    for (let i = 0; i < (table?.count ?? 0); i++) tids.add(table!.tid(i));
  }
  const threads = [...tids]
    .map((tid) => ({ tid, name: threadName(tid) }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.tid - b.tid));
  const threadRank = new Map(threads.map(({ tid }, i) => [tid, i]));

  // Per section: its rows in print order and a cursor that walks them thread by thread.
  let rowCount = 0;
  for (const table of tables.values()) rowCount += table.count;
  out.reserve(rowCount * 128 + threads.length * 1024);

  const walks = ordered.map((section) => {
    const table = tables.get(section.id);
    const { order, rank } = table ? rowOrder(section, table, threadRank) : { order: new Uint32Array(0), rank: new Uint32Array(0) };
    return { section, table, order, rank, cursor: 0, write: rowWriter(section) };
  });
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
      const from = walk.cursor;
      while (walk.cursor < walk.order.length && walk.rank[walk.order[walk.cursor]] === index) walk.cursor++;
      const to = walk.cursor;
      if (from === to && !walk.section.alwaysShown) continue;
      if (first) {
        line(`${padLeft(String(tid), 10)} ${padRight(name, 16)} [${walk.section.title}]`);
        first = false;
      } else {
        out.newline();
        line(`${padRight('', 10)} ${padRight('', 16)} [${walk.section.title}]`);
      }
      line(headerLine(walk.section));
      if (!walk.table) continue;
      for (let k = from; k < to; k++) walk.write(out, walk.table, walk.order[k]);
      const total = totalLine(walk.section, walk.table, walk.order, from, to);
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
    const write = rowWriter(section);
    const out = new TextBuffer();
    for (let row = 0; row < table.count; row++) write(out, table, row);
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
