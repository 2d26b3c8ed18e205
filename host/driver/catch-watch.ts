/**
 * Catch mode wired to the probes and the output: the impure side of
 * driver/catch-mode.ts. Slices are the ordinary windows of the probe set
 * (gate opened, closed, collected, reset); catches come from the catch
 * ring, renumbered and chosen like the report's threads (-t,
 * --thread-name); each is reported through the run's ordinary sink, the
 * merged sample carrying its window and the interval it was caught for
 * (model/sample.ts: SampleCatch).
 */
import type { SectionSpec } from '../bundle/manifest.js';
import type { CatchThresholds, SampleCatch, SampleSink } from '../model/sample.js';
import { mergeSamples } from '../report/merge-samples.js';
import type { CatchEvents } from './catch-events.js';
import { type CaughtInterval, runCatchMode } from './catch-mode.js';
import type { GateValue } from './gate.js';
import type { CollectedSample } from './probe-set.js';
import type { SamplerIO, SampleSource, WaitOutcome } from './sampler.js';

export interface CatchWatch {
  thresholds: CatchThresholds;
  /** Catches to report (Infinity: until Ctrl-C). */
  sampleCount: number;
  sections: SectionSpec[];
  events: CatchEvents;
  /** The ordinary window source: open, close, collect (with the thread selection), reset. */
  source: SampleSource;
  /** The gate as the last close() left it: the slice's edges. */
  gate(): GateValue;
  /** The report's number for a kernel thread id, or undefined when -t/--thread-name leave the thread out. */
  reportedTid(kernelTid: number): number | undefined;
  syscallName(nr: number): string;
  /** CLOCK_MONOTONIC now (stamped on each report, as the other modes do). */
  monotonicNs(): bigint;
  io: SamplerIO;
  sink: SampleSink;
}

export async function watchForCatches(w: CatchWatch): Promise<WaitOutcome> {
  const named = (c: CaughtInterval): SampleCatch => ({
    kind: c.kind,
    tid: c.tid,
    startNs: c.startNs,
    stopNs: c.stopNs,
    ...(c.kind === 'syscall' ? { syscall: { name: w.syscallName(c.nr), nr: c.nr } } : {}),
  });
  return runCatchMode<CollectedSample>(
    { sampleCount: w.sampleCount },
    {
      open: () => w.source.open(),
      close: () => {
        w.source.close();
        const gate = w.gate();
        return { startNs: gate.windowStartNs, stopNs: gate.windowStopNs };
      },
      collect: () => w.source.collect(),
      reset: () => w.source.reset(),
      caught: () =>
        w.events.take().flatMap((c) => {
          const tid = w.reportedTid(c.tid);
          return tid === undefined ? [] : [{ ...c, tid }];
        }),
      merge: (samples) => mergeSamples(w.sections, samples),
    },
    w.io,
    {
      watching: (dumpMicros) => w.sink.watching?.(w.thresholds, dumpMicros),
      caught(index, interval, sample, edges, measuredNs, dumpMicros) {
        const reported = { ...sample, caught: named(interval), window: { ...edges, dumpMonotonicNs: w.monotonicNs() } };
        // The time the slices measured (the window less the gaps between them): what the verdict's states add up to.
        w.sink.sample(index, reported, dumpMicros, measuredNs);
      },
      warnings: (warnings) => w.sink.warnings(warnings),
    },
  );
}
