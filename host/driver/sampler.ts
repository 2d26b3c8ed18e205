/**
 * The sampling loop. Side effects come in through SampleSource (the kernel)
 * and SamplerIO (clock, waiting, output), so the loop itself is tested
 * without BPF (test/unit/sampler.test.ts).
 */
import { timestampLine } from '../report/timestamps.js';
import type { SampleSink, WindowEnd } from '../model/sample.js';
import type { CollectedSample } from './probe-set.js';
import type { TriggerHit } from './trigger-events.js';
import type { ProgressState } from './progress.js';

export type { SampleSink };

export type WaitOutcome = 'elapsed' | WindowEnd;

export interface SampleSource {
  /** Opens the capture window now. */
  open(): void;
  /** Closes the window; statistics stop changing. Returns its exact length in ns. */
  close(): number;
  collect(): CollectedSample;
  /** Clears statistics and makes the gate idle for the next window. */
  reset(): void;
}

export interface SamplerIO {
  nowMicros(): number;
  /** Resolves after ms, or earlier on Ctrl-C/SIGTERM or when the target exits. */
  wait(ms: number): Promise<WaitOutcome>;
  print(line: string): void;
  /**
   * Lets signals that arrived while a report was formatted be handled, and
   * says whether one asked to stop: the next window must not open then.
   */
  interrupted?(): Promise<boolean>;
  /** What the loop waits for now, for a progress line on a terminal (driver/progress.ts); undefined: erase it, output follows. */
  progress?(state: ProgressState | undefined): void;
}

/**
 * One warning per kind for the whole run: samples that warn with the same
 * words (numbers aside) are merged and their numbers added up, so events
 * dropped in three samples are one "N were dropped" with the total, as the
 * reference prints it.
 */
export function mergeWarnings(warnings: readonly string[]): string[] {
  const merged = new Map<string, number[]>();
  for (const w of warnings) {
    const template = w.replace(/\d+/g, '\0');
    const numbers = (w.match(/\d+/g) ?? []).map(Number);
    const sums = merged.get(template);
    merged.set(template, sums ? sums.map((n, i) => n + numbers[i]) : numbers);
  }
  return [...merged].map(([template, sums]) => {
    let i = 0;
    return template.replace(/\0/g, () => String(sums[i++]));
  });
}

/**
 * The loop's own lines ("# Start sampling", "# Stop sampling (trigger@N)"):
 * printed unless quiet (the text report prints them, NDJSON does not), and
 * given to the sink either way (a recorder keeps them for a text replay).
 */
function progressNote(io: SamplerIO, render: SampleSink, quiet: boolean): (message: string) => void {
  return (message) => {
    const micros = io.nowMicros();
    if (!quiet) io.print(timestampLine(message, micros));
    render.progress?.(message, micros);
  };
}

export interface TimeModeOptions {
  sampleTime: number;
  sampleCount: number;
  sampleInterval: number;
}

/** Time mode: --sample-count windows of --sample-time seconds. */
export async function runTimeMode(opts: TimeModeOptions, source: SampleSource, io: SamplerIO, render: SampleSink, quiet = false): Promise<WaitOutcome> {
  const note = progressNote(io, render, quiet);
  const warnings: string[] = [];
  let outcome: WaitOutcome = 'elapsed';
  for (let index = 1; index <= opts.sampleCount; index++) {
    if (index > 1 && (await io.interrupted?.())) {
      outcome = 'interrupted';
      break;
    }
    // Open first, print second: whoever waits for this line to start a
    // workload knows the window is already open.
    source.open();
    note('# Start sampling');
    render.windowOpened?.(index, io.nowMicros());
    io.progress?.({ phase: 'window', sample: index, count: opts.sampleCount, windowMs: opts.sampleTime * 1000 });
    outcome = await io.wait(opts.sampleTime * 1000);
    const windowNs = source.close();
    io.progress?.(undefined);
    note('# Stop sampling');
    const sample = source.collect();
    warnings.push(...sample.warnings);
    render.sample(index, sample, io.nowMicros(), windowNs, undefined, outcome === 'elapsed' ? undefined : outcome);
    source.reset();
    if (outcome !== 'elapsed') break;
    // Unlike the reference, no pause after the last sample.
    if (index < opts.sampleCount && opts.sampleInterval > 0) {
      io.progress?.({ phase: 'pause', sample: index + 1, count: opts.sampleCount, windowMs: opts.sampleInterval * 1000 });
      outcome = await io.wait(opts.sampleInterval * 1000);
      io.progress?.(undefined);
      if (outcome !== 'elapsed') break;
    }
  }
  render.warnings(mergeWarnings(warnings));
  return outcome;
}

export interface TriggerModeOptions extends TimeModeOptions {
  startTrigger: boolean;
  stopTrigger: boolean;
  /** With both triggers: samples shorter than this are skipped and not counted. */
  triggerDeltaNs: number;
}

export interface TriggerSource extends SampleSource {
  /** The next trigger hit; resolves 'interrupted'/'target-exited' instead when those happen first. */
  nextHit(): Promise<TriggerHit | Exclude<WaitOutcome, 'elapsed'>>;
  /** CLOCK_MONOTONIC now, the clock of trigger timestamps. */
  monotonicNs(): bigint;
  /** Start triggers that fired while the gate was busy, so far. */
  missedStarts(): number;
}

/**
 * Trigger modes, as the reference runs them:
 *   start only: the window opens at the start hit and lasts --sample-time;
 *   stop only:  it opens at once and closes at the stop hit;
 *   both:       from a start hit to the next stop hit.
 * The kernel opens and closes the gate at the hit itself; this loop only
 * follows, so its own latency never shortens or stretches a window.
 */
export async function runTriggerMode(opts: TriggerModeOptions, source: TriggerSource, io: SamplerIO, render: SampleSink, quiet = false): Promise<WaitOutcome> {
  const note = progressNote(io, render, quiet);
  const warnings: string[] = [];
  let outcome: WaitOutcome = 'elapsed';
  /** The delta of the last window when it was skipped (shorter than --trigger-delta), until one is reported. */
  let lastSkipped: bigint | undefined;
  /** Start hits so far (windows reported or skipped), for the progress line. */
  let hits = 0;
  const progress = (phase: 'window' | 'start-trigger' | 'stop-trigger', sample: number, windowMs?: number) =>
    io.progress?.({ phase, sample, count: opts.sampleCount, windowMs, hits: opts.startTrigger ? hits : undefined });
  for (let reported = 0, round = 0; reported < opts.sampleCount; round++) {
    if (round > 0 && (await io.interrupted?.())) {
      outcome = 'interrupted';
      // Ctrl-C after a skipped window, before the wait for the next start began: as if it came in that wait (below).
      if (opts.startTrigger && lastSkipped !== undefined) {
        note('# Stop sampling');
        render.skipped(lastSkipped, io.nowMicros());
      }
      break;
    }
    let startTs: bigint | undefined;
    let stopTs: bigint | undefined;
    let windowNs: number;
    if (!opts.startTrigger) {
      source.open();
      note('# Start sampling');
      render.windowOpened?.(reported + 1, io.nowMicros());
    } else {
      progress('start-trigger', reported + 1);
      const hit = await nextOf(source, 'start');
      io.progress?.(undefined);
      if (hit === 'interrupted') {
        // As the reference: Ctrl-C before the start trigger still ends with
        // the stop and dump lines and an (empty) report; or, when the last
        // window was skipped, with that window's skip line again. No window
        // opened: nothing is collected that could pass for this one's data.
        outcome = hit;
        const windowNs = source.close();
        note('# Stop sampling');
        if (lastSkipped !== undefined) render.skipped(lastSkipped, io.nowMicros());
        else render.sample(reported + 1, source.collect(), io.nowMicros(), windowNs, undefined, hit);
        source.reset();
        break;
      }
      if (typeof hit === 'string') {
        // The target exited: nothing was measured, no window opened.
        outcome = hit;
        break;
      }
      startTs = hit.ts;
      hits++;
      note(`# Start sampling (trigger@${startTs})`);
    }
    if (opts.stopTrigger) {
      progress('stop-trigger', reported + 1);
      const hit = await nextOf(source, 'stop');
      io.progress?.(undefined);
      if (typeof hit === 'string') {
        outcome = hit;
        windowNs = source.close();
        note('# Stop sampling');
      } else {
        stopTs = hit.ts;
        windowNs = source.close(); // already closed by the hit; returns its length
        note(`# Stop sampling (trigger@${stopTs})`);
      }
    } else {
      // Start only: the window is --sample-time from the hit, not from when we noticed it.
      const endNs = (startTs ?? source.monotonicNs()) + BigInt(Math.round(opts.sampleTime * 1e9));
      progress('window', reported + 1, opts.sampleTime * 1000);
      // Timers have millisecond granularity and may fire a little early: wait until the deadline has passed.
      for (let left = endNs - source.monotonicNs(); left > 0n && outcome === 'elapsed'; left = endNs - source.monotonicNs()) {
        outcome = await io.wait(Math.ceil(Number(left) / 1e6));
      }
      windowNs = source.close();
      io.progress?.(undefined);
      note('# Stop sampling');
    }
    const delta = startTs !== undefined && stopTs !== undefined ? stopTs - startTs : undefined;
    const sample = source.collect();
    warnings.push(...sample.warnings);
    if (delta === undefined || delta >= BigInt(opts.triggerDeltaNs)) {
      reported++;
      lastSkipped = undefined;
      render.sample(reported, sample, io.nowMicros(), windowNs, delta, outcome === 'elapsed' ? undefined : outcome);
    } else {
      lastSkipped = delta;
      render.skipped(delta, io.nowMicros());
    }
    source.reset();
    if (outcome !== 'elapsed') break;
    if (reported < opts.sampleCount && opts.sampleInterval > 0) {
      outcome = await io.wait(opts.sampleInterval * 1000);
      if (outcome !== 'elapsed') break;
    }
  }
  const missed = source.missedStarts();
  if (opts.sampleCount > 1 && missed > 0) {
    warnings.push(`Not all start triggers were successful. ${missed} were missed due to slow userspace processing!`);
  }
  render.warnings(mergeWarnings(warnings));
  return outcome;
}

/** The next hit of the wanted kind (the other kind cannot fire in between: the gate orders them). */
async function nextOf(source: TriggerSource, kind: TriggerHit['kind']): Promise<TriggerHit | Exclude<WaitOutcome, 'elapsed'>> {
  for (;;) {
    const hit = await source.nextHit();
    if (typeof hit === 'string' || hit.kind === kind) return hit;
  }
}
