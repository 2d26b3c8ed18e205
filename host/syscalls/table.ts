// Syscall number <-> name lookup for kdelay's per-syscall statistics.
//
// The BPF probes only see the raw syscall number (the `id` of raw_syscalls
// sys_enter/sys_exit). Numbers are per architecture: x86_64 kept its historic
// order (read = 0, poll = 7), while arm64 uses the asm-generic numbering
// (read = 63, and no poll/open at all, only ppoll/openat). Printing a name
// from the wrong table is silently wrong, so always pick the table of the
// architecture the traced kernel runs on, never a single shared one.
//
// The tables themselves are generated from the kernel UAPI headers of one
// pinned Debian linux-libc-dev (scripts/lib/syscall-headers.mjs; 7.2 headers)
// by `node scripts/generate-syscall-tables.mjs`; do not edit x86_64.ts/arm64.ts by
// hand. Syscalls newer than those headers have no name here: callers print
// the number ("[unknown: N]", label()) when name() returns undefined.

import { SYSCALLS_ARM64 } from './arm64.js';
import { SYSCALLS_X86_64 } from './x86_64.js';
import { machineName } from '../system/kernel-features.js';

/** Kernel architecture names (as in uname -m / the kernel tree), not Node's. */
export type Arch = 'x86_64' | 'arm64';

const SOURCES: Record<Arch, ReadonlyArray<readonly [number, string]>> = {
  x86_64: SYSCALLS_X86_64,
  arm64: SYSCALLS_ARM64,
};

/** The architecture this process runs on, or undefined if we have no table for it. */
export function hostArch(): Arch | undefined {
  const machine = machineName();
  return machine in SOURCES ? (machine as Arch) : undefined;
}

export class SyscallTable {
  private static readonly cache = new Map<Arch, SyscallTable>();

  private readonly byNumber = new Map<number, string>();
  private readonly byName = new Map<string, number>();

  private constructor(
    readonly arch: Arch,
    private readonly source: ReadonlyArray<readonly [number, string]>,
  ) {
    for (const [nr, name] of source) {
      this.byNumber.set(nr, name);
      this.byName.set(name, nr);
    }
  }

  /** The (shared, immutable) table for `arch`. */
  static for(arch: Arch): SyscallTable {
    let table = SyscallTable.cache.get(arch);
    if (!table) {
      const source = SOURCES[arch];
      if (!source) throw new Error(`no syscall table for architecture ${String(arch)}`);
      table = new SyscallTable(arch, source);
      SyscallTable.cache.set(arch, table);
    }
    return table;
  }

  /** Name without the __NR_ prefix (e.g. 'read'), or undefined if unknown. */
  name(nr: number): string | undefined {
    return this.byNumber.get(nr);
  }

  /** The name as reports print it: name(nr), or "[unknown: N]" as BCC's table prints a number it lacks. */
  label(nr: number): string {
    return this.name(nr) ?? `[unknown: ${nr}]`;
  }

  /** Number for a name without the __NR_ prefix, or undefined if this arch lacks it. */
  number(name: string): number | undefined {
    return this.byName.get(name);
  }

  /** All [number, name] pairs, sorted by number. */
  entries(): ReadonlyArray<readonly [number, string]> {
    return this.source;
  }
}
