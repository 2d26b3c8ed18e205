/**
 * What kernel code a guest may load. The Wasm sandbox protects the host's
 * memory, not the kernel: a bundle's BPF object runs in the kernel as root.
 * Before an object is opened, its ELF program sections are checked against
 * an allow-list of tracing attach kinds; networking hooks, LSM, cgroup and
 * struct_ops programs (which change what the system does, rather than
 * observe it) are refused.
 */
import { BpfError, EPERM } from '../libbpf/errors.js';

/** SEC() prefixes of program kinds that only observe. */
const ALLOWED = ['tp_btf/', 'tp_btf', 'raw_tp/', 'raw_tp', 'raw_tracepoint/', 'tracepoint/', 'tracepoint', 'tp/',
  'kprobe/', 'kprobe', 'kretprobe/', 'kretprobe', 'uprobe/', 'uprobe', 'uretprobe/', 'uretprobe', 'usdt/', 'usdt',
  'fentry/', 'fentry', 'fexit/', 'fexit', 'perf_event'];
const SHF_EXECINSTR = 0x4;

/** The names of an ELF64-LE object's executable sections (its BPF programs). */
export function programSections(elf: Uint8Array): string[] {
  const buf = Buffer.from(elf.buffer, elf.byteOffset, elf.byteLength);
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46 || buf[4] !== 2 || buf[5] !== 1) {
    throw new BpfError('not an ELF64 little-endian object', EPERM);
  }
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const shstrndx = buf.readUInt16LE(0x3e);
  if (shoff + shnum * shentsize > buf.length || shstrndx >= shnum) throw new BpfError('malformed ELF section table', EPERM);
  const header = (i: number) => shoff + i * shentsize;
  const strOff = Number(buf.readBigUInt64LE(header(shstrndx) + 0x18));
  const names: string[] = [];
  for (let i = 0; i < shnum; i++) {
    const flags = buf.readBigUInt64LE(header(i) + 0x08);
    if (!(flags & BigInt(SHF_EXECINSTR))) continue;
    const nameOff = strOff + buf.readUInt32LE(header(i));
    const end = buf.indexOf(0, nameOff);
    names.push(buf.toString('latin1', nameOff, end < 0 ? buf.length : end));
  }
  return names;
}

/** Throws (EPERM) unless every program of the object is of an allowed kind. */
export function checkProgramPolicy(elf: Uint8Array, owner: string): void {
  for (const section of programSections(elf)) {
    if (section === '.text') continue; // BPF subprograms (static functions), not attachable
    if (!ALLOWED.some((prefix) => section === prefix || (prefix.endsWith('/') && section.startsWith(prefix)))) {
      throw new BpfError(`${owner}: program section "${section}" is not an allowed kind (kdelay loads tracing programs only)`, EPERM);
    }
  }
}
