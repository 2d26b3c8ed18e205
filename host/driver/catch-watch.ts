/**
 * Catch mode wired to the probes and the output: the impure side of
 * driver/catch-mode.ts. The gate opens once; each snapshot is the probe
 * set's collect of the open gate (ProbeSet.catchSnapshot), with the
 * thread selection; catches come from the catch ring, renumbered and
 * chosen like the report's threads (-t, --thread-name); each is reported
 * through the run's ordinary sink, the window's sample carrying its edges
 * and the interval it was caught for (model/sample.ts: SampleCatch).
 */
import type { SectionSpec } from '../bundle/manifest.js';
import type { CatchThresholds, SampleCatch, SampleSink } from '../model/sample.js';
import { differenceOfSamples } from '../report/merge-samples.js';
import { AccountLife } from '../bundle/accounting-contract.js';
import type { CatchEvents } from './catch-events.js';
import { type CaughtInterval, runCatchMode, type Snapshot } from './catch-mode.js';
import type { CollectedSample } from './probe-set.js';
import type { SamplerIO, WaitOutcome } from './sampler.js';

export interface CatchWatch {
  thresholds: CatchThresholds;
  /** Catches to report (Infinity: until Ctrl-C). */
  sampleCount: number;
  sections: SectionSpec[];
  events: CatchEvents;
  /** Opens the gate for the whole watch; returns when it opened (CLOCK_MONOTONIC ns). */
  open(): bigint;
  /** The probes' cumulative counts since the gate opened, as of now, with the thread selection. */
  snapshot(): Snapshot<CollectedSample>;
  /** The report's number for a kernel thread id, or undefined when -t/--thread-name leave the thread out. */
  reportedTid(kernelTid: number): number | undefined;
  syscallName(nr: number): string;
  /** CLOCK_MONOTONIC now (stamped on each report, as the other modes do). */
  monotonicNs(): bigint;
  io: SamplerIO;
  sink: SampleSink;
}

/**
 * The account's rows for the part of a window a thread had not been born
 * yet (ACCOUNT_BEFORE_BIRTH) count from the gate's opening in a snapshot:
 * in a window [before, after] the thread born at b < after lived from b, so
 * its row is (b - open) less (before - open), never below zero.
 */
function bornInWindow(sample: CollectedSample, openedNs: bigint, before: bigint): void {
  const account = sample.tables.get('account');
  if (!account) return;
  const since = Number(before - openedNs);
  for (let r = 0; r < account.count; r++) {
    if (account.value(r, 0) === AccountLife.ACCOUNT_BEFORE_BIRTH) account.setValue(r, 3, Math.max(0, account.value(r, 3) - since));
  }
}

export async function watchForCatches(w: CatchWatch): Promise<WaitOutcome> {
  const named = (c: CaughtInterval): SampleCatch => ({
    kind: c.kind,
    tid: c.tid,
    startNs: c.startNs,
    stopNs: c.stopNs,
    ...(c.kind === 'syscall' ? { syscall: { name: w.syscallName(c.nr), nr: c.nr } } : {}),
  });
  let openedNs = 0n;
  return runCatchMode<CollectedSample>(
    { sampleCount: w.sampleCount },
    {
      open: () => (openedNs = w.open()),
      snapshot: () => w.snapshot(),
      caught: () =>
        w.events.take().flatMap((c) => {
          const tid = w.reportedTid(c.tid);
          return tid === undefined ? [] : [{ ...c, tid }];
        }),
      difference: (before, after, between) => {
        const sample = differenceOfSamples(
          w.sections,
          before.sample,
          after.sample!,
          between.flatMap((s) => s.sample ?? []),
        ) as CollectedSample;
        bornInWindow(sample, openedNs, before.atNs);
        return sample;
      },
    },
    w.io,
    {
      watching: (dumpMicros) => w.sink.watching?.(w.thresholds, dumpMicros),
      caught(index, interval, sample, edges, dumpMicros) {
        const reported = { ...sample, caught: named(interval), window: { ...edges, dumpMonotonicNs: w.monotonicNs() } };
        // The gate stayed open: the window's accounts add up to its whole length.
        w.sink.sample(index, reported, dumpMicros, Number(edges.stopNs - edges.startNs));
      },
      warnings: (warnings) => w.sink.warnings(warnings),
    },
  );
}
