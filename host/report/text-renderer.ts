/** The text report (the reference's layout) as a sample sink. */
import type { SectionSpec } from '../bundle/manifest.js';
import type { SampleSink, UnavailableSection } from '../model/sample.js';
import { withThousands } from './integers.js';
import { accountsOf, type ByteWriter, incompleteLine, namesOf, type VerdictOptions } from './render-common.js';
import { writeStatistics } from './statistics.js';
import { formatSyscallEvents, lostStacksNote } from './syscall-events.js';
import { formatSystemSections } from './system-sections.js';
import { TextBuffer } from './text-buffer.js';
import { timestampLine } from './timestamps.js';
import { histogramBlock } from './histograms.js';
import { verdictLines } from './verdict.js';

/** A section that could not be measured, as the text report says so. */
export function unavailableLine(note: UnavailableSection): string {
  return `# ${note.section}: not available (${note.reason})`;
}

export function textRenderer(sections: SectionSpec[], nameNow: (tid: number) => string, print: (line: string) => void, write: ByteWriter, verdict?: VerdictOptions): SampleSink {
  // One buffer for every sample's table while the writer lets go of its bytes:
  // a fresh ~1 MB buffer per sample of a few hundred threads was freed by the
  // garbage collector's threads, and glibc's arenas grew with the churn
  // (RSS +20% over 1,000 samples; npm run bench, memory).
  let reusable: TextBuffer | undefined;
  return {
    sample(_index, sample, dumpMicros, windowNs, triggerDeltaNs) {
      const threadName = namesOf(sample, nameNow, ' (exited)');
      const header = triggerDeltaNs === undefined ? '# Sample dump' : `# Triggered sample dump, stop-start delta ${withThousands(triggerDeltaNs)} ns`;
      print(timestampLine(header, dumpMicros));
      for (const w of sample.warnings) print(incompleteLine(w));
      const accounts = accountsOf(sample, windowNs, threadName, verdict);
      const verdictBlock = () => {
        if (!accounts) return;
        print(verdictLines(accounts, windowNs).join('\n'));
        if (verdict?.histograms) {
          const hist = histogramBlock(accounts);
          if (hist.length) print(hist.join('\n'));
        }
      };
      if (verdict?.only) {
        verdictBlock();
        return;
      }
      const out = reusable ?? new TextBuffer();
      out.clear();
      writeStatistics(out, { sections, tables: sample.tables, threadName });
      reusable = write(out.bytes()) ? out : undefined;
      const system = formatSystemSections(sections, sample.tables);
      if (system.length) print(system.join('\n'));
      if (sample.notes?.length) print(['', ...sample.notes.map(unavailableLine)].join('\n'));
      if (sample.events?.length) {
        const { lines, lostStacks } = formatSyscallEvents(sample.events, threadName, sample.stacks ?? false);
        print(lines.join('\n'));
        if (lostStacks > 0) print(lostStacksNote(lostStacks).join('\n'));
      }
      verdictBlock();
    },
    skipped(triggerDeltaNs, dumpMicros) {
      print(timestampLine(`# Sample dump skipped, delta ${withThousands(triggerDeltaNs)} ns`, dumpMicros));
    },
    warnings(warnings) {
      for (const w of warnings) print(`\n# WARNING: ${w}`);
    },
  };
}
