/** The text report as a sample sink: the reference's layout, or the `text` layout for a newcomer (text-style.ts). */
import type { SectionSpec } from '../bundle/manifest.js';
import type { SampleSink, UnavailableSection } from '../model/sample.js';
import { caughtHeaderLine, watchedFor, watchingLine } from './catch-report.js';
import { withThousands } from './integers.js';
import { accountsOf, type ByteWriter, incompleteLine, namesOf, type VerdictOptions } from './render-common.js';
import { writeStatistics } from './statistics.js';
import { formatSyscallEvents, lostStacksNote } from './syscall-events.js';
import { formatSystemSections } from './system-sections.js';
import { TextBuffer } from './text-buffer.js';
import { timestampLine } from './timestamps.js';
import { histogramBlock } from './histograms.js';
import { verdictLines } from './verdict.js';
import { idleLine, LEGEND_HINT, NONE_IN_WINDOW, noThreadRows, sectionsLeftOut, type TextStyle } from './text-style.js';

/** A section that could not be measured, as the text report says so. */
export function unavailableLine(note: UnavailableSection): string {
  return `# ${note.section}: not available (${note.reason})`;
}

/** Without a style (or with layout `reference`): kernel_delay.py's layout, byte for byte. */
export function textRenderer(
  allSections: SectionSpec[],
  nameNow: (tid: number) => string,
  print: (line: string) => void,
  write: ByteWriter,
  verdict?: VerdictOptions,
  style?: TextStyle,
): SampleSink {
  const text = style?.layout === 'text' ? style : undefined;
  const leftOut = text ? sectionsLeftOut(text.target.command) : { ids: new Set<string>(), titles: new Set<string>() };
  const sections = allSections.filter((s) => !leftOut.ids.has(s.id));
  let hint = text?.terminalHint;
  // One buffer for every sample's table while the writer lets go of its bytes:
  // a fresh ~1 MB buffer per sample of a few hundred threads was freed by the
  // garbage collector's threads, and glibc's arenas grew with the churn
  // (RSS +20% over 1,000 samples; npm run bench, memory).
  let reusable: TextBuffer | undefined;
  return {
    sample(_index, sample, dumpMicros, windowNs, triggerDeltaNs) {
      const threadName = namesOf(sample, nameNow, ' (exited)');
      if (sample.caught) print(caughtHeaderLine(sample.caught, threadName(sample.caught.tid)));
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
      const idle = text && noThreadRows(sections, sample.tables);
      if (idle) {
        const line = idleLine(sections, text.target, windowNs);
        if (line) print(line);
      } else {
        const out = reusable ?? new TextBuffer();
        out.clear();
        writeStatistics(out, { sections, tables: sample.tables, threadName, emptyLine: text && NONE_IN_WINDOW });
        reusable = write(out.bytes()) ? out : undefined;
      }
      const system = formatSystemSections(sections, sample.tables);
      if (system.length) print(system.join('\n'));
      const notes = sample.notes?.filter((note) => !leftOut.titles.has(note.section));
      if (notes?.length) print(['', ...notes.map(unavailableLine)].join('\n'));
      if (sample.events?.length) {
        const { lines, lostStacks } = formatSyscallEvents(sample.events, threadName, sample.stacks ?? false);
        print(lines.join('\n'));
        if (lostStacks > 0) print(lostStacksNote(lostStacks).join('\n'));
      }
      verdictBlock();
      // Once, after the first table a reader at a terminal sees.
      if (hint && !idle) {
        hint(LEGEND_HINT);
        hint = undefined;
      }
    },
    watching(what) {
      print(watchingLine(style?.target.pid ?? 0, watchedFor(what)));
    },
    skipped(triggerDeltaNs, dumpMicros) {
      print(timestampLine(`# Sample dump skipped, delta ${withThousands(triggerDeltaNs)} ns`, dumpMicros));
    },
    warnings(warnings) {
      for (const w of warnings) print(`\n# WARNING: ${w}`);
    },
  };
}
