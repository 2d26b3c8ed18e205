/**
 * A small ELF64 little-endian reader: just what symbolizing user stack frames
 * needs, namely the PT_LOAD program headers (runtime address -> ELF virtual
 * address), the function symbols of `.symtab` (else `.dynsym`), and the
 * GNU build-id.
 *
 * Why our own reader and not an npm package: the pure-JS candidates (elfy,
 * elf-tools, elfinfo) either parse the whole file into one object per symbol,
 * are unmaintained or pre-release, and none reads only the sections it needs.
 * Binaries with debug info are often 100+ MB; this reader reads the headers,
 * one symbol table and its strings with positioned reads and nothing else,
 * and keeps symbols in typed arrays with names decoded on first use.
 *
 * Only what kdelay traces is supported: 64-bit little-endian files (x86_64,
 * aarch64) on a little-endian host (symbol entries are read through a
 * Uint32Array). Anything else throws ElfError and the caller prints the frame
 * as `[unknown]`.
 */
import { closeSync, constants, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import {
  ET_DYN,
  NT_GNU_BUILD_ID,
  PF_X,
  PT_LOAD,
  PT_NOTE,
  SHN_UNDEF,
  SHT_DYNSYM,
  SHT_NOBITS,
  SHT_NOTE,
  SHT_SYMTAB,
  STB_GLOBAL,
  STB_LOCAL,
  STT_FUNC,
  STT_GNU_IFUNC,
  SYM_SIZE,
} from './elf-constants.js';
import { lastAtOrBelow, sortedIndices } from './sort.js';

export class ElfError extends Error {}

/** Where the bytes come from: a file on disk, or memory (the vDSO). */
export interface ElfSource {
  readonly size: number;
  /** Exactly `length` bytes at `offset`; throws if they are not there. */
  read(offset: number, length: number): Buffer;
  close(): void;
}

export function bufferSource(buf: Buffer): ElfSource {
  return {
    size: buf.length,
    read(offset, length) {
      if (offset < 0 || offset + length > buf.length) throw new ElfError(`read of ${length} bytes at ${offset} is past the end`);
      return buf.subarray(offset, offset + length);
    },
    close() {},
  };
}

/**
 * A file's bytes, read on demand. Only a regular file: it is opened without
 * blocking and checked on that descriptor, since opening a FIFO (a library
 * path in a trigger, a target's swapped executable) waits for a writer
 * forever, and a device has no ELF to read.
 */
export function fileSource(path: string): ElfSource {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  const stats = fstatSync(fd);
  if (!stats.isFile()) {
    closeSync(fd);
    throw new ElfError(`${stats.isFIFO() ? 'a FIFO' : stats.isDirectory() ? 'a folder' : 'a special file'}, not a regular file`);
  }
  const size = stats.size;
  return {
    size,
    read(offset, length) {
      if (offset < 0 || offset + length > size) throw new ElfError(`${path}: read of ${length} bytes at ${offset} is past the end`);
      const buf = Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, buf, done, length - done, offset + done);
        if (n === 0) throw new ElfError(`${path}: short read at ${offset + done}`);
        done += n;
      }
      return buf;
    },
    close: () => closeSync(fd),
  };
}

/** A u64 field as a number. Offsets and user-space addresses are far below 2^53. */
function u64(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * 0x1_0000_0000;
}

export interface LoadSegment {
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  align: number;
  executable: boolean;
}

export interface Section {
  name: string;
  type: number;
  flags: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  entsize: number;
}

/** The 64-byte ELF header, checked to be ELF64 little-endian (all kdelay reads). */
function elfHeader(src: ElfSource): Buffer {
  if (src.size < 64) throw new ElfError('too small for an ELF header');
  const eh = src.read(0, 64);
  if (eh.readUInt32BE(0) !== 0x7f454c46) throw new ElfError('not an ELF file');
  if (eh[4] !== 2 || eh[5] !== 1) throw new ElfError('not ELF64 little-endian');
  return eh;
}

/**
 * The section headers, with names; [] when there is no section table.
 * e_shnum 0 means "too many, the real count is in section 0": only huge
 * objects, but cheap to honour.
 */
export function readSections(src: ElfSource): Section[] {
  const eh = elfHeader(src);
  const shoff = u64(eh, 40);
  const shentsize = eh.readUInt16LE(58);
  let shnum = eh.readUInt16LE(60);
  const shstrndx = eh.readUInt16LE(62);
  if (shoff === 0 || shentsize < 64) return [];
  if (shnum === 0) shnum = Number(src.read(shoff, 64).readBigUInt64LE(32));
  const sh = src.read(shoff, shnum * shentsize);
  const sections: Section[] = new Array(shnum);
  for (let i = 0; i < shnum; i++) {
    const at = i * shentsize;
    sections[i] = {
      name: '',
      type: sh.readUInt32LE(at + 4),
      flags: u64(sh, at + 8),
      offset: u64(sh, at + 24),
      size: u64(sh, at + 32),
      link: sh.readUInt32LE(at + 40),
      info: sh.readUInt32LE(at + 44),
      entsize: u64(sh, at + 56),
    };
  }
  const strtab = sections[shstrndx];
  if (strtab && strtab.size > 0) {
    const names = src.read(strtab.offset, strtab.size);
    for (let i = 0; i < shnum; i++) {
      const start = sh.readUInt32LE(i * shentsize);
      const end = names.indexOf(0, start);
      sections[i].name = names.toString('latin1', start, end < 0 ? names.length : end);
    }
  }
  return sections;
}

export interface ElfSymbolHit {
  name: string;
  /** Bytes from the symbol's start. */
  offset: number;
}

/**
 * Function symbols sorted by address, one per address, in typed arrays: a
 * large binary has 100k+ symbols and an object each would dominate load time
 * and memory. Names stay in their string tables until a frame needs them.
 */
export class FunctionSymbols {
  private readonly names: (string | undefined)[];

  constructor(
    private readonly starts: Float64Array,
    private readonly ends: Float64Array,
    private readonly sized: Uint8Array,
    private readonly nameOffsets: Uint32Array,
    private readonly strtab: Buffer,
  ) {
    this.names = new Array(starts.length);
  }

  static readonly EMPTY = new FunctionSymbols(new Float64Array(0), new Float64Array(0), new Uint8Array(0), new Uint32Array(0), Buffer.alloc(0));

  get length(): number {
    return this.starts.length;
  }

  private name(i: number): string {
    let name = this.names[i];
    if (name === undefined) {
      const table = this.strtab;
      const start = this.nameOffsets[i];
      let end = table.indexOf(0, start);
      if (end < 0) end = table.length;
      // Versioned names in some .symtabs (`memcpy@@GLIBC_2.14`): print the
      // function's name; the version is noise in a stack.
      for (let j = start + 1; j < end; j++) {
        if (table[j] === 0x40) {
          end = j;
          break;
        }
      }
      this.names[i] = name = table.toString('utf8', start, end);
    }
    return name;
  }

  /** Whether a function of this name is defined (for uprobe triggers: checked before attaching). */
  has(name: string): boolean {
    for (let i = 0; i < this.length; i++) if (this.name(i) === name) return true;
    return false;
  }

  lookup(vaddr: number): ElfSymbolHit | undefined {
    const { starts, ends } = this;
    // Last symbol starting at or before vaddr.
    const i = lastAtOrBelow(starts.length, (j) => starts[j] <= vaddr);
    if (i < 0) return undefined;
    if (vaddr < ends[i]) return { name: this.name(i), offset: vaddr - starts[i] };
    // A return address right after a function whose last instruction is a
    // call to a noreturn function (abort, __stack_chk_fail) is its end
    // address; that frame belongs to this function, not to whatever follows.
    if (vaddr === ends[i] && this.sized[i]) return { name: this.name(i), offset: vaddr - starts[i] };
    // Nested symbols (a sized symbol inside a bigger one) are rare; look back
    // a little for an enclosing one rather than report unknown.
    for (let j = i - 1; j >= 0 && j >= i - 8; j--) {
      if (vaddr < ends[j]) return { name: this.name(j), offset: vaddr - starts[j] };
    }
    return undefined;
  }
}

/** Leading underscores of the name at `off` in a string table (capped). */
function leadingUnderscores(strtab: Buffer, off: number): number {
  let n = 0;
  while (n < 4 && strtab[off + n] === 0x5f) n++;
  return n;
}

/**
 * Lower is better, among symbols at the same address: a sized symbol over a
 * size-0 marker; an exported (global or weak) name over a local alias
 * (`__lll_lock_wait` over `__GI___lll_lock_wait`); fewer leading underscores
 * (`getppid` over `__getppid`); global over weak.
 */
function rank(size: number, bind: number, underscores: number): number {
  return (size > 0 ? 0 : 1000) + (bind === STB_LOCAL ? 100 : 0) + underscores * 10 + (bind === STB_GLOBAL ? 0 : 1);
}

export class ElfFile {
  readonly type: number;
  readonly segments: readonly LoadSegment[];
  readonly buildId: string | undefined;
  /** True when the symbols came from a `.symtab` (the file's or a debug file's), not just `.dynsym`. */
  readonly hasSymtab: boolean;
  readonly symbols: FunctionSymbols;

  private constructor(type: number, segments: LoadSegment[], buildId: string | undefined, hasSymtab: boolean, symbols: FunctionSymbols) {
    this.type = type;
    this.segments = segments;
    this.buildId = buildId;
    this.hasSymtab = hasSymtab;
    this.symbols = symbols;
  }

  /**
   * Reads `path`. When it has no `.symtab` (a stripped distribution binary)
   * and a separate debug file for its build-id is installed under
   * `debugRoot` (`/usr/lib/debug/.build-id/ab/cdef....debug`, what the
   * -dbg/-dbgsym packages install), that file's `.symtab` is used instead:
   * same build, same virtual addresses.
   */
  static open(path: string, debugRoot = '/usr/lib/debug'): ElfFile {
    const source = fileSource(path);
    try {
      const file = ElfFile.read(source);
      if (file.hasSymtab || !file.buildId || file.buildId.length < 4) return file;
      const debugPath = `${debugRoot}/.build-id/${file.buildId.slice(0, 2)}/${file.buildId.slice(2)}.debug`;
      if (!existsSync(debugPath)) return file;
      try {
        const debugSource = fileSource(debugPath);
        try {
          const debug = ElfFile.read(debugSource);
          if (debug.hasSymtab && debug.buildId === file.buildId) {
            return new ElfFile(file.type, file.segments as LoadSegment[], file.buildId, true, debug.symbols);
          }
        } finally {
          debugSource.close();
        }
      } catch {
        // A broken debug file is no reason to lose the .dynsym names.
      }
      return file;
    } finally {
      source.close();
    }
  }

  static fromBuffer(buf: Buffer): ElfFile {
    return ElfFile.read(bufferSource(buf));
  }

  static read(src: ElfSource): ElfFile {
    const eh = elfHeader(src);
    const type = eh.readUInt16LE(16);
    const phoff = u64(eh, 32);
    const phentsize = eh.readUInt16LE(54);
    let phnum = eh.readUInt16LE(56);
    const sections = readSections(src);
    // e_phnum 0xffff: the real count is in section 0's sh_info, like e_shnum's.
    if (phnum === 0xffff && sections.length > 0) phnum = sections[0].info;

    const segments: LoadSegment[] = [];
    const notes: { offset: number; size: number }[] = [];
    if (phoff !== 0 && phentsize >= 56 && phnum > 0) {
      const ph = src.read(phoff, phnum * phentsize);
      for (let i = 0; i < phnum; i++) {
        const at = i * phentsize;
        const ptype = ph.readUInt32LE(at);
        if (ptype === PT_LOAD) {
          segments.push({
            offset: u64(ph, at + 8),
            vaddr: u64(ph, at + 16),
            filesz: u64(ph, at + 32),
            memsz: u64(ph, at + 40),
            align: u64(ph, at + 48),
            executable: (ph.readUInt32LE(at + 4) & PF_X) !== 0,
          });
        } else if (ptype === PT_NOTE) {
          notes.push({ offset: u64(ph, at + 8), size: u64(ph, at + 32) });
        }
      }
    }

    // Build-id: from SHT_NOTE sections when there are section headers (a
    // debug file's PT_NOTE may point at NOBITS data), else from PT_NOTE.
    const noteSections = sections.filter((s) => s.type === SHT_NOTE);
    let buildId: string | undefined;
    for (const n of noteSections.length ? noteSections : notes) {
      if (n.size === 0 || n.size > 1 << 16 || n.offset + n.size > src.size) continue;
      buildId = findBuildId(src.read(n.offset, n.size));
      if (buildId) break;
    }

    const usable = (s: Section) => s.type !== SHT_NOBITS && s.entsize === SYM_SIZE && s.size > 0 && s.offset + s.size <= src.size;
    const symtab = sections.find((s) => s.type === SHT_SYMTAB && usable(s));
    const dynsym = sections.find((s) => s.type === SHT_DYNSYM && usable(s));
    const symbols = readFunctionSymbols(src, sections, symtab ?? dynsym, segments);
    return new ElfFile(type, segments, buildId, symtab !== undefined, symbols);
  }

  /**
   * The ELF virtual address (what `nm` prints and `addr2line -e` takes) of a
   * byte at `fileOffset` in this file. A process maps a segment at some
   * address with its file offset, so: runtime address -> file offset
   * (addr - map.start + map.offset) -> the PT_LOAD segment holding that
   * offset -> p_vaddr + (offset - p_offset). This is right for PIE and shared
   * objects (p_vaddr near 0, loaded anywhere) and for non-PIE executables
   * (p_vaddr already absolute) alike, and for segments whose p_vaddr and
   * p_offset differ (older linkers, -z noseparate-code).
   */
  fileOffsetToVaddr(fileOffset: number): number | undefined {
    let slack: LoadSegment | undefined;
    for (const seg of this.segments) {
      const size = Math.max(seg.filesz, 1);
      if (fileOffset >= seg.offset && fileOffset < seg.offset + size) {
        if (seg.executable) return seg.vaddr + (fileOffset - seg.offset);
        slack ??= seg;
      }
    }
    if (slack) return slack.vaddr + (fileOffset - slack.offset);
    // Past the segment's bytes but within its last page (mapped all the
    // same): attribute it to the executable segment owning that page.
    for (const seg of this.segments) {
      const page = seg.align > 1 ? seg.align : 4096;
      const first = seg.offset - (seg.offset % page);
      const last = seg.offset + seg.filesz + page - 1 - ((seg.offset + seg.filesz + page - 1) % page);
      if (seg.executable && fileOffset >= first && fileOffset < last) return seg.vaddr + (fileOffset - seg.offset);
    }
    return undefined;
  }

  get isPositionIndependent(): boolean {
    return this.type === ET_DYN;
  }
}

function findBuildId(notes: Buffer): string | undefined {
  let at = 0;
  while (at + 12 <= notes.length) {
    const namesz = notes.readUInt32LE(at);
    const descsz = notes.readUInt32LE(at + 4);
    const ntype = notes.readUInt32LE(at + 8);
    const name = at + 12;
    const desc = name + ((namesz + 3) & ~3);
    const next = desc + ((descsz + 3) & ~3);
    if (next > notes.length) return undefined;
    if (ntype === NT_GNU_BUILD_ID && namesz === 4 && notes.toString('latin1', name, name + 3) === 'GNU') {
      return notes.toString('hex', desc, desc + descsz);
    }
    at = next;
  }
  return undefined;
}

/**
 * Indices 0..n-1 ordered by starts[i]. When start and index fit together in
 * a double's 53 bits (any normal binary: vaddrs below 2^36 with fewer than
 * 2^17 functions, and so on), they are packed into one key and sorted by
 * Float64Array's native sort, which takes no comparator: 3-4x faster than
 * even the JS merge sort on node's 78k functions.
 */
function byStart(starts: Float64Array, n: number): Uint32Array {
  const bits = Math.max(1, Math.ceil(Math.log2(n + 1)));
  const scale = 2 ** bits;
  let max = 0;
  for (let i = 0; i < n; i++) if (starts[i] > max) max = starts[i];
  if (max * scale + scale > Number.MAX_SAFE_INTEGER) return sortedIndices(n, (a, b) => starts[a] - starts[b]);
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = starts[i] * scale + i;
  keys.sort();
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = keys[i] % scale;
  return order;
}

/** A symbol table's entries as 32-bit words (6 per Elf64_Sym), without copying when aligned. */
function symbolWords(buf: Buffer): Uint32Array {
  const count = Math.floor(buf.length / SYM_SIZE) * (SYM_SIZE / 4);
  if (buf.byteOffset % 4 === 0) return new Uint32Array(buf.buffer, buf.byteOffset, count);
  return new Uint32Array(Uint8Array.from(buf.subarray(0, count * 4)).buffer);
}

/**
 * Defined function symbols (STT_FUNC, STT_GNU_IFUNC), one per address.
 *
 * Only `.symtab` when there is one: the linker writes every symbol there,
 * exported ones included, so `.dynsym` would only add duplicates to sort
 * (node's binary: 110k + 75k entries). `.dynsym` alone for stripped files.
 *
 * Size-0 functions (assembly without .size) get an end at the next symbol or
 * the end of their segment, the way perf fixes them up, so frames in them are
 * not reported unknown.
 *
 * Speed matters here (the first frame in a big binary waits for it), so the
 * entries are read as 32-bit words and candidates live in typed arrays; a
 * plain object per candidate made node's own binary take 300 ms.
 */
function readFunctionSymbols(src: ElfSource, sections: Section[], table: Section | undefined, segments: LoadSegment[]): FunctionSymbols {
  if (!table) return FunctionSymbols.EMPTY;
  const strtab = sections[table.link];
  if (!strtab || strtab.type === SHT_NOBITS || strtab.offset + strtab.size > src.size) return FunctionSymbols.EMPTY;
  const strings = src.read(strtab.offset, strtab.size);
  const words = symbolWords(src.read(table.offset, table.size));
  const total = words.length / 6;

  const cStart = new Float64Array(total);
  const cSize = new Float64Array(total);
  const cRank = new Uint16Array(total);
  const cName = new Uint32Array(total);
  let n = 0;
  for (let i = 0, w = 0; i < total; i++, w += 6) {
    const info = words[w + 1];
    const stype = info & 0xf;
    if (stype !== STT_FUNC && stype !== STT_GNU_IFUNC) continue;
    if (info >>> 16 === SHN_UNDEF) continue;
    const start = words[w + 2] + words[w + 3] * 0x1_0000_0000;
    const nameOffset = words[w];
    if (start === 0 || nameOffset === 0 || nameOffset >= strings.length) continue;
    const size = words[w + 4] + words[w + 5] * 0x1_0000_0000;
    cStart[n] = start;
    cSize[n] = size;
    cRank[n] = rank(size, (info & 0xff) >> 4, leadingUnderscores(strings, nameOffset));
    cName[n] = nameOffset;
    n++;
  }
  if (n === 0) return FunctionSymbols.EMPTY;

  const order = byStart(cStart, n);

  // One symbol per address: the best-ranked of each run of equal starts
  // (on equal rank, the first in the table).
  const starts = new Float64Array(n);
  const ends = new Float64Array(n);
  const sized = new Uint8Array(n);
  const nameOffsets = new Uint32Array(n);
  let m = 0;
  let best = -1;
  for (let k = 0; k <= n; k++) {
    const c = k < n ? order[k] : -1;
    if (best >= 0 && (c < 0 || cStart[c] !== cStart[best])) {
      starts[m] = cStart[best];
      ends[m] = cStart[best] + cSize[best];
      sized[m] = cSize[best] > 0 ? 1 : 0;
      nameOffsets[m] = cName[best];
      m++;
      best = -1;
    }
    if (c >= 0 && (best < 0 || cRank[c] < cRank[best] || (cRank[c] === cRank[best] && c < best))) best = c;
  }
  for (let i = 0; i < m; i++) {
    if (sized[i]) continue;
    const seg = segments.find((s) => starts[i] >= s.vaddr && starts[i] < s.vaddr + s.memsz);
    const segEnd = seg ? seg.vaddr + seg.memsz : starts[i] + 1;
    ends[i] = i + 1 < m ? Math.min(starts[i + 1], segEnd) : segEnd;
  }
  return new FunctionSymbols(starts.slice(0, m), ends.slice(0, m), sized.slice(0, m), nameOffsets.slice(0, m), strings);
}
