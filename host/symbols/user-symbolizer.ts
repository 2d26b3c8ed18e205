/**
 * User-space frames of one process: `function+0xOFF [basename]`.
 *
 * Output, by where the address falls:
 * - a symbol in a mapped ELF file: `fn+0xOFF [libc.so.6]`;
 * - a mapped ELF file, but no symbol covers the address:
 *   `[unknown] 0xADDR (basename+0xVADDR; /path/of/file: why)`, VADDR being
 *   the ELF virtual address that `nm` prints and `addr2line -e FILE 0xVADDR`
 *   takes, so the frame can be resolved offline against the debug file, and
 *   why there is no name (missingSymbolReason): `deleted`, `replaced since
 *   it was mapped`, `not readable (EACCES)`, `not ELF64 (...)`, `no symbol
 *   table`, `stripped (no .symtab): only exported functions are named`. If
 *   the file cannot be read, VADDR falls back to the file offset, which is
 *   the same number for the usual PIE and shared-object layouts;
 * - C++ and Rust names demangled (demangle.ts), as perf and bpftrace print them;
 * - the vDSO: symbolized from kdelay's own vDSO (same kernel, so the same
 *   image for 64-bit processes; sizes are compared), e.g.
 *   `__vdso_clock_gettime+0x4 [vdso]`, else `[unknown] 0xADDR ([vdso]+0xOFF)`;
 * - anonymous executable memory (JIT code, trampolines) and other pseudo
 *   mappings: `[unknown] 0xADDR`;
 * - no executable mapping at all: `[unknown] 0xADDR`.
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { demangle } from './demangle.js';
import { ElfError, ElfFile } from './elf.js';
import { type Mapping, parseMaps, ProcessMaps } from './process-maps.js';

function hex(n: number | bigint): string {
  return `0x${n.toString(16)}`;
}

/**
 * Parsed ELF files by (path, device, inode): libc is parsed once whatever
 * maps it, and can be shared between symbolizers. A string records why a
 * file could not be read, so a missing file costs one failed open, not one
 * per frame.
 */
export class ElfCache {
  private readonly files = new Map<string, ElfFile | string>();
  /** Files opened and parsed so far (for tests and the benchmark). */
  loads = 0;

  /** The parsed file, or why it could not be read. */
  get(mapping: Mapping, pid: number, procRoot: string): ElfFile | string {
    const key = `${mapping.path}\0${mapping.dev}\0${mapping.inode}`;
    let file = this.files.get(key);
    if (file === undefined) {
      file = openMapped(mapping, pid, procRoot);
      this.loads++;
      this.files.set(key, file);
    }
    return file;
  }
}

/**
 * The file behind a mapping. First /proc/PID/map_files/START-END: while the
 * process lives it is the very file mapped, even if deleted or replaced on
 * disk since (a package upgrade under a running daemon) or visible only in
 * the target's mount namespace (a container). It needs CAP_SYS_ADMIN, which
 * kdelay has as root. Then the path on disk, but only while it is still the
 * same file (same inode, not "(deleted)"): an old build's addresses looked up
 * in a new build's symbols would print plausible lies. Else why not.
 */
function openMapped(m: Mapping, pid: number, procRoot: string): ElfFile | string {
  let viaMapFiles: unknown;
  try {
    return ElfFile.open(`${procRoot}/${pid}/map_files/${m.range}`);
  } catch (err) {
    viaMapFiles = err; // gone, not permitted, or not ELF: try the path
  }
  // The very file was opened, and is no ELF64 we read: the path would be no better.
  if (viaMapFiles instanceof ElfError) return unreadableReason(viaMapFiles);
  if (m.deleted) return 'deleted';
  try {
    if (statSync(m.path).ino !== m.inode) return 'replaced since it was mapped';
    return ElfFile.open(m.path);
  } catch (err) {
    return unreadableReason(err);
  }
}

/** Why a file could not be read, in a few words: `not readable (EACCES)`, `not ELF64 (...)`. */
export function unreadableReason(err: unknown): string {
  if (err instanceof ElfError) return `not ELF64 (${err.message})`;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' ? 'not found' : `not readable${code ? ` (${code})` : ''}`;
}

/** Why a file that was read names no function at an address. */
function missingSymbolReason(file: ElfFile): string {
  if (file.symbols.length === 0) return 'no symbol table';
  return file.hasSymtab ? 'no symbol covers it' : 'stripped (no .symtab): only exported functions are named';
}

function readSelfMemory(address: number, length: number): Buffer {
  const fd = openSync('/proc/self/mem', 'r');
  try {
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, buf, done, length - done, address + done);
      if (n === 0) break;
      done += n;
    }
    return buf.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

interface Vdso {
  file: ElfFile;
  size: number;
}
let ownVdso: Vdso | null | undefined;

/**
 * kdelay's own vDSO image, read once from /proc/self/mem. Ours rather than
 * the target's: it needs no ptrace access to the target and still works
 * after the target exits, and the kernel gives every 64-bit process the same
 * image.
 */
export function ownVdsoImage(): Vdso | null {
  if (ownVdso !== undefined) return ownVdso;
  ownVdso = null;
  try {
    const vdso = parseMaps(readFileSync('/proc/self/maps', 'utf8')).find((m) => m.kind === 'vdso');
    if (vdso) {
      const size = vdso.end - vdso.start;
      ownVdso = { file: ElfFile.fromBuffer(readSelfMemory(vdso.start, size)), size };
    }
  } catch {
    // No vDSO or unreadable: its frames print [unknown].
  }
  return ownVdso;
}

export interface UserSymbolizerOptions {
  /** Share parsed files between symbolizers; default: a cache of its own. */
  elfCache?: ElfCache;
  procRoot?: string;
  /**
   * Re-read the maps when an address is in no mapping (a library dlopen()ed
   * after the snapshot), at most this often, while the process lives. 0
   * disables it. Default 1000 ms.
   */
  refreshIntervalMs?: number;
}

/** Results memoized per address; cleared when it reaches this size. */
const MEMO_LIMIT = 1 << 16;

export class UserSymbolizer {
  readonly elfCache: ElfCache;
  private maps: ProcessMaps;
  private readonly procRoot: string;
  private readonly refreshIntervalMs: number;
  private lastRefresh: number;
  private exited = false;
  /** Stacks repeat the same return addresses over and over. */
  private readonly memo = new Map<bigint, string>();

  constructor(maps: ProcessMaps, options: UserSymbolizerOptions = {}) {
    this.maps = maps;
    this.elfCache = options.elfCache ?? new ElfCache();
    this.procRoot = options.procRoot ?? '/proc';
    this.refreshIntervalMs = options.refreshIntervalMs ?? 1000;
    this.lastRefresh = maps.takenAt;
  }

  /** The snapshot in use (replaced when a miss triggers a refresh). */
  get snapshot(): ProcessMaps {
    return this.maps;
  }

  symbolize(addr: bigint): string {
    let out = this.memo.get(addr);
    if (out === undefined) {
      const n = Number(addr);
      let mapping = Number.isSafeInteger(n) ? this.maps.find(n) : undefined;
      if (!mapping && Number.isSafeInteger(n) && this.refresh()) mapping = this.maps.find(n);
      // A miss is not memoized: a later refresh may find the mapping.
      if (!mapping) return `[unknown] ${hex(addr)}`;
      out = this.inMapping(addr, n, mapping);
      if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
      this.memo.set(addr, out);
    }
    return out;
  }

  private refresh(): boolean {
    if (this.exited || this.refreshIntervalMs <= 0) return false;
    const now = Date.now();
    if (now - this.lastRefresh < this.refreshIntervalMs) return false;
    this.lastRefresh = now;
    try {
      this.maps = ProcessMaps.read(this.maps.pid, this.procRoot);
      return true;
    } catch {
      this.exited = true;
      return false;
    }
  }

  private inMapping(addr: bigint, n: number, m: Mapping): string {
    if (m.kind === 'anon') return `[unknown] ${hex(addr)}`;
    const fileOffset = n - m.start + m.offset;
    if (m.kind === 'vdso') {
      const vdso = ownVdsoImage();
      if (vdso && vdso.size === m.end - m.start) {
        const vaddr = vdso.file.fileOffsetToVaddr(fileOffset) ?? fileOffset;
        const hit = vdso.file.symbols.lookup(vaddr);
        if (hit) return `${demangle(hit.name)}+${hex(hit.offset)} [vdso]`;
        return `[unknown] ${hex(addr)} ([vdso]+${hex(vaddr)})`;
      }
      return `[unknown] ${hex(addr)} ([vdso]+${hex(fileOffset)})`;
    }
    const module = basename(m.path);
    const file = this.elfCache.get(m, this.maps.pid, this.procRoot);
    if (typeof file === 'string') return `[unknown] ${hex(addr)} (${module}+${hex(fileOffset)}; ${m.path}: ${file})`;
    const vaddr = file.fileOffsetToVaddr(fileOffset);
    if (vaddr === undefined) return `[unknown] ${hex(addr)} (${module}+${hex(fileOffset)}; ${m.path}: not in a loadable segment)`;
    const hit = file.symbols.lookup(vaddr);
    if (hit) return `${demangle(hit.name)}+${hex(hit.offset)} [${module}]`;
    return `[unknown] ${hex(addr)} (${module}+${hex(vaddr)}; ${m.path}: ${missingSymbolReason(file)})`;
  }
}
