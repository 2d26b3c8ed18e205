/**
 * USDT probes of an ELF file, from its .note.stapsdt section (the format
 * <sys/sdt.h> writes): each note's descriptor is pc, base, semaphore (three
 * u64), then NUL-terminated provider, name and argument strings. Used to
 * check --start/--stop-trigger u:PROVIDER:PROBE before attaching, and by
 * --list-probes. ELF64 little-endian only, like the rest of kdelay.
 */
import { ElfError, fileSource, readSections } from '../symbols/elf.js';

export interface UsdtProbe {
  provider: string;
  name: string;
  /** Non-zero when the probe is guarded by a semaphore (libbpf handles it). */
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
    for (let off = 0; off + 12 <= notes.length; ) {
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
