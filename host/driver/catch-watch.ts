/**
 * Catch mode wired to the probes and the report: the impure side of
 * driver/catch-mode.ts. Slices are the ordinary windows of the probe set
 * (gate opened, closed, collected, reset); catches come from the catch
 * ring, renumbered and chosen like the report's threads (-t,
 * --thread-name); each is reported through the ordinary renderers, after a
 * header line (text) or with a `catch` object (JSON).
 */
import type { SectionSpec } from '../bundle/manifest.js';
import { caughtHeaderLine, catchJson, type ReportedCatch, watchedFor, watchingLine, watchingRecord } from '../report/catch-report.js';
import { mergeSamples } from '../report/merge-samples.js';
import type { SampleRenderer } from '../report/sample.js';
import type { CatchEvents } from './catch-events.js';
import { type CaughtInterval, runCatchMode } from './catch-mode.js';
import type { GateValue } from './gate.js';
import type { CollectedSample } from './probe-set.js';
import type { SamplerIO, SampleSource, WaitOutcome } from './sampler.js';

export interface CatchWatch {
  pid: number;
  json: boolean;
  longPollMs?: number;
  syscallMs?: number;
  /** Catches to report (Infinity: until Ctrl-C). */
  sampleCount: number;
  sections: SectionSpec[];
  events: CatchEvents;
  /** The ordinary window source (close, collect with the thread selection, reset); slices are opened through `open`. */
  source: SampleSource;
  /** Opens the gate now (driver/gate.ts). */
  open(): void;
  /** The gate as the last close() left it: the slice's edges. */
  gate(): GateValue;
  /** The report's number for a kernel thread id, or undefined when -t/--thread-name leave the thread out. */
  reportedTid(kernelTid: number): number | undefined;
  syscallName(nr: number): string;
  threadName(tid: number): string;
  print(line: string): void;
  io: SamplerIO;
  /** The ordinary renderer, reporting the window and catch these return. */
  renderer(context: { window(): { startNs: bigint; stopNs: bigint }; caught(): Record<string, unknown> | undefined }): SampleRenderer;
}

export async function watchForCatches(w: CatchWatch): Promise<WaitOutcome> {
  let window = { startNs: 0n, stopNs: 0n };
  let current: ReportedCatch | undefined;
  const renderer = w.renderer({ window: () => window, caught: () => current && catchJson(current) });
  const reported = (c: CaughtInterval): ReportedCatch => ({ ...c, ...(c.kind === 'syscall' ? { syscall: { name: w.syscallName(c.nr), nr: c.nr } } : {}) });
  return runCatchMode<CollectedSample>(
    { sampleCount: w.sampleCount },
    {
      open: () => w.open(),
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
      watching(dumpMicros) {
        if (w.json) w.print(watchingRecord(w.pid, w.longPollMs, w.syscallMs, dumpMicros));
        else w.print(watchingLine(w.pid, watchedFor(w.longPollMs, w.syscallMs)));
      },
      caught(index, interval, sample, edges, measuredNs, dumpMicros) {
        window = edges;
        current = reported(interval);
        if (!w.json) w.print(caughtHeaderLine(current, w.threadName(interval.tid)));
        // The time the slices measured (the window less the gaps between them): what the verdict's states add up to.
        renderer.sample(index, sample, dumpMicros, measuredNs);
        current = undefined;
      },
      warnings: (warnings) => renderer.warnings(warnings),
    },
  );
}
