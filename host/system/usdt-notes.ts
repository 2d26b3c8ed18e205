/**
 * USDT probes of an ELF file, from its .note.stapsdt section (the format
 * <sys/sdt.h> writes): each note's descriptor is pc, base, semaphore (three
 * u64), then NUL-terminated provider, name and argument strings. Used to
 * check --start/--stop-trigger u:PROVIDER:PROBE before attaching, and by
 * --list-probes. ELF64 little-endian only, like the rest of kdelay.
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { ElfError, ElfFile, fileSource, readSections } from '../symbols/elf.js';

export interface UsdtProbe {
  provider: string;
  name: string;
  /**
   * The address (ELF virtual) of the probe's semaphore, 0 when it has none.
   * A guarded probe runs only while its semaphore is non-zero: tracers raise
   * it while attached. kdelay does through libbpf, which gives the kernel
   * its file offset (the uprobe reference counter, ref_ctr_offset): the
   * kernel raises it in the target at attach and lowers it at detach.
   */
  semaphore: bigint;
}

const NT_STAPSDT = 3;

/** The USDT probes in an ELF file; [] when it has none (or is not ELF64-LE). Throws if it cannot be opened. */
export function usdtProbes(path: string): UsdtProbe[] {
  const src = fileSource(path);
  try {
    let sections;
    try {
      sections = readSections(src);
    } catch (err) {
      if (err instanceof ElfError) return [];
      throw err;
    }
    const stapsdt = sections.find((s) => s.name === '.note.stapsdt');
    if (!stapsdt) return [];
    const notes = src.read(stapsdt.offset, stapsdt.size);
    const probes: UsdtProbe[] = [];
    for (let off = 0; off + 12 <= notes.length;) {
      const namesz = notes.readUInt32LE(off);
      const descsz = notes.readUInt32LE(off + 4);
      const type = notes.readUInt32LE(off + 8);
      const nameStart = off + 12;
      const descStart = nameStart + ((namesz + 3) & ~3);
      if (type === NT_STAPSDT && notes.toString('latin1', nameStart, nameStart + namesz - 1) === 'stapsdt') {
        const desc = notes.subarray(descStart, descStart + descsz);
        const strings = desc.subarray(24).toString('latin1').split('\0');
        probes.push({ provider: strings[0], name: strings[1], semaphore: desc.readBigUInt64LE(16) });
      }
      off = descStart + ((descsz + 3) & ~3);
    }
    return probes;
  } finally {
    src.close();
  }
}

/**
 * A semaphore's value in the running target now: how many tracers hold the
 * probe enabled (the kernel counts one per attached uprobe). Undefined when
 * it cannot be read (no mapping of it, no permission). The semaphore's file
 * offset is found through the executable's PT_LOAD segments, and its address
 * through the target's mapping of that offset (/proc/PID/maps, by inode);
 * the value is read from /proc/PID/mem.
 */
export function semaphoreCount(pid: number, exe: string, semaphore: bigint, procRoot = '/proc'): number | undefined {
  try {
    const address = Number(semaphore);
    const segment = ElfFile.open(exe).segments.find((s) => address >= s.vaddr && address + 2 <= s.vaddr + s.filesz);
    if (!segment) return undefined;
    const fileOffset = address - segment.vaddr + segment.offset;
    const inode = statSync(exe).ino;
    for (const line of readFileSync(`${procRoot}/${pid}/maps`, 'utf8').split('\n')) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) \S+ (\d+)/.exec(line);
      if (!m || Number(m[5]) !== inode || m[3][1] !== 'w') continue;
      const [start, end, offset] = [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[4], 16)];
      if (fileOffset < offset || fileOffset + 2 > offset + (end - start)) continue;
      const fd = openSync(`${procRoot}/${pid}/mem`, 'r');
      try {
        const value = Buffer.alloc(2);
        return readSync(fd, value, 0, 2, start + (fileOffset - offset)) === 2 ? value.readUInt16LE(0) : undefined;
      } finally {
        closeSync(fd);
      }
    }
    return undefined;
  } catch {
    return undefined;
  }
}
