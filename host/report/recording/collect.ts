/**
 * A whole recording in memory, for the outputs that need all of it at once
 * (--html, --folded, diff): every sample decoded, with its names and, when
 * the accounting probe ran, its per-thread accounts (report/verdict.ts).
 */
import type { ReportSample } from '../../model/sample.js';
import type { VerdictOptions } from '../render-common.js';
import { accountThreads, type ThreadAccount } from '../accounts.js';
import type { RecordingHeader } from './file-format.js';
import type { OpenRecording } from './reader.js';
import { checkSelection, replaySample, type ReplayOptions } from './replay.js';

export interface CollectedRecordedSample {
  index: number;
  sample: ReportSample;
  windowNs: number;
  dumpMicros: number;
  /** A thread's name as the live report printed it; with ` (exited)` for a thread the kernel saw exit. */
  nameOf: (tid: number) => string;
  /** Per thread, with the accounting probe. */
  accounts?: ThreadAccount[];
}

export interface CollectedRecording {
  path: string;
  header: RecordingHeader;
  samples: CollectedRecordedSample[];
  /** Merged end-of-run warnings. */
  warnings: string[];
  skipped: number;
}

/** Reads every record of a recording; thread selection (-t, --thread-name) applied. */
export async function collectRecording(recording: OpenRecording, options: ReplayOptions): Promise<CollectedRecording> {
  const { header } = recording;
  checkSelection(header, options);
  const names = header.syscall_names;
  const verdict: VerdictOptions | undefined =
    header.options.verdict && names ? { syscallName: (nr) => names[String(nr)] ?? `[unknown: ${nr}]`, only: false, histograms: true } : undefined;
  const out: CollectedRecording = { path: recording.path, header, samples: [], warnings: [], skipped: 0 };
  for await (const record of recording.records()) {
    if (record.type === 'sample') {
      const { sample, nameOf: recorded } = replaySample(record, header, options);
      const exited = sample.exited;
      const nameOf = (tid: number) => (exited?.has(tid) ? `${exited.get(tid)} (exited)` : recorded(tid));
      const accounts = verdict && record.window_ns > 0 ? accountThreads(sample, record.window_ns, nameOf, verdict.syscallName) : undefined;
      out.samples.push({ index: record.index, sample, windowNs: record.window_ns, dumpMicros: record.dump_micros, nameOf, ...(accounts ? { accounts } : {}) });
    } else if (record.type === 'warnings') out.warnings.push(...record.warnings);
    else if (record.type === 'skipped') out.skipped++;
  }
  return out;
}
