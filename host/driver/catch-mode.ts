/**
 * Catch mode (--catch-long-poll, --catch-syscall): kdelay stays attached and
 * reports only the windows that hold a long poll interval or a long system
 * call. The gate opens once and never closes while watching, so the probes
 * count without a gap; every SNAPSHOT_MS the host takes a snapshot of their
 * cumulative counts (each probe's collect of the open gate, a stretch still
 * in progress evaluated up to the snapshot's time: lib/kdelay.ts
 * GateSnapshot), kept for KEEP_MS. The syscalls probe posts each long
 * interval when it ends; once a snapshot at or after its end exists, its
 * window is the difference of the snapshots around it
 * (report/merge-samples.ts: differenceOfSamples), so a stretch that began
 * before the interval and one still going on at its end are charged exactly
 * to their state, up to the window's edges. Side effects come in through
 * CatchSource and SamplerIO, so the loop is tested without BPF
 * (test/unit/catch-mode.test.ts).
 */
import type { ReportSample } from '../model/sample.js';
import { mergeWarnings, type SamplerIO, type WaitOutcome } from './sampler.js';

/** Between snapshots: a caught window is at most this much longer than its interval on each side. */
export const SNAPSHOT_MS = 100;
/** How far back the snapshots reach: a caught interval that began earlier is reported from the oldest kept, with a warning. */
export const KEEP_MS = 30_000;
/**
 * Snapshots older than this are thinned to one a second (a snapshot holds
 * every thread seen since watching began: 300 of a 2,000-thread target's
 * would be hundreds of MB): a window for an interval that began earlier may
 * reach up to a second before it.
 */
export const DENSE_MS = 2_000;
const THIN_NS = 1_000_000_000n;

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

/** The probes' cumulative counts since the gate opened, as of atNs (CLOCK_MONOTONIC); the first snapshot, at the opening, has none. */
export interface Snapshot<S> {
  atNs: bigint;
  sample: S | undefined;
}

/** The snapshots of the last keepNs, oldest first. */
export class SnapshotRing<S> {
  private snapshots: Snapshot<S>[] = [];

  constructor(
    readonly keepNs: bigint,
    readonly denseNs = BigInt(DENSE_MS) * 1_000_000n,
  ) {}

  get length(): number {
    return this.snapshots.length;
  }

  /**
   * Adds the snapshot just taken, forgets those older than keepNs before it
   * (keeping one at or before the horizon), and keeps one a second (the
   * first of each) of those older than denseNs.
   */
  push(snapshot: Snapshot<S>): void {
    this.snapshots.push(snapshot);
    const horizon = snapshot.atNs - this.keepNs;
    let old = 0;
    while (old < this.snapshots.length - 2 && this.snapshots[old + 1].atNs <= horizon) old++;
    const dense = snapshot.atNs - this.denseNs;
    let lastSecond = -1n;
    this.snapshots = this.snapshots.slice(old).filter((s) => {
      if (s.atNs >= dense) return true;
      const second = s.atNs / THIN_NS;
      if (second === lastSecond) return false;
      lastSecond = second;
      return true;
    });
  }

  /**
   * The snapshots a window covering [startNs, stopNs] lies between: the
   * last taken at or before startNs and the first at or after stopNs, with
   * those in between. undefined while none was taken at or after stopNs;
   * `complete` false when startNs is older than every snapshot kept.
   */
  around(startNs: bigint, stopNs: bigint): { before: Snapshot<S>; between: Snapshot<S>[]; after: Snapshot<S>; complete: boolean } | undefined {
    const last = this.snapshots.findIndex((s) => s.atNs >= stopNs);
    if (last < 0) return undefined;
    let first = -1;
    for (let i = last; i >= 0; i--) {
      if (this.snapshots[i].atNs <= startNs) {
        first = i;
        break;
      }
    }
    const from = Math.max(first, 0);
    return { before: this.snapshots[from], between: this.snapshots.slice(from + 1, last + 1), after: this.snapshots[last], complete: first >= 0 };
  }
}

export interface CatchSource<S extends ReportSample> {
  /** Opens the gate now, for the whole watch; returns the time it opened. */
  open(): bigint;
  /** The probes' cumulative counts now (the gate stays open). */
  snapshot(): Snapshot<S>;
  /** The intervals caught since the last call, of the threads reported. */
  caught(): CaughtInterval[];
  /** What happened between two snapshots, as one window's sample (report/merge-samples.ts). */
  difference(before: Snapshot<S>, after: Snapshot<S>, between: Snapshot<S>[]): S;
}

export interface CatchRenderer<S extends ReportSample> {
  /** The probes are attached and the gate is open: a workload may start. */
  watching(dumpMicros: number): void;
  /**
   * One caught interval's report: index counts catches (1, 2, ...); window is
   * the edges of the snapshots around it, covering the interval unless a
   * warning says otherwise (the sample's accounts add up to its length).
   */
  caught(index: number, interval: CaughtInterval, sample: S, window: { startNs: bigint; stopNs: bigint }, dumpMicros: number): void;
  warnings(warnings: string[]): void;
}

export interface CatchModeOptions {
  /** Stop after this many catches (Infinity: until Ctrl-C). */
  sampleCount: number;
  snapshotMs?: number;
  keepMs?: number;
}

/** The warning of a window that could not reach back to its interval's start. */
export function truncatedWarning(keepMs: number): string {
  return `the interval began before the oldest snapshot kept (${keepMs / 1000} s ago) or before kdelay began watching: the window covers only its end`;
}

/**
 * Watches snapshot after snapshot until sampleCount catches were reported,
 * the target exited (the catches its last snapshot covers are still
 * reported) or Ctrl-C, which ends the run with nothing more printed.
 */
export async function runCatchMode<S extends ReportSample>(opts: CatchModeOptions, source: CatchSource<S>, io: SamplerIO, render: CatchRenderer<S>): Promise<WaitOutcome> {
  const snapshotMs = opts.snapshotMs ?? SNAPSHOT_MS;
  const keepMs = opts.keepMs ?? KEEP_MS;
  const ring = new SnapshotRing<S>(BigInt(keepMs) * 1_000_000n);
  const warnings: string[] = [];
  let pending: CaughtInterval[] = [];
  let reported = 0;
  ring.push({ atNs: source.open(), sample: undefined });
  render.watching(io.nowMicros());
  for (;;) {
    const outcome = await io.wait(snapshotMs);
    if (outcome === 'interrupted') return outcome;
    // The catches first: every interval that ended before this snapshot is then covered by it.
    pending.push(...source.caught());
    ring.push(source.snapshot());
    const waiting: CaughtInterval[] = [];
    for (const interval of pending) {
      const around = reported < opts.sampleCount ? ring.around(interval.startNs, interval.stopNs) : undefined;
      if (!around) {
        waiting.push(interval);
        continue;
      }
      const sample = source.difference(around.before, around.after, around.between);
      if (!around.complete) sample.warnings.push(truncatedWarning(keepMs));
      warnings.push(...sample.warnings);
      reported++;
      render.caught(reported, interval, sample, { startNs: around.before.atNs, stopNs: around.after.atNs }, io.nowMicros());
    }
    pending = waiting;
    if (reported >= opts.sampleCount || outcome === 'target-exited') {
      render.warnings(mergeWarnings(warnings));
      return outcome;
    }
    if (await io.interrupted?.()) return 'interrupted';
  }
}
