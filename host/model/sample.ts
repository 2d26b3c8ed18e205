/**
 * One sample as everything after the probes sees it: the sample model that
 * the runtime fills (section tables), the driver completes (events, notes,
 * exited threads, the window's clock readings) and every output reads (text
 * report, NDJSON, and whatever sink comes next). Below report/ and runtime/
 * so that neither depends on the other. Data only: a sample, once made,
 * carries everything needed to render it again byte for byte.
 */
import type { SampleTables } from './section-table.js';

/** What the events table needs of one slow syscall (the driver's SyscallEvent is one). */
export interface EventLine {
  entryNs: bigint;
  exitNs: bigint;
  tid: number;
  name: string;
  kernelFrames?: string[];
  userFrames?: string[];
  /** With stacks, a call that went off the CPU blocked: where it waited longest. */
  blocked?: BlockedAt;
}

/**
 * Where a slow call blocked (probes/syscalls/syscalls.bpf.c, syscall_blocked):
 * of the times it left the CPU blocked, the longest stretch and the kernel
 * stack at that switch-out (schedule <- pipe_read <- vfs_read, say).
 */
export interface BlockedAt {
  /** The longest stretch off the CPU (one whose switch back in the kernel did not report ends at the call's exit: syscalls.bpf.c post_event). */
  ns: bigint;
  /** Blocking switch-outs during the call. */
  count: number;
  /** The kernel stack at that stretch's switch-out, innermost first; undefined when it was lost. */
  kernelFrames?: string[];
}

/** One slow syscall as the report prints it (text table and NDJSON record). */
export interface ReportedSyscallEvent extends EventLine {
  /** The syscall's number in the target's ABI. */
  nr: number;
}

/**
 * The window on CLOCK_MONOTONIC (the gate's clock), and that clock when the
 * sample was dumped: read by the driver, so a renderer reads no clock and a
 * recorded sample places its window on the wall clock as the live run did.
 */
export interface SampleWindow {
  startNs: bigint;
  stopNs: bigint;
  /** CLOCK_MONOTONIC when the sample was dumped (read with the dump's wall-clock time). */
  dumpMonotonicNs: bigint;
}

/**
 * One histogram of the probe that provides "accounting" (report_histograms,
 * --hist): (tid, kind, nr) and its log2 buckets, slot s for [2^s, 2^(s+1))
 * ns. kind is the accounting contract's enum account_hist
 * (bundle/accounting-contract.ts); report/accounts.ts reads them.
 */
export interface ThreadHistogram {
  tid: number;
  kind: number;
  /** ACCOUNT_HIST_SYSCALL: the system call. */
  nr: number;
  slots: ArrayLike<number>;
}

/** A section that could not be measured: the text report prints "# SECTION: not available (REASON)", NDJSON an "unavailable" record. */
export interface UnavailableSection {
  /** The section's title. */
  section: string;
  /** Why, in printable text. */
  reason: string;
}

/**
 * Catch mode (driver/catch-mode.ts): the interval a reported window was
 * caught for. Times are CLOCK_MONOTONIC ns; kind 'syscall' names its call.
 */
export interface SampleCatch {
  kind: 'long_poll' | 'syscall';
  tid: number;
  startNs: bigint;
  stopNs: bigint;
  syscall?: { name: string; nr: number };
}

/** What catch mode watches for (thresholds in ms; undefined: that kind is not caught). */
export interface CatchThresholds {
  longPollMs?: number;
  syscallMs?: number;
}

export interface ReportSample {
  tables: SampleTables;
  /** With --hist: the accounting probe's histograms, as it reported them. */
  histograms?: ThreadHistogram[];
  warnings: string[];
  /** The sections that could not be measured, and why. */
  notes?: UnavailableSection[];
  /** With --syscall-events: the slow syscalls of the window, in arrival order. */
  events?: ReportedSyscallEvent[];
  /** Whether events carry stacks (--stack-trace-size > 0). */
  stacks?: boolean;
  /** Threads the kernel saw exit (by the tid the report prints), with the name each exited with. */
  exited?: Map<number, string>;
  /** The window's clock readings, stamped by the driver before the sample is rendered. */
  window?: SampleWindow;
  /** Catch mode: the interval this window was caught for. */
  caught?: SampleCatch;
}

/** What ended a sampling window before its time. */
export type WindowEnd = 'interrupted' | 'target-exited';

/**
 * Where samples go: the sampling loop (driver/sampler.ts) calls these, in
 * this order, for every run: windowOpened? and sample or skipped per
 * window, then warnings once at the end. Times come in as arguments
 * (dumpMicros: the wall clock, in microseconds since the epoch, when the
 * sample was dumped), never read by the sink. report/sinks.ts lists the
 * sinks an output format chooses from (ARCHITECTURE.md, "Output sinks").
 */
export interface SampleSink {
  /**
   * One sample's report (dump header and tables); windowNs is the window's
   * exact length; triggerDeltaNs is set when both triggers fired; ended
   * says what ended the window early, if anything did.
   */
  sample(index: number, sample: ReportSample, dumpMicros: number, windowNs: number, triggerDeltaNs?: bigint, ended?: WindowEnd): void;
  /**
   * Time mode's window `index` is open (the text report prints "# Start
   * sampling" instead): whoever waits for it to start a workload may go.
   */
  windowOpened?(index: number, dumpMicros: number): void;
  /**
   * Catch mode: the probes are attached and watching for these (the text
   * report prints "# Watching ..."): whoever waits for it to start a
   * workload may go.
   */
  watching?(what: CatchThresholds, dumpMicros: number): void;
  /** A triggered sample shorter than --trigger-delta was not reported. */
  skipped(triggerDeltaNs: bigint, dumpMicros: number): void;
  /**
   * The sampling loop's own line ("# Start sampling", "# Stop sampling
   * (trigger@N)"), at micros: the loop prints it for the text report; a
   * sink that records the run keeps it (report/recording/).
   */
  progress?(message: string, micros: number): void;
  /** End-of-run warnings (merged across samples). */
  warnings(warnings: string[]): void;
}
