/**
 * Symbolizer for --syscall-events stacks: kernel frames from /proc/kallsyms,
 * user frames from the target's mapped ELF files, in kernel_delay.py's
 * layout (`fn+0xOFF [module]`, one frame per line; see kallsyms.ts and
 * user-symbolizer.ts for the `[unknown]` forms).
 *
 * Construct it while attached to the target (Symbolizer.forProcess): both
 * snapshots, kallsyms and the target's maps, are taken then, so stacks can
 * be printed after the target has exited. ELF files are parsed lazily, on
 * the first frame that needs each one, and cached.
 */
import { Kallsyms } from './kallsyms.js';
import { ProcessMaps } from './process-maps.js';
import { ElfCache, UserSymbolizer, type UserSymbolizerOptions } from './user-symbolizer.js';

export { ElfError, ElfFile } from './elf.js';
export { Kallsyms, type KernelSymbolHit } from './kallsyms.js';
export { type Mapping, parseMaps, ProcessMaps } from './process-maps.js';
export { ElfCache, UserSymbolizer, type UserSymbolizerOptions } from './user-symbolizer.js';

export interface SymbolizerOptions extends UserSymbolizerOptions {
  /** Reuse an already loaded kallsyms (several targets, tests, benchmarks). */
  kallsyms?: Kallsyms;
  kallsymsPath?: string;
}

export class Symbolizer {
  constructor(
    readonly kallsyms: Kallsyms,
    readonly users: UserSymbolizer,
  ) {}

  /**
   * Snapshots /proc/kallsyms and /proc/PID/maps now. Throws if the process
   * does not exist (its maps cannot be read).
   */
  static forProcess(pid: number, options: SymbolizerOptions = {}): Symbolizer {
    const procRoot = options.procRoot ?? '/proc';
    const maps = ProcessMaps.read(pid, procRoot);
    const kallsyms = options.kallsyms ?? Kallsyms.load(options.kallsymsPath ?? `${procRoot}/kallsyms`);
    return new Symbolizer(kallsyms, new UserSymbolizer(maps, { ...options, elfCache: options.elfCache ?? new ElfCache() }));
  }

  /** A kernel stack frame: `do_syscall_64+0x68 [kernel]`. */
  kernel(addr: bigint): string {
    return this.kallsyms.symbolize(addr);
  }

  /** A user stack frame of the target: `ovs_mutex_lock_at+0x18 [ovs-vswitchd]`. */
  user(addr: bigint): string {
    return this.users.symbolize(addr);
  }
}
