/**
 * USDT probes of an ELF file, from its .note.stapsdt section (the format
 * <sys/sdt.h> writes): each note's descriptor is pc, base, semaphore (three
 * u64), then NUL-terminated provider, name and argument strings. Used to
 * check --start/--stop-trigger u:PROVIDER:PROBE before attaching, and by
 * --list-probes. ELF64 little-endian only, like the rest of kdelay.
 */
import { closeSync, openSync, readSync } from 'node:fs';

export interface UsdtProbe {
  provider: string;
  name: string;
  /** Non-zero when the probe is guarded by a semaphore (libbpf handles it). */
  semaphore: bigint;
}

const NT_STAPSDT = 3;

function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const n = readSync(fd, buf, 0, length, offset);
  if (n !== length) throw new Error('short read');
  return buf;
}

/** The section's bytes, or undefined if the file is not ELF64-LE or has no such section. */
function section(fd: number, wanted: string): Buffer | undefined {
  const eh = readAt(fd, 0, 64);
  if (eh.readUInt32BE(0) !== 0x7f454c46 || eh[4] !== 2 || eh[5] !== 1) return undefined;
  const shoff = Number(eh.readBigUInt64LE(0x28));
  const shentsize = eh.readUInt16LE(0x3a);
  const shnum = eh.readUInt16LE(0x3c);
  const shstrndx = eh.readUInt16LE(0x3e);
  if (!shoff || !shnum) return undefined;
  const headers = readAt(fd, shoff, shentsize * shnum);
  const header = (i: number) => ({
    name: headers.readUInt32LE(i * shentsize),
    offset: Number(headers.readBigUInt64LE(i * shentsize + 0x18)),
    size: Number(headers.readBigUInt64LE(i * shentsize + 0x20)),
  });
  const strtab = header(shstrndx);
  const names = readAt(fd, strtab.offset, strtab.size);
  for (let i = 0; i < shnum; i++) {
    const h = header(i);
    const end = names.indexOf(0, h.name);
    if (names.toString('latin1', h.name, end) === wanted) return readAt(fd, h.offset, h.size);
  }
  return undefined;
}

/** The USDT probes in an ELF file; [] when it has none. Throws if it cannot be read. */
export function usdtProbes(path: string): UsdtProbe[] {
  const fd = openSync(path, 'r');
  try {
    const notes = section(fd, '.note.stapsdt');
    if (!notes) return [];
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
    closeSync(fd);
  }
}
