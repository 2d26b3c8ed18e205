/**
 * What the report is given for one sample: the report's own vocabulary, so
 * that report/ depends on no layer above it. The driver's CollectedSample
 * is one of these.
 */
import type { EventLine } from './format.js';
import type { SampleTables } from './section-table.js';

/** One slow syscall as the report prints it (text table and NDJSON record). */
export interface ReportedSyscallEvent extends EventLine {
  /** The syscall's number in the target's ABI. */
  nr: number;
}

export interface ReportSample {
  tables: SampleTables;
  warnings: string[];
  /** One line per section that could not be measured: "# TITLE: not available (why)". */
  notes?: string[];
  /** With --syscall-events: the slow syscalls of the window, in arrival order. */
  events?: ReportedSyscallEvent[];
  /** Whether events carry stacks (--stack-trace-size > 0). */
  stacks?: boolean;
  /** Threads the kernel saw exit (by the tid the report prints), with the name each exited with. */
  exited?: Map<number, string>;
}

/** What ended a sampling window before its time. */
export type WindowEnd = 'interrupted' | 'target-exited';

export interface SampleRenderer {
  /**
   * Prints one sample's report (dump header and tables); windowNs is the
   * window's exact length; triggerDeltaNs is set when both triggers fired;
   * ended says what ended the window early, if anything did.
   */
  sample(index: number, sample: ReportSample, dumpMicros: number, windowNs: number, triggerDeltaNs?: bigint, ended?: WindowEnd): void;
  /**
   * Time mode's window `index` is open (the text report prints "# Start
   * sampling" instead): whoever waits for it to start a workload may go.
   */
  windowOpened?(index: number, dumpMicros: number): void;
  /** A triggered sample shorter than --trigger-delta was not reported. */
  skipped(triggerDeltaNs: bigint, dumpMicros: number): void;
  /** Prints end-of-run warnings. */
  warnings(warnings: string[]): void;
}
