/**
 * A snapshot of a process's executable mappings from /proc/PID/maps.
 *
 * Why a snapshot: slow-syscall stacks are printed after the sample window,
 * and the target may have exited by then (or be exiting because of what we
 * are tracing). The snapshot is taken while kdelay is attached; afterwards
 * only it and the mapped files (still on disk, or through map_files while the
 * process lives) are needed to symbolize.
 *
 * Addresses are kept as numbers: user-space addresses are below 2^47 (2^56
 * with 5-level paging, and only for mappings that ask for it), well inside a
 * double's exact range for what we meet, and number compares are much
 * cheaper than bigint ones in the per-frame lookup. Mappings beyond 2^53 (the
 * legacy [vsyscall] page at 0xffffffffff600000) are dropped: frames there are
 * printed as `[unknown] 0xADDR`.
 */
import { readFileSync } from 'node:fs';
import { lastAtOrBelow } from './sort.js';

export type MappingKind =
  /** Backed by a file (path is absolute; it may have been deleted or replaced since). */
  | 'file'
  /** The kernel's vDSO. */
  | 'vdso'
  /** Anonymous (JIT code, trampolines) or another pseudo-file such as [vsyscall]. */
  | 'anon';

export interface Mapping {
  start: number;
  end: number;
  /** File offset of `start`. */
  offset: number;
  /** `major:minor` of the backing device, as maps prints it. */
  dev: string;
  inode: number;
  /** The path as maps shows it, without a " (deleted)" suffix; '' for anonymous memory. */
  path: string;
  /** maps said " (deleted)": the file was unlinked or replaced (e.g. an upgrade) after it was mapped. */
  deleted: boolean;
  kind: MappingKind;
  /** The maps line's start-end, e.g. `7f12a000-7f12c000`: the name of its /proc/PID/map_files entry. */
  range: string;
}

const DELETED = ' (deleted)';

/**
 * Parses maps text and keeps the executable mappings, sorted by start.
 * Format (proc(5)): `start-end perms offset dev inode   path`, where path
 * may contain spaces and is absent for anonymous memory.
 */
export function parseMaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    // Fields are separated by single spaces up to the inode; the path starts
    // after a run of padding spaces.
    const s1 = line.indexOf(' ');
    const s2 = line.indexOf(' ', s1 + 1);
    const s3 = line.indexOf(' ', s2 + 1);
    const s4 = line.indexOf(' ', s3 + 1);
    let s5 = line.indexOf(' ', s4 + 1);
    if (s4 < 0) continue;
    const perms = line.slice(s1 + 1, s2);
    if (perms[2] !== 'x') continue;
    if (s5 < 0) s5 = line.length;
    const range = line.slice(0, s1);
    const dash = range.indexOf('-');
    const start = parseInt(range.slice(0, dash), 16);
    const end = parseInt(range.slice(dash + 1), 16);
    if (!Number.isSafeInteger(end)) continue;
    let path = line.slice(s5).trimStart();
    const deleted = path.endsWith(DELETED);
    if (deleted) path = path.slice(0, -DELETED.length);
    const inode = Number(line.slice(s4 + 1, s5));
    const kind: MappingKind = path === '[vdso]' ? 'vdso' : path.startsWith('/') && inode !== 0 ? 'file' : 'anon';
    out.push({
      start,
      end,
      offset: parseInt(line.slice(s2 + 1, s3), 16),
      dev: line.slice(s3 + 1, s4),
      inode,
      path,
      deleted,
      kind,
      range,
    });
  }
  return out.sort((a, b) => a.start - b.start);
}

export class ProcessMaps {
  private readonly starts: Float64Array;

  constructor(
    readonly pid: number,
    readonly mappings: readonly Mapping[],
    /** Date.now() when read. */
    readonly takenAt: number = Date.now(),
  ) {
    this.starts = Float64Array.from(mappings, (m) => m.start);
  }

  /** Reads /proc/PID/maps now. Throws (ENOENT) if the process is gone. */
  static read(pid: number, procRoot = '/proc'): ProcessMaps {
    return new ProcessMaps(pid, parseMaps(readFileSync(`${procRoot}/${pid}/maps`, 'utf8')));
  }

  /** The executable mapping holding addr, if any. */
  find(addr: number): Mapping | undefined {
    const { starts } = this;
    const i = lastAtOrBelow(starts.length, (j) => starts[j] <= addr);
    const m = i >= 0 ? this.mappings[i] : undefined;
    return m && addr < m.end ? m : undefined;
  }
}

const basename = (path: string) => path.slice(path.lastIndexOf('/') + 1);
/** `stem.so` or `stem.so.VERSION`. */
const isSharedObjectOf = (file: string, stem: string) => file === `${stem}.so` || file.startsWith(`${stem}.so.`);

/**
 * How well a mapped file's name matches a library name as uprobe triggers
 * give it (lower is better; undefined: no match). As BCC and bpftrace
 * resolve `-l`/`uprobe:LIB:`: the file name itself (`libc.so.6`); then with
 * the version left out (`libc.so` or `libc` for `libc.so.6`); then BCC's
 * `lib` prefix (`c` for `libc.so.6`, `pthread` for `libpthread.so.0`).
 */
export function libraryMatch(file: string, library: string): number | undefined {
  if (file === library) return 0;
  if (library.includes('.so') ? file.startsWith(`${library}.`) : isSharedObjectOf(file, library)) return 1;
  if (isSharedObjectOf(file, `lib${library}`)) return 2;
  return undefined;
}

/**
 * The one file a process has mapped that `library` names (pure): the best
 * match by libraryMatch among its executable file mappings. Two different
 * files matching equally well (libfoo.so.1 and libfoo.so.2) are ambiguous:
 * the caller says which, and a path picks one.
 */
export function findMappedLibrary(mappings: readonly Mapping[], library: string): { mapping: Mapping } | { problem: string } {
  let best: Mapping[] = [];
  let bestRank = Infinity;
  for (const m of mappings) {
    if (m.kind !== 'file') continue;
    const rank = libraryMatch(basename(m.path), library);
    if (rank === undefined || rank > bestRank) continue;
    if (rank < bestRank) [best, bestRank] = [[], rank];
    // A file is mapped once per segment; the same file counts once.
    if (!best.some((b) => b.dev === m.dev && b.inode === m.inode && b.path === m.path)) best.push(m);
  }
  if (best.length === 1) return { mapping: best[0] };
  if (best.length > 1) return { problem: `${library} could be any of ${best.map((m) => m.path).join(', ')}; give the path` };
  const files = [...new Set(mappings.filter((m) => m.kind === 'file').map((m) => basename(m.path)))];
  const shown = files.length > 12 ? [...files.slice(0, 12), `and ${files.length - 12} more`] : files;
  return { problem: `the target has mapped no library ${library} (its mapped files: ${shown.join(', ') || 'none'})` };
}
