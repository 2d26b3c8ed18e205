/**
 * The output formats, one entry each: what `--format` (`text`, the default;
 * `reference`, kernel_delay.py's layout; `json`, also `--json`) turns into a
 * SampleSink. A new output (HTML, OpenMetrics, a recorder that
 * writes every sample to a file) is one module implementing SampleSink
 * (model/sample.ts) and one entry here; the driver picks an entry by name
 * and knows nothing else of it (ARCHITECTURE.md, "Output sinks").
 */
import type { SectionSpec } from '../bundle/manifest.js';
import type { SampleSink } from '../model/sample.js';
import { jsonRenderer } from './json-renderer.js';
import type { ByteWriter, VerdictOptions } from './render-common.js';
import { textRenderer } from './text-renderer.js';

/** What the driver gives a sink once per run. Clock readings come with each sample, never from here. */
export interface SinkContext {
  /** The running probes' sections (their manifests'), in any order. */
  sections: SectionSpec[];
  /** A thread's name now (from /proc), printable; a sample's exited threads carry their own. */
  threadName: (tid: number) => string;
  /** Writes one line to stdout. */
  print: (line: string) => void;
  /** Writes bytes to stdout; true when they left the process before returning (the buffer may be reused). */
  write: ByteWriter;
  /** The target, as the user's PID namespace numbers it, and its name (comm) when the run began. */
  target: { pid: number; command: string };
  /** With the accounting probe: what the verdict needs; undefined: no verdict. */
  verdict?: VerdictOptions;
  /** Writes a line for a reader at a terminal (stderr); undefined when the output is not read on one. */
  terminalHint?: (line: string) => void;
}

export interface OutputFormat {
  /**
   * Whether the sampling loop prints its "# Start sampling" / "# Stop
   * sampling" lines on stdout (the reference's text report does); false
   * leaves stdout to the sink alone.
   */
  progressLines: boolean;
  create(context: SinkContext): SampleSink;
}

export const OUTPUT_FORMATS = {
  text: {
    progressLines: true,
    create: ({ sections, threadName, print, write, verdict, target, terminalHint }) =>
      textRenderer(sections, threadName, print, write, verdict, { layout: 'text', target, terminalHint }),
  },
  reference: {
    progressLines: true,
    create: ({ sections, threadName, print, write, verdict, target }) => textRenderer(sections, threadName, print, write, verdict, { layout: 'reference', target }),
  },
  json: {
    progressLines: false,
    create: ({ sections, threadName, print, target, verdict }) => jsonRenderer(sections, threadName, print, target, verdict),
  },
} satisfies Record<string, OutputFormat>;

export type OutputFormatName = keyof typeof OUTPUT_FORMATS;
