/**
 * Catch mode (--catch-long-poll, --catch-syscall): kdelay stays attached and
 * reports only the windows that hold a long poll interval or a long system
 * call. The probes measure in short slices (a window of SLICE_MS, collected
 * and cleared, then the next), kept in a ring for KEEP_MS; the syscalls
 * probe posts each long interval when it ends, and once the slice holding
 * its end has closed, the slices covering it are merged into one window
 * (report/merge-samples.ts) and reported. Side effects come in through
 * CatchSource and SamplerIO, so the loop is tested without BPF
 * (test/unit/catch-mode.test.ts).
 */
import type { ReportSample } from '../model/sample.js';
import { mergeWarnings, type SamplerIO, type WaitOutcome } from './sampler.js';

/** One slice's length: short enough that a caught window is at most this much longer than its interval on each side. */
export const SLICE_MS = 100;
/** How far back the slices reach: a caught interval longer than this is reported from the oldest slice on, with a warning. */
export const KEEP_MS = 30_000;

/** An interval the kernel caught, in the report's thread numbers. */
export interface CaughtInterval {
  kind: 'long_poll' | 'syscall';
  tid: number;
  /** The system call (kind 'syscall'), or the poll() call that ended the interval. */
  nr: number;
  /** CLOCK_MONOTONIC ns: return of the poll() that began it / entry of the call. */
  startNs: bigint;
  /** Entry of the poll() that ended it / return of the call. */
  stopNs: bigint;
}

/** One measured slice: its window's edges (CLOCK_MONOTONIC ns) and what the probes saw in it. */
export interface Slice<S> {
  startNs: bigint;
  stopNs: bigint;
  sample: S;
}

/**
 * The slices of the last keepNs, oldest first. Consecutive slices leave a
 * gap between them (the few ms a slice is collected in, when the gate is
 * closed), which no slice covers.
 */
export class SliceRing<S> {
  private slices: Slice<S>[] = [];

  constructor(readonly keepNs: bigint) {}

  get length(): number {
    return this.slices.length;
  }

  /** Adds the slice that just closed, and forgets those that ended more than keepNs before it. */
  push(slice: Slice<S>): void {
    this.slices.push(slice);
    const horizon = slice.stopNs - this.keepNs;
    let old = 0;
    while (old < this.slices.length - 1 && this.slices[old].stopNs < horizon) old++;
    if (old) this.slices = this.slices.slice(old);
  }

  /**
   * The slices a window covering [startNs, stopNs] is made of: from the last
   * one that began at or before startNs to the first that ended at or after
   * stopNs. undefined while no slice has ended at stopNs yet; `complete`
   * false when startNs is older than every slice kept.
   */
  cover(startNs: bigint, stopNs: bigint): { slices: Slice<S>[]; complete: boolean } | undefined {
    const last = this.slices.findIndex((s) => s.stopNs >= stopNs);
    if (last < 0) return undefined;
    let first = -1;
    for (let i = last; i >= 0; i--) {
      if (this.slices[i].startNs <= startNs) {
        first = i;
        break;
      }
    }
    return { slices: this.slices.slice(Math.max(first, 0), last + 1), complete: first >= 0 };
  }
}

export interface CatchSource<S extends ReportSample> {
  /** Opens the next slice now. */
  open(): void;
  /** Closes the slice; returns its exact edges. */
  close(): { startNs: bigint; stopNs: bigint };
  collect(): S;
  /** Clears the statistics for the next slice. */
  reset(): void;
  /** The intervals caught since the last call, of the threads reported. */
  caught(): CaughtInterval[];
  /** Several slices' samples as one window's (report/merge-samples.ts). */
  merge(samples: S[]): S;
}

export interface CatchRenderer<S extends ReportSample> {
  /** The probes are attached and the first slice is open: a workload may start. */
  watching(dumpMicros: number): void;
  /**
   * One caught interval's report: index counts catches (1, 2, ...); window is
   * the merged slices' edges, covering the interval unless a warning says
   * otherwise; measuredNs the slices' lengths added up (the window less the
   * gaps between slices, in which the probes were collected).
   */
  caught(index: number, interval: CaughtInterval, sample: S, window: { startNs: bigint; stopNs: bigint }, measuredNs: number, dumpMicros: number): void;
  warnings(warnings: string[]): void;
}

export interface CatchModeOptions {
  /** Stop after this many catches (Infinity: until Ctrl-C). */
  sampleCount: number;
  sliceMs?: number;
  keepMs?: number;
}

/** The warning of a window that could not reach back to its interval's start. */
export function truncatedWarning(keepMs: number): string {
  return `the interval began before the oldest slice kept (${keepMs / 1000} s ago): the window covers only its end`;
}

/**
 * Watches slice after slice until sampleCount catches were reported, the
 * target exited (the catches its last slice covers are still reported) or
 * Ctrl-C, which ends the run with nothing more printed.
 */
export async function runCatchMode<S extends ReportSample>(opts: CatchModeOptions, source: CatchSource<S>, io: SamplerIO, render: CatchRenderer<S>): Promise<WaitOutcome> {
  const sliceMs = opts.sliceMs ?? SLICE_MS;
  const keepMs = opts.keepMs ?? KEEP_MS;
  const ring = new SliceRing<S>(BigInt(keepMs) * 1_000_000n);
  const warnings: string[] = [];
  let pending: CaughtInterval[] = [];
  let reported = 0;
  source.open();
  render.watching(io.nowMicros());
  for (;;) {
    const outcome = await io.wait(sliceMs);
    if (outcome === 'interrupted') return outcome;
    const edges = source.close();
    const sample = source.collect();
    source.reset();
    // The next slice opens before anything is merged or printed: the gap no slice covers is only the collection's.
    if (outcome === 'elapsed') source.open();
    ring.push({ ...edges, sample });
    pending.push(...source.caught());
    const waiting: CaughtInterval[] = [];
    for (const interval of pending) {
      const cover = reported < opts.sampleCount ? ring.cover(interval.startNs, interval.stopNs) : undefined;
      if (!cover) {
        waiting.push(interval);
        continue;
      }
      const merged = source.merge(cover.slices.map((s) => s.sample));
      if (!cover.complete) merged.warnings.push(truncatedWarning(keepMs));
      warnings.push(...merged.warnings);
      reported++;
      const measuredNs = cover.slices.reduce((sum, s) => sum + Number(s.stopNs - s.startNs), 0);
      render.caught(reported, interval, merged, { startNs: cover.slices[0].startNs, stopNs: cover.slices[cover.slices.length - 1].stopNs }, measuredNs, io.nowMicros());
    }
    pending = waiting;
    if (reported >= opts.sampleCount || outcome === 'target-exited') {
      render.warnings(mergeWarnings(warnings));
      return outcome;
    }
    if (await io.interrupted?.()) return 'interrupted';
  }
}
