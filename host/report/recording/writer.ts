/**
 * `--write FILE`: a sink that records every sample of a run, beside the
 * normal output, into the recording format (file-format.ts). Synchronous:
 * each flush is one gzip member written with writeSync (a file of several
 * members is one gzip stream to every reader), so what is on disk is whole
 * up to the last flush, and nothing is left to await when the run ends.
 */
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { ExitCode, UserError } from '../../base/exit-codes.js';
import type { ReportSample, WindowEnd } from '../../model/sample.js';
import { encodeEvent, encodeTables, RECORDING_MAGIC, RECORDING_VERSION, type RecordingHeader, type RecordingRecord, threadsOf } from './file-format.js';

/** Bytes of NDJSON kept before they are compressed and written (a sample always flushes). */
const FLUSH_BYTES = 1 << 20;

/** zlib's level: 1 (fastest) compresses these columns nearly as well as 6 at a fraction of the time (npm run bench, record). */
const GZIP_LEVEL = Number(process.env.KDELAY_GZIP_LEVEL ?? 1);

const describe = (err: unknown) => {
  const e = err as NodeJS.ErrnoException;
  const words: Record<string, string> = {
    ENOSPC: 'no space left on device',
    EDQUOT: 'disk quota exceeded',
    EACCES: 'permission denied',
    ENOENT: 'no such folder',
    EISDIR: 'is a folder',
  };
  return e.code ? `${words[e.code] ?? e.message} (${e.code})` : String(e);
};

export class RecordingWriter {
  private readonly fd: number;
  private pending: string[] = [];
  private pendingBytes = 0;
  private closed = false;
  /** Bytes written to the file so far (compressed). */
  bytesWritten = 0;

  /** The header's sections: which are whole-system decides which threads need names. */
  private header: Omit<RecordingHeader, 'version'> | undefined;
  /** A thread's name as the live report prints it. */
  private threadName: (tid: number) => string = (tid) => String(tid);

  /** Creates FILE (replacing it); a file that cannot be created is one line, exit 73. The header follows with start(). */
  constructor(
    readonly path: string,
    private readonly gzip = true,
  ) {
    try {
      this.fd = openSync(path, 'w', 0o644);
    } catch (err) {
      throw new UserError(`--write ${path}: cannot create it: ${describe(err)}`, ExitCode.CANTCREAT);
    }
  }

  /** Writes the header; threadName: a thread's name as the live report prints it. */
  start(header: Omit<RecordingHeader, 'version'>, threadName: (tid: number) => string): this {
    this.header = header;
    this.threadName = threadName;
    this.line(JSON.stringify({ [RECORDING_MAGIC]: RECORDING_VERSION, version: RECORDING_VERSION, ...header }));
    return this;
  }

  private line(text: string): void {
    this.pending.push(text);
    this.pendingBytes += text.length + 1;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
  }

  private record(r: RecordingRecord): void {
    this.line(JSON.stringify(r));
  }

  /** Compresses and writes what is pending. */
  flush(): void {
    if (!this.pending.length) return;
    const text = Buffer.from(this.pending.join('\n') + '\n');
    this.pending = [];
    this.pendingBytes = 0;
    const bytes = this.gzip ? gzipSync(text, { level: GZIP_LEVEL }) : text;
    try {
      for (let at = 0; at < bytes.length;) at += writeSync(this.fd, bytes, at);
    } catch (err) {
      throw new UserError(`--write ${this.path}: cannot write the recording: ${describe(err)}`, ExitCode.IOERR);
    }
    this.bytesWritten += bytes.length;
  }

  /** A "# Start sampling"-style line of the sampling loop, with its time. */
  progress(message: string, micros: number): void {
    this.record({ type: 'progress', message, micros });
  }

  /** Catch mode: the probes are attached and watching (what for, in ms). */
  watching(what: { longPollMs?: number; syscallMs?: number }, micros: number): void {
    this.record({ type: 'watching', long_poll_ms: what.longPollMs ?? null, syscall_ms: what.syscallMs ?? null, micros });
  }

  windowOpened(index: number, micros: number): void {
    this.record({ type: 'window_open', index, micros });
  }

  /** window: CLOCK_MONOTONIC edges and the clock at the dump (JSON output places the window on the wall clock with them). */
  sample(
    index: number,
    sample: ReportSample,
    dumpMicros: number,
    windowNs: number,
    window: { startNs: bigint; stopNs: bigint; dumpMonotonicNs: bigint },
    triggerDeltaNs?: bigint,
    ended?: WindowEnd,
  ): void {
    const sections = this.header?.sections ?? [];
    this.record({
      type: 'sample',
      index,
      dump_micros: dumpMicros,
      window_ns: windowNs,
      trigger_delta_ns: triggerDeltaNs === undefined ? null : triggerDeltaNs.toString(),
      ended: ended ?? null,
      window: { start_ns: window.startNs.toString(), stop_ns: window.stopNs.toString(), dump_monotonic_ns: window.dumpMonotonicNs.toString() },
      warnings: sample.warnings,
      notes: sample.notes ?? [],
      ...(sample.histograms?.length ? { histograms: sample.histograms.map((h) => ({ tid: h.tid, kind: h.kind, nr: h.nr, slots: Array.from(h.slots) })) } : {}),
      names: threadsOf(sample, sections).map((tid) => [tid, this.threadName(tid)]),
      exited: [...(sample.exited ?? [])],
      stacks: sample.stacks ?? false,
      tables: encodeTables(sample.tables),
      events: sample.events ? sample.events.map(encodeEvent) : null,
      ...(sample.caught
        ? {
            caught: {
              kind: sample.caught.kind,
              tid: sample.caught.tid,
              start_ns: sample.caught.startNs.toString(),
              stop_ns: sample.caught.stopNs.toString(),
              ...(sample.caught.syscall ? { syscall: sample.caught.syscall } : {}),
            },
          }
        : {}),
    });
    this.flush();
  }

  skipped(triggerDeltaNs: bigint, micros: number): void {
    this.record({ type: 'skipped', trigger_delta_ns: triggerDeltaNs.toString(), micros });
  }

  /** The run's end: its merged warnings, then the end record. */
  warnings(warnings: string[]): void {
    this.record({ type: 'warnings', warnings });
  }

  /** Writes the end record and closes the file (a recording without it reads as cut short). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.record({ type: 'end' });
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
    }
  }

  /**
   * The run failed: closes the file without the end record (readers say it
   * was cut short), or removes it if the run failed before its header.
   */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.flush();
    } catch {
      // The run's own error is the one to report.
    } finally {
      closeSync(this.fd);
      if (!this.header) rmSync(this.path, { force: true });
    }
  }
}
