/**
 * The per-thread statistics table of the text report, byte-for-byte in the
 * layout of OVS's kernel_delay.py so that its documentation, blog posts and
 * users' scripts keep applying. Pure: data in, lines out.
 */
import { isThreadTable, type SectionSpec } from '../bundle/manifest.js';
import type { SampleTables } from '../model/section-table.js';
import { type Arena, firstSeenIds, gather, withArena } from '../model/wasm-loops.js';
import { hasLabel, headerLine, padRight, RowLayout, TotalLine } from './row-layout.js';
import { rowOrder } from './row-order.js';
import { TextBuffer } from './text-buffer.js';

export interface StatisticsInput {
  sections: SectionSpec[];
  tables: SampleTables;
  threadName: (tid: number) => string;
  /**
   * A section every thread shows (alwaysShown), without rows for a thread:
   * this line (indented) instead of its column header; undefined: the
   * header, as the reference prints it (text-style.ts).
   */
  emptyLine?: string;
}

/**
 * The per-thread statistics table, from the TID/THREAD header on, written
 * into `out` (every line ends with a newline).
 */
export function writeStatistics(out: TextBuffer, input: StatisticsInput): void {
  // The row layouts keep their rows in the wasm loops' memory until the report is written.
  withArena((arena) => writeStatisticsIn(arena, out, input));
}

function writeStatisticsIn(arena: Arena, out: TextBuffer, { sections, tables, threadName, emptyLine }: StatisticsInput): void {
  const ordered = [...sections].sort((a, b) => a.order - b.order).filter((s) => isThreadTable(s) && (tables.has(s.id) || s.alwaysShown));

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
      if (from === to && emptyLine !== undefined) {
        line(`${padRight('', 10)} ${padRight('', 16)} ${emptyLine}`);
        continue;
      }
      line(walk.header);
      if (!walk.layout) continue;
      walk.layout.writeRows(out, from, to);
      const total = walk.total?.of(index);
      if (total !== undefined) line(total);
    }
  });
}

/** writeStatistics as a string without the final newline (tests, small reports). */
export function formatStatistics(input: StatisticsInput): string {
  const out = new TextBuffer();
  writeStatistics(out, input);
  return out.toString().replace(/\n$/, '');
}
