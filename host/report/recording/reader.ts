/**
 * Reads a recording (file-format.ts) as a stream: the header first, then
 * its records one at a time, so a recording of thousands of samples never
 * sits in memory whole. Anything wrong with the file is a UserError, one
 * line: missing or unreadable (66), not a recording, garbage, from a newer
 * kdelay, or cut short (65).
 */
import { createReadStream, openSync, readSync, closeSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { ExitCode, UserError } from '../../base/exit-codes.js';
import { RECORDING_MAGIC, RECORDING_VERSION, type RecordingHeader, type RecordingRecord } from './file-format.js';

export interface OpenRecording {
  path: string;
  header: RecordingHeader;
  /** The records after the header, up to (not including) the end record; throws UserError if the file ends before it. */
  records(): AsyncGenerator<RecordingRecord>;
}

const bad = (path: string, why: string) => new UserError(`${path}: ${why}`, ExitCode.DATAERR);

/** The first bytes of path; a missing or unreadable file is exit 66. */
function firstBytes(path: string): Buffer {
  let fd: number | undefined;
  try {
    if (statSync(path).isDirectory()) throw new UserError(`${path}: is a folder, not a recording`, ExitCode.NOINPUT);
    fd = openSync(path, 'r');
    const head = Buffer.alloc(2);
    const n = readSync(fd, head, 0, 2, 0);
    return head.subarray(0, n);
  } catch (err) {
    if (err instanceof UserError) throw err;
    const e = err as NodeJS.ErrnoException;
    const words: Record<string, string> = { ENOENT: 'no such file', EACCES: 'permission denied' };
    throw new UserError(`${path}: cannot read it: ${e.code ? (words[e.code] ?? e.message) : e.message}`, ExitCode.NOINPUT);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function checkHeader(path: string, line: string | undefined): RecordingHeader {
  if (line === undefined) throw bad(path, 'empty: not a kdelay recording');
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(line);
  } catch {
    throw bad(path, 'not a kdelay recording (its first line is not JSON)');
  }
  if (typeof header !== 'object' || header === null || !(RECORDING_MAGIC in header)) throw bad(path, `not a kdelay recording (no "${RECORDING_MAGIC}" in its first line)`);
  const version = header.version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) throw bad(path, `not a kdelay recording (version ${JSON.stringify(version)})`);
  if (version > RECORDING_VERSION) {
    throw bad(
      path,
      `written by a newer kdelay (${String(header.kdelay_version)}, recording format ${version}); this kdelay reads format ${RECORDING_VERSION}: upgrade kdelay to read it`,
    );
  }
  if (!Array.isArray(header.sections) || typeof header.options !== 'object' || typeof header.target !== 'object' || typeof header.host !== 'object') {
    throw bad(path, 'not a kdelay recording (its header lacks sections, options, target or host)');
  }
  return header as unknown as RecordingHeader;
}

const RECORD_TYPES = new Set(['progress', 'window_open', 'sample', 'skipped', 'warnings', 'end']);

/** Opens a recording and reads its header (the records follow, streamed, from records()). */
export async function openRecording(path: string): Promise<OpenRecording> {
  const head = firstBytes(path);
  const gzipped = head.length === 2 && head[0] === 0x1f && head[1] === 0x8b;
  const open = () => {
    const file = createReadStream(path);
    const stream: Readable = gzipped ? file.pipe(createGunzip()) : file;
    let failure: Error | undefined;
    file.on('error', (err) => (failure = err));
    stream.on('error', (err) => (failure = err));
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    return { lines: lines[Symbol.asyncIterator](), failure: () => failure, close: () => (lines.close(), file.destroy()) };
  };
  const first = open();
  const headerLine = await nextLine(path, first);
  first.close();
  const header = checkHeader(path, headerLine);
  return {
    path,
    header,
    async *records() {
      const input = open();
      try {
        await nextLine(path, input); // the header
        let samples = 0;
        for (let lineNo = 2; ; lineNo++) {
          const line = await nextLine(path, input);
          if (line === undefined) throw bad(path, `cut short after ${samples} sample${samples === 1 ? '' : 's'} (no end record): the run was killed, or the file truncated`);
          if (line === '') continue;
          let record: RecordingRecord;
          try {
            record = JSON.parse(line);
          } catch {
            throw bad(path, `line ${lineNo} is not JSON: the file is damaged`);
          }
          if (typeof record !== 'object' || record === null || typeof record.type !== 'string') throw bad(path, `line ${lineNo} is not a record: the file is damaged`);
          // Record types a newer kdelay added within this version: skipped, as the format promises.
          if (!RECORD_TYPES.has(record.type)) continue;
          if (record.type === 'end') return;
          if (record.type === 'sample') {
            samples++;
            if (typeof record.tables !== 'object' || !Array.isArray(record.names) || typeof record.window !== 'object')
              throw bad(path, `line ${lineNo}: a sample record without its tables`);
          }
          yield record;
        }
      } finally {
        input.close();
      }
    },
  };
}

async function nextLine(path: string, input: { lines: AsyncIterator<string>; failure(): Error | undefined }): Promise<string | undefined> {
  let next: IteratorResult<string>;
  try {
    next = await input.lines.next();
  } catch (err) {
    throw damaged(path, err as Error);
  }
  const failure = input.failure();
  if (failure) throw damaged(path, failure);
  return next.done ? undefined : next.value;
}

function damaged(path: string, err: Error & { code?: string }): UserError {
  if (err.code === 'Z_BUF_ERROR' || /unexpected end of file/.test(err.message))
    return bad(path, 'cut short (its compressed data ends early): the run was killed, or the file truncated');
  if (err.code?.startsWith('Z_')) return bad(path, `damaged compressed data (${err.message})`);
  return new UserError(`${path}: cannot read it: ${err.message}`, ExitCode.NOINPUT);
}
