/**
 * The text report, byte-for-byte in the layout of OVS's kernel_delay.py so
 * that its documentation, blog posts and users' scripts keep applying.
 * Pure functions: data in, lines out.
 */
import type { ReportRow } from '../runtime/kdelay-imports.js';
import type { ColumnSpec, SectionSpec } from './manifest.js';

const INDENT = ' '.repeat(28);

/** Python's format(n, ',') for integers. */
export function withThousands(n: bigint): string {
  return n.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

const padLeft = (s: string, width: number) => s.padStart(width);
const padRight = (s: string, width: number) => s.padEnd(width);

function cell(col: ColumnSpec, value: string | bigint | undefined): string {
  if (value === undefined) return padRight('', col.width); // Python formats "" left-aligned
  if (col.format === 'label') return padRight(String(value).slice(0, col.width), col.width);
  const n = value as bigint;
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

/** A row's cells: its label (if the first column is one) then its numbers. */
function rowCells(section: SectionSpec, row: ReportRow): (string | bigint)[] {
  const hasLabel = section.columns[0].format === 'label';
  return hasLabel ? [row.label ?? '', ...row.values] : [...row.values];
}

function rowLine(section: SectionSpec, row: ReportRow): string {
  const values = rowCells(section, row);
  return joinCells(section.columns, section.columns.map((col, i) => cell(col, values[i])));
}

function totalLine(section: SectionSpec, rows: ReportRow[]): string | undefined {
  const total = section.total;
  if (!total) return undefined;
  const excluded = new Set(total.excludeLabels ?? []);
  const sums = new Map<number, bigint>(total.sum.map((i) => [i, 0n]));
  for (const row of rows) {
    if (row.label !== undefined && excluded.has(row.label)) continue;
    const cells = rowCells(section, row);
    for (const i of total.sum) sums.set(i, sums.get(i)! + ((cells[i] as bigint) ?? 0n));
  }
  // Like the reference: no TOTAL line when nothing was counted.
  if (sums.get(total.sum[0]) === 0n) return undefined;
  const last = Math.max(...total.sum);
  const columns = section.columns.slice(0, last + 1);
  const cells = columns.map((col, i) => {
    if (i === 0) return cell({ ...col, format: 'label' }, total.label);
    return cell(col, sums.get(i));
  });
  return joinCells(columns, cells);
}

function sortRows(section: SectionSpec, rows: ReportRow[]): ReportRow[] {
  const by = section.sortDescendingBy;
  if (by === undefined) return rows;
  const key = (row: ReportRow) => rowCells(section, row)[by] as bigint;
  return [...rows].sort((a, b) => {
    const d = key(b) - key(a);
    if (d !== 0n) return d > 0n ? 1 : -1;
    return (a.label ?? '').localeCompare(b.label ?? '');
  });
}

export interface StatisticsInput {
  sections: SectionSpec[];
  rows: ReportRow[];
  threadName: (tid: number) => string;
}

/** The per-thread statistics table, from the TID/THREAD header on. */
export function formatStatistics({ sections, rows, threadName }: StatisticsInput): string[] {
  const ordered = [...sections].sort((a, b) => a.order - b.order);
  const byThread = new Map<number, Map<string, ReportRow[]>>();
  for (const row of rows) {
    let perSection = byThread.get(row.tid);
    if (!perSection) byThread.set(row.tid, (perSection = new Map()));
    const list = perSection.get(row.section) ?? [];
    list.push(row);
    perSection.set(row.section, list);
  }
  const threads = [...byThread.keys()]
    .map((tid) => ({ tid, name: threadName(tid) }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.tid - b.tid));

  const lines = [
    `${padRight('TID', 10)} ${padRight('THREAD', 16)} <RESOURCE SPECIFIC>`,
    `${'-'.repeat(10)} ${'-'.repeat(16)} ${'-'.repeat(76)}`,
  ];
  threads.forEach(({ tid, name }, index) => {
    if (index > 0) lines.push('');
    let first = true;
    for (const section of ordered) {
      const sectionRows = byThread.get(tid)!.get(section.id) ?? [];
      if (sectionRows.length === 0 && !section.alwaysShown) continue;
      if (first) {
        lines.push(`${padLeft(String(tid), 10)} ${padRight(name, 16)} [${section.title}]`);
        first = false;
      } else {
        lines.push('', `${padRight('', 10)} ${padRight('', 16)} [${section.title}]`);
      }
      lines.push(headerLine(section));
      for (const row of sortRows(section, sectionRows)) lines.push(rowLine(section, row));
      const total = totalLine(section, sectionRows);
      if (total !== undefined) lines.push(total);
    }
  });
  return lines;
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
