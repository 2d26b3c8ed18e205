/** Text (the reference's layout) and NDJSON renderers for samples. */
import type { CollectedSample, } from '../driver/probe-set.js';
import type { SampleRenderer } from '../driver/sampler.js';
import { formatSyscallEvents, formatSystemSections, lostStacksNote, timestampLine, withThousands, writeStatistics } from './format.js';
import { TextBuffer } from './text-buffer.js';
import type { SectionSpec } from './manifest.js';

export function textRenderer(
  sections: SectionSpec[],
  threadName: (tid: number) => string,
  print: (line: string) => void,
  write: (bytes: Uint8Array) => void,
): SampleRenderer {
  return {
    sample(_index, sample, dumpMicros, _windowNs, triggerDeltaNs) {
      const header = triggerDeltaNs === undefined ? '# Sample dump' : `# Triggered sample dump, stop-start delta ${withThousands(triggerDeltaNs)} ns`;
      print(timestampLine(header, dumpMicros));
      const out = new TextBuffer();
      writeStatistics(out, { sections, tables: sample.tables, threadName });
      write(out.bytes());
      const system = formatSystemSections(sections, sample.tables);
      if (system.length) print(system.join('\n'));
      if (sample.notes?.length) print(['', ...sample.notes].join('\n'));
      if (sample.events?.length) {
        const { lines, lostStacks } = formatSyscallEvents(sample.events, threadName, sample.stacks ?? false);
        print(lines.join('\n'));
        if (lostStacks > 0) print(lostStacksNote(lostStacks).join('\n'));
      }
    },
    skipped(triggerDeltaNs, dumpMicros) {
      print(timestampLine(`# Sample dump skipped, delta ${withThousands(triggerDeltaNs)} ns`, dumpMicros));
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

/** One JSON object per line: {"type": "sample" | "warning", "data": ...}. */
export function jsonRenderer(sections: SectionSpec[], threadName: (tid: number) => string, print: (line: string) => void): SampleRenderer {
  return {
    sample(index, sample: CollectedSample, dumpMicros, windowNs, triggerDeltaNs) {
      const threads = new Map<number, Record<string, Record<string, string | number>[]>>();
      const system: Record<string, Record<string, string | number>[]> = {};
      for (const section of sections) {
        const table = sample.tables.get(section.id);
        if (!table) continue;
        const labelKey = section.columns[0].format === 'label' ? columnKey(section.columns[0].header) : undefined;
        const valueKeys = section.columns.filter((c) => c.format !== 'label').map((c) => columnKey(c.header));
        for (let row = 0; row < table.count; row++) {
          const record: Record<string, string | number> = {};
          if (labelKey) record[labelKey] = table.label(row) ?? '';
          valueKeys.forEach((key, i) => (record[key] = table.value(row, i)));
          if (section.scope === 'system') {
            (system[section.id] ??= []).push(record);
            continue;
          }
          const perThread = threads.get(table.tid(row)) ?? {};
          (perThread[section.id] ??= []).push(record);
          threads.set(table.tid(row), perThread);
        }
      }
      const data = {
        sample: index,
        time: new Date(dumpMicros / 1000).toISOString(),
        window_ns: windowNs,
        ...(triggerDeltaNs === undefined ? {} : { trigger_delta_ns: Number(triggerDeltaNs) }),
        threads: [...threads].map(([tid, sectionsOfThread]) => ({ tid, name: threadName(tid), sections: sectionsOfThread })),
        ...(Object.keys(system).length ? { system } : {}),
      };
      print(JSON.stringify({ type: 'sample', data }));
      for (const note of sample.notes ?? []) print(JSON.stringify({ type: 'unavailable', data: { message: note.replace(/^# /, '') } }));
      for (const e of sample.events ?? []) {
        print(JSON.stringify({
          type: 'syscall_event',
          data: {
            sample: index, entry_ns: e.entryNs.toString(), exit_ns: e.exitNs.toString(), tid: e.tid, comm: threadName(e.tid),
            syscall: e.name, number: e.nr, kernel_stack: e.kernelFrames ?? null, user_stack: e.userFrames ?? null,
          },
        }));
      }
    },
    skipped(triggerDeltaNs, dumpMicros) {
      print(JSON.stringify({ type: 'skipped', data: { time: new Date(dumpMicros / 1000).toISOString(), trigger_delta_ns: Number(triggerDeltaNs) } }));
    },
    warnings(warnings) {
      for (const message of warnings) print(JSON.stringify({ type: 'warning', data: { message } }));
    },
  };
}
