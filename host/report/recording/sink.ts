/**
 * --write's sink: records every call of the sampling loop (report/recording/
 * writer.ts) and passes it on to the run's output, unchanged. Both see one
 * name per thread per sample: the recorder asks first and remembers, so a
 * thread renamed while the sample is rendered is recorded as printed.
 */
import type { CatchThresholds, ReportSample, SampleSink, WindowEnd } from '../../model/sample.js';
import type { RecordingWriter } from './writer.js';

export interface RecordingSink extends SampleSink {
  /** Writes the end record and closes the file. */
  close(): void;
  /** Closes the file without the end record (the run failed). */
  abandon(): void;
}

/**
 * The live sink with a recorder beside it. threadName: the context's (a
 * thread's name now); returns the name function the live sink must use.
 */
export function recordingTee(writer: RecordingWriter, threadName: (tid: number) => string): { names: (tid: number) => string; tee(live: SampleSink): RecordingSink } {
  let seen = new Map<number, string>();
  const names = (tid: number) => {
    let name = seen.get(tid);
    if (name === undefined) seen.set(tid, (name = threadName(tid)));
    return name;
  };
  return {
    names,
    tee: (live) => ({
      progress(message: string, micros: number) {
        writer.progress(message, micros);
        live.progress?.(message, micros);
      },
      watching(what: CatchThresholds, micros: number) {
        writer.watching(what, micros);
        live.watching?.(what, micros);
      },
      windowOpened(index: number, micros: number) {
        writer.windowOpened(index, micros);
        live.windowOpened?.(index, micros);
      },
      sample(index: number, sample: ReportSample, dumpMicros: number, windowNs: number, triggerDeltaNs?: bigint, ended?: WindowEnd) {
        seen = new Map();
        const window = sample.window ?? { startNs: 0n, stopNs: 0n, dumpMonotonicNs: 0n };
        writer.sample(index, sample, dumpMicros, windowNs, window, triggerDeltaNs, ended);
        live.sample(index, sample, dumpMicros, windowNs, triggerDeltaNs, ended);
      },
      skipped(triggerDeltaNs: bigint, micros: number) {
        writer.skipped(triggerDeltaNs, micros);
        live.skipped(triggerDeltaNs, micros);
      },
      warnings(warnings: string[]) {
        writer.warnings(warnings);
        live.warnings(warnings);
      },
      close: () => writer.close(),
      abandon: () => writer.abandon(),
    }),
  };
}
