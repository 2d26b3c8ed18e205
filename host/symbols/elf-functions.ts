/**
 * A function of an ELF file found by name, as a file offset: where a uprobe
 * on it attaches (the kernel places uprobes by inode and file offset).
 *
 * Unlike FunctionSymbols (elf.ts), which keeps one name per address for
 * symbolizing, this looks at every entry of `.symtab` and `.dynsym`: the
 * name asked for may be an alias that loses there (`getpid` is a weak alias
 * of glibc's `__getpid`). Reading is split from choosing, which is pure:
 *
 * - versions: `.dynsym` entries of a non-default version (`.gnu.version`
 *   marks them hidden; `memcpy@GLIBC_2.2.5` beside `memcpy@@GLIBC_2.14`)
 *   count only when no default one exists, as the dynamic linker binds;
 * - binding: a global definition wins over a weak one, which wins over a
 *   local (static) one, as libbpf and the linker prefer;
 * - what is left must be one address, else the name is ambiguous (two static
 *   functions of one name in different files);
 * - an indirect function (STT_GNU_IFUNC: glibc's memcpy, strlen) is refused:
 *   its symbol is the resolver, which runs once when the library is
 *   relocated, so a uprobe there would practically never fire.
 */
import { existsSync } from 'node:fs';
import { SHN_UNDEF, SHT_DYNSYM, SHT_GNU_VERSYM, SHT_NOBITS, SHT_SYMTAB, STB_LOCAL, STB_WEAK, STT_FUNC, STT_GNU_IFUNC, SYM_SIZE } from './elf-constants.js';
import { type ElfSource, ElfFile, fileSource, type LoadSegment, readSections, type Section } from './elf.js';

/** In a .gnu.version entry: this definition is not the symbol's default version. */
const VERSYM_HIDDEN = 0x8000;

export interface FunctionCandidate {
  /** st_value: the ELF virtual address. */
  vaddr: number;
  bind: 'global' | 'weak' | 'local';
  ifunc: boolean;
  /** False for a non-default version (hidden in .gnu.version, or `name@VERSION` in a .symtab). */
  defaultVersion: boolean;
}

/** A function's place, or why it has none. */
export type FunctionPlace = { vaddr: number; offset: number } | { problem: string };

const hex = (n: number) => `0x${n.toString(16)}`;

/** The entry to attach to among the definitions of one name (pure; see the module comment). */
export function chooseFunction(name: string, candidates: readonly FunctionCandidate[]): { vaddr: number } | { problem: string } {
  if (candidates.length === 0) return { problem: `no function ${name}` };
  const defaults = candidates.filter((c) => c.defaultVersion);
  let left = defaults.length ? defaults : [...candidates];
  for (const bind of ['global', 'weak', 'local'] as const) {
    const of = left.filter((c) => c.bind === bind);
    if (of.length) {
      left = of;
      break;
    }
  }
  const addresses = [...new Set(left.map((c) => c.vaddr))].sort((a, b) => a - b);
  if (addresses.length > 1) return { problem: `${name} is ambiguous (${left[0].bind} functions of that name at ${addresses.map(hex).join(', ')})` };
  if (left.some((c) => c.vaddr === addresses[0] && c.ifunc)) {
    return { problem: `${name} is an indirect function (IFUNC), whose symbol is the resolver, run once at load time; name the implementation it picks instead` };
  }
  return { vaddr: addresses[0] };
}

/** The file offset of an ELF virtual address: the PT_LOAD segment whose file bytes hold it (pure). */
export function vaddrToFileOffset(segments: readonly LoadSegment[], vaddr: number): number | undefined {
  const segment = segments.find((s) => vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz);
  return segment && segment.offset + (vaddr - segment.vaddr);
}

/** Every defined function entry called `name` in the file's .symtab and .dynsym. */
export function functionCandidates(src: ElfSource, name: string): FunctionCandidate[] {
  const sections = readSections(src);
  const usable = (s: Section | undefined): s is Section => s !== undefined && s.type !== SHT_NOBITS && s.size > 0 && s.offset + s.size <= src.size;
  const found: FunctionCandidate[] = [];
  for (const table of sections) {
    if ((table.type !== SHT_SYMTAB && table.type !== SHT_DYNSYM) || table.entsize !== SYM_SIZE || !usable(table)) continue;
    const strtab = sections[table.link];
    if (!usable(strtab)) continue;
    const strings = src.read(strtab.offset, strtab.size);
    const symbols = src.read(table.offset, table.size);
    // .gnu.version parallels .dynsym, one u16 per entry.
    const versym = table.type === SHT_DYNSYM ? sections.find((s) => s.type === SHT_GNU_VERSYM && s.link === sections.indexOf(table)) : undefined;
    const versions = usable(versym) ? src.read(versym.offset, versym.size) : undefined;
    const wanted = Buffer.from(name, 'utf8');
    for (let i = 0, at = 0; at + SYM_SIZE <= symbols.length; i++, at += SYM_SIZE) {
      const info = symbols[at + 4];
      const type = info & 0xf;
      if (type !== STT_FUNC && type !== STT_GNU_IFUNC) continue;
      if (symbols.readUInt16LE(at + 6) === SHN_UNDEF) continue;
      const nameAt = symbols.readUInt32LE(at);
      if (nameAt === 0 || nameAt + wanted.length > strings.length || strings.compare(wanted, 0, wanted.length, nameAt, nameAt + wanted.length) !== 0) continue;
      // The name, or the name and a version (`name@VER`, `name@@VER` in some .symtabs).
      const next = strings[nameAt + wanted.length];
      if (next !== 0 && (next !== 0x40 || name.includes('@'))) continue;
      const symtabVersion = next === 0x40 ? (strings[nameAt + wanted.length + 1] === 0x40 ? 'default' : 'hidden') : undefined;
      const hidden = versions !== undefined && 2 * i + 2 <= versions.length && (versions.readUInt16LE(2 * i) & VERSYM_HIDDEN) !== 0;
      const bind = info >> 4;
      found.push({
        vaddr: Number(symbols.readBigUInt64LE(at + 8)),
        // STB_GNU_UNIQUE (10) is a global too.
        bind: bind === STB_LOCAL ? 'local' : bind === STB_WEAK ? 'weak' : 'global',
        ifunc: type === STT_GNU_IFUNC,
        defaultVersion: !hidden && symtabVersion !== 'hidden',
      });
    }
  }
  return found;
}

/**
 * Finds `name` in the ELF file at `path` (throws what reading it throws:
 * ENOENT, EACCES, ElfError). A stripped file's internal functions are
 * looked up in its separate debug file (`debugRoot/.build-id/...`, as
 * ElfFile.open), whose addresses are the same.
 */
export function findFunction(path: string, name: string, debugRoot = '/usr/lib/debug'): FunctionPlace {
  const source = fileSource(path);
  let elf: ElfFile;
  let candidates: FunctionCandidate[];
  try {
    elf = ElfFile.read(source);
    candidates = functionCandidates(source, name);
  } finally {
    source.close();
  }
  if (candidates.length === 0 && !elf.hasSymtab && elf.buildId && elf.buildId.length >= 4) {
    const debugPath = `${debugRoot}/.build-id/${elf.buildId.slice(0, 2)}/${elf.buildId.slice(2)}.debug`;
    if (existsSync(debugPath)) {
      const debug = fileSource(debugPath);
      try {
        candidates = functionCandidates(debug, name);
      } catch {
        // A broken debug file: the name is as unknown as without one.
      } finally {
        debug.close();
      }
    }
  }
  if (candidates.length === 0) return { problem: `no function ${name}${elf.hasSymtab ? '' : ' (the file is stripped: only its exported functions have names)'}` };
  const choice = chooseFunction(name, candidates);
  if ('problem' in choice) return choice;
  const offset = vaddrToFileOffset(elf.segments, choice.vaddr);
  if (offset === undefined) return { problem: `${name} (${hex(choice.vaddr)}) is in no loadable segment` };
  return { vaddr: choice.vaddr, offset };
}
