/** What the text and NDJSON sinks share: the verdict's options, thread names in a sample, the byte writer. Pure. */
import type { ReportSample } from '../model/sample.js';
import { accountThreads, type ThreadAccount } from './accounts.js';

/** What the verdict (report/accounts.ts, verdict.ts) needs besides the sample; undefined: no verdict. */
export interface VerdictOptions {
  /** The target ABI's name for a syscall number. */
  syscallName: (nr: number) => string;
  /** --verdict-only: leave the reference's tables out. */
  only: boolean;
  /** --hist: print the histograms too. */
  histograms: boolean;
}

/**
 * A thread's name in this sample's report: the name it exited with when the
 * kernel saw it exit (in text marked " (exited)": the reference's layout,
 * with a word more, for threads /proc no longer shows), else the caller's
 * (/proc's, or <unknown:PID/TID>).
 */
export function namesOf(sample: ReportSample, threadName: (tid: number) => string, mark: string): (tid: number) => string {
  const exited = sample.exited;
  if (!exited?.size) return threadName;
  return (tid) => {
    const name = exited.get(tid);
    return name === undefined ? threadName(tid) : `${name}${mark}`;
  };
}

/** The sample's per-thread accounts, when the accounting probe ran and the window has a length. */
export function accountsOf(sample: ReportSample, windowNs: number, threadName: (tid: number) => string, verdict: VerdictOptions | undefined): ThreadAccount[] | undefined {
  if (!verdict || windowNs <= 0) return undefined;
  return accountThreads(sample, windowNs, threadName, verdict.syscallName);
}

/**
 * Writes a report's bytes; true when they were written out before returning,
 * false when the writer still holds them (a pipe that was full queues them).
 */
export type ByteWriter = (bytes: Uint8Array) => boolean;

/**
 * A probe's warning while its window was collected means something of that
 * window went unmeasured (a full map, lost events): the text report says so
 * under the sample's header, the JSON sample record with `incomplete`.
 */
export function incompleteLine(warning: string): string {
  return `# WARNING: incomplete sample: ${warning}`;
}
