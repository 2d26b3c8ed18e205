/**
 * The sampling loop. Side effects come in through SampleSource (the kernel)
 * and SamplerIO (clock, waiting, output), so the loop itself is tested
 * without BPF (test/sampler.test.ts).
 */
import { timestampLine } from '../report/format.js';
import type { CollectedSample } from './probe-set.js';

export type WaitOutcome = 'elapsed' | 'interrupted' | 'target-exited';

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
}

export interface SampleRenderer {
  /** Prints one sample's report (dump header and tables); windowNs is the window's exact length. */
  sample(index: number, sample: CollectedSample, dumpMicros: number, windowNs: number): void;
  /** Prints end-of-run warnings. */
  warnings(warnings: string[]): void;
}

export interface TimeModeOptions {
  sampleTime: number;
  sampleCount: number;
  sampleInterval: number;
}

/** Time mode: --sample-count windows of --sample-time seconds. */
export async function runTimeMode(opts: TimeModeOptions, source: SampleSource, io: SamplerIO, render: SampleRenderer, quiet = false): Promise<WaitOutcome> {
  const warnings: string[] = [];
  let outcome: WaitOutcome = 'elapsed';
  for (let index = 1; index <= opts.sampleCount; index++) {
    // Open first, print second: whoever waits for this line to start a
    // workload knows the window is already open.
    source.open();
    if (!quiet) io.print(timestampLine('# Start sampling', io.nowMicros()));
    outcome = await io.wait(opts.sampleTime * 1000);
    const windowNs = source.close();
    if (!quiet) io.print(timestampLine('# Stop sampling', io.nowMicros()));
    const sample = source.collect();
    warnings.push(...sample.warnings);
    render.sample(index, sample, io.nowMicros(), windowNs);
    source.reset();
    if (outcome !== 'elapsed') break;
    // Unlike the reference, no pause after the last sample.
    if (index < opts.sampleCount && opts.sampleInterval > 0) {
      outcome = await io.wait(opts.sampleInterval * 1000);
      if (outcome !== 'elapsed') break;
    }
  }
  render.warnings(warnings);
  return outcome;
}
