/**
 * What kernel code a guest may load. The Wasm sandbox protects the host's
 * memory, not the kernel: a bundle's BPF object runs in the kernel as root.
 * Before an object is opened, its ELF program sections are checked against
 * an allow-list of tracing attach kinds; networking hooks, LSM, cgroup and
 * struct_ops programs (which change what the system does, rather than
 * observe it) are refused.
 */
import { BpfError, EPERM } from '../libbpf/errors.js';
import { bufferSource, ElfError, readSections } from '../symbols/elf.js';

/** SEC() prefixes of program kinds that only observe. */
const ALLOWED = ['tp_btf/', 'tp_btf', 'raw_tp/', 'raw_tp', 'raw_tracepoint/', 'tracepoint/', 'tracepoint', 'tp/',
  'kprobe/', 'kprobe', 'kretprobe/', 'kretprobe', 'uprobe/', 'uprobe', 'uretprobe/', 'uretprobe', 'usdt/', 'usdt',
  'fentry/', 'fentry', 'fexit/', 'fexit', 'perf_event'];
const SHF_EXECINSTR = 0x4;

/** The names of an ELF64-LE object's executable sections (its BPF programs). */
export function programSections(elf: Uint8Array): string[] {
  try {
    return readSections(bufferSource(Buffer.from(elf.buffer, elf.byteOffset, elf.byteLength)))
      .filter((s) => s.flags & SHF_EXECINSTR)
      .map((s) => s.name);
  } catch (err) {
    if (err instanceof ElfError) throw new BpfError(`not an ELF64 little-endian object (${err.message})`, EPERM);
    throw err;
  }
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
