/** Text (the reference's layout) and NDJSON renderers for samples. */
import type { CollectedSample, } from '../driver/probe-set.js';
import type { SampleRenderer } from '../driver/sampler.js';
import type { ReportRow } from '../runtime/kdelay-imports.js';
import { formatStatistics, timestampLine } from './format.js';
import type { SectionSpec } from './manifest.js';

export function textRenderer(sections: SectionSpec[], threadName: (tid: number) => string, print: (line: string) => void): SampleRenderer {
  return {
    sample(_index, sample, dumpMicros) {
      print(timestampLine('# Sample dump', dumpMicros));
      for (const line of formatStatistics({ sections, rows: sample.rows, threadName })) print(line);
    },
    warnings(warnings) {
      for (const w of warnings) print(`\n# WARNING: ${w}`);
    },
  };
}

/** "TOTAL ns" -> "total_ns": stable JSON keys from column headers. */
export function columnKey(header: string): string {
  return header.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '');
}

function rowObject(section: SectionSpec, row: ReportRow): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  const numeric = section.columns.filter((c) => c.format !== 'label');
  if (section.columns[0].format === 'label') out[columnKey(section.columns[0].header)] = row.label ?? '';
  // Numbers beyond 2^53 would lose precision as JSON numbers; keep them exact as strings.
  numeric.forEach((col, i) => {
    const v = row.values[i];
    out[columnKey(col.header)] = v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  });
  return out;
}

/** One JSON object per line: {"type": "sample" | "warning", "data": ...}. */
export function jsonRenderer(sections: SectionSpec[], threadName: (tid: number) => string, print: (line: string) => void): SampleRenderer {
  const byId = new Map(sections.map((s) => [s.id, s]));
  return {
    sample(index, sample: CollectedSample, dumpMicros) {
      const threads = new Map<number, Record<string, Record<string, string | number>[]>>();
      for (const row of sample.rows) {
        const section = byId.get(row.section)!;
        const perThread = threads.get(row.tid) ?? {};
        (perThread[row.section] ??= []).push(rowObject(section, row));
        threads.set(row.tid, perThread);
      }
      const data = {
        sample: index,
        time: new Date(dumpMicros / 1000).toISOString(),
        threads: [...threads].map(([tid, sectionsOfThread]) => ({ tid, name: threadName(tid), sections: sectionsOfThread })),
      };
      print(JSON.stringify({ type: 'sample', data }));
    },
    warnings(warnings) {
      for (const message of warnings) print(JSON.stringify({ type: 'warning', data: { message } }));
    },
  };
}
