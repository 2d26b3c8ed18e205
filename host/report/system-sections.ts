/** The text report's system-wide sections, after the per-thread table, in the reference's layout. Pure. */
import type { SectionSpec } from '../bundle/manifest.js';
import type { SampleTables, SectionTable } from '../model/section-table.js';
import { withArena } from '../model/wasm-loops.js';
import { headerLine, padRight, RowLayout } from './row-layout.js';
import { TextBuffer } from './text-buffer.js';

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
