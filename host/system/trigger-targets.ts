/**
 * Checks that each trigger's target exists before anything is loaded, so a
 * typo is one clear line and exit 78 rather than a libbpf error, and decides
 * how to attach: kprobes where the kernel has them, else fentry/fexit.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { resolve } from 'node:path';
import { releaseAtLeast } from '../base/kernel-release.js';
import { hasKprobePmu, machineName, tracefsDir } from './kernel-features.js';
import { ExitCode, UserError } from '../base/exit-codes.js';
import { triggerError, type Trigger } from './triggers.js';
import { ElfError, ElfFile } from '../symbols/elf.js';
import { findFunction } from '../symbols/elf-functions.js';
import { findMappedLibrary, parseMaps } from '../symbols/process-maps.js';
import { usdtProbes } from './usdt-notes.js';

/** A function in a file, where a uprobe attaches: the file as kdelay opens it, and the function's offset in it. */
export interface UprobeLocation {
  binary: string;
  offset: number;
}

/** How the trigger probe attaches (option trigger.<role>.kind) and to what. */
export interface ResolvedTrigger {
  trigger: Trigger;
  attachKind: 'usdt' | 'uprobe' | 'uretprobe' | 'tracepoint' | 'kprobe' | 'kretprobe' | 'fentry' | 'fexit';
  args: string[];
  /**
   * up:LIBRARY:FUNCTION: where it attaches. args is then the one name
   * 'LIBRARY:FUNCTION', which the trigger probe attaches by and the host's
   * attach import looks up here (a guest never names a file itself).
   */
  location?: UprobeLocation;
}

export interface KernelFacts {
  /** Where tracefs is mounted (events/ inside), or undefined. */
  tracefs(): string | undefined;
  /** Whether the kernel can attach kprobes (it has the kprobe perf PMU). */
  hasKprobes(): boolean;
  /** Whether a kernel function of this name exists (in /proc/kallsyms). */
  hasKernelFunction(name: string): boolean;
  /** uname -r. */
  release(): string;
  /** uname -m ("x86_64", "arm64"). */
  machine(): string;
}

export const liveKernel: KernelFacts = {
  tracefs: () => tracefsDir(),
  hasKprobes: () => hasKprobePmu(),
  release: () => release(),
  machine: () => machineName(),
  hasKernelFunction: (name) => kallsymsHasFunction(readFileSync('/proc/kallsyms', 'utf8'), name),
};

/**
 * Whether /proc/kallsyms text lists NAME as a function. A module's symbols
 * end in a tab and `[module]` ("ffff... t ovs_dp_upcall\t[openvswitch]"),
 * vmlinux's at the end of the line: both count.
 */
export function kallsymsHasFunction(kallsyms: string, name: string): boolean {
  return new RegExp(`^[0-9a-f]+ [tTwW] ${name.replace(/[.$]/g, '\\$&')}(\\s|$)`, 'm').test(kallsyms);
}

/**
 * Reads the target's executable through /proc/PID/exe, which a kernel
 * thread or a zombie does not have, which needs root (ptrace access) to
 * read, and which vanishes when the target exits: each is one line.
 */
export function readTargetExecutable<T>(pid: number, why: string, read: (exe: string) => T): T {
  const exe = `/proc/${pid}/exe`;
  try {
    return read(exe);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw new UserError(`${why}: cannot read ${exe} (permission denied: run as root or with CAP_SYS_PTRACE)`, ExitCode.NOPERM);
    if (code === 'ENOENT' || code === 'ESRCH') {
      throw new UserError(
        `${why}: process ${pid} has no executable to read (${exe}: a kernel thread, a zombie, it has exited, or its main thread has: /proc shows no executable after pthread_exit())`,
        ExitCode.UNAVAILABLE,
      );
    }
    if (code) throw new UserError(`${why}: cannot read ${exe} (${code})`, ExitCode.UNAVAILABLE);
    if (err instanceof ElfError) throw new UserError(`${why}: ${exe} is not a readable ELF executable (${err.message})`, ExitCode.UNAVAILABLE);
    throw err;
  }
}

/**
 * The reference checks USDT probes when it parses the trigger ("Can't find
 * UDST probe"): a bad trigger, EX_CONFIG (78); so does kdelay, before
 * loading anything. (A uprobe function it only misses when attaching:
 * EX_OSERR, checkFunction.)
 */
function checkUsdt(trigger: Trigger, pid: number): void {
  const [provider, name] = trigger.args;
  const { exe, probes } = readTargetExecutable(pid, `${trigger.role ?? ''} trigger [${trigger.text}]`.trim(), (exe) => ({ exe, probes: usdtProbes(exe) }));
  if (probes.some((p) => p.provider === provider && p.name === name)) return;
  if (probes.length === 0) {
    throw triggerError(trigger, `the target's executable (${exe}) has no USDT notes at all; Open vSwitch needs ./configure --enable-usdt-probes`, ExitCode.CONFIG);
  }
  throw triggerError(trigger, `the target's executable (${exe}) has no USDT probe ${provider}:${name} (kdelay --list-probes shows the ones it has)`, ExitCode.CONFIG);
}

/** The reference fails a missing uprobe function at attach time, with EX_OSERR; so does kdelay, before loading anything. */
function checkFunction(trigger: Trigger, pid: number): void {
  const { exe, elf } = readTargetExecutable(pid, `${trigger.role ?? ''} trigger [${trigger.text}]`.trim(), (exe) => ({ exe, elf: ElfFile.open(exe) }));
  if (elf.symbols.has(trigger.args[0])) return;
  const stripped = elf.hasSymtab ? '' : '; the binary is stripped, so only exported functions can be found';
  throw triggerError(trigger, `no function ${trigger.args[0]} in the target's executable (${exe})${stripped}`, ExitCode.OSERR);
}

/** A file of the target read for a trigger: permission and a vanished process are one line each. */
function readForTrigger<T>(trigger: Trigger, path: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const who = `${trigger.role ? `${trigger.role} ` : ''}trigger [${trigger.text}]`;
    if (code === 'EACCES' || code === 'EPERM') throw new UserError(`${who}: cannot read ${path} (permission denied: run as root or with CAP_SYS_PTRACE)`, ExitCode.NOPERM);
    if (code === 'ENOENT' || code === 'ESRCH') throw triggerError(trigger, `${path} does not exist`);
    if (code) throw triggerError(trigger, `cannot read ${path} (${code})`);
    if (err instanceof ElfError) throw triggerError(trigger, `${path} is not an ELF file kdelay can read (${err.message})`);
    throw err;
  }
}

/**
 * up:LIBRARY:FUNCTION. A library named by its file name is the file the
 * target has mapped (findMappedLibrary), opened through /proc/PID/root: the
 * path in maps is the target's, in its own mount namespace (a container).
 * A path is taken as it is, in kdelay's namespace, and need not be mapped
 * yet (a library the target will dlopen()). Either way the function is
 * found in the file by kdelay (symbols/elf-functions.ts) and attached by
 * offset, so libbpf never searches a library path of its own.
 */
export function resolveLibraryFunction(trigger: Trigger, pid: number, procRoot = '/proc'): UprobeLocation {
  const [library, fn] = trigger.args;
  let binary: string;
  let shown: string;
  if (library.includes('/')) {
    binary = shown = resolve(library);
  } else {
    const mapsPath = `${procRoot}/${pid}/maps`;
    const found = findMappedLibrary(parseMaps(readForTrigger(trigger, mapsPath, () => readFileSync(mapsPath, 'utf8'))), library);
    if ('problem' in found) throw triggerError(trigger, found.problem);
    const { mapping } = found;
    shown = mapping.path;
    binary = `${procRoot}/${pid}/root${mapping.path}`;
    // A uprobe goes on an inode: the file at that path must still be the one mapped.
    const replaced = `${mapping.path} was deleted or replaced after the target mapped it (an upgrade?): restart the target, or give the new file's path`;
    if (mapping.deleted) throw triggerError(trigger, replaced);
    if (readForTrigger(trigger, binary, () => statSync(binary)).ino !== mapping.inode) throw triggerError(trigger, replaced);
  }
  const place = readForTrigger(trigger, shown, () => findFunction(binary, fn));
  if ('problem' in place) throw triggerError(trigger, `${shown}: ${place.problem}`);
  return { binary, offset: place.offset };
}

/** Validates one trigger against the target process and this kernel. */
export function resolveTrigger(trigger: Trigger, pid: number, kernel: KernelFacts = liveKernel): ResolvedTrigger {
  switch (trigger.kind) {
    case 'usdt':
      checkUsdt(trigger, pid);
      return { trigger, attachKind: 'usdt', args: trigger.args };
    case 'uprobe':
    case 'uretprobe':
      if (trigger.args.length === 2) {
        return { trigger, attachKind: trigger.kind, args: [trigger.args.join(':')], location: resolveLibraryFunction(trigger, pid) };
      }
      checkFunction(trigger, pid);
      return { trigger, attachKind: trigger.kind, args: trigger.args };
    case 'tracepoint': {
      const tracefs = kernel.tracefs();
      if (!tracefs)
        throw new UserError(
          `${trigger.role ? `${trigger.role} ` : ''}trigger [${trigger.text}] needs tracefs, which is not mounted (mount -t tracefs nodev /sys/kernel/tracing)`,
          ExitCode.OSFILE,
        );
      const [system, event] = trigger.args;
      if (!existsSync(`${tracefs}/events/${system}/${event}`)) throw triggerError(trigger, `there is no tracepoint ${system}:${event} (see ${tracefs}/events/)`);
      return { trigger, attachKind: 'tracepoint', args: trigger.args };
    }
    case 'kprobe':
    case 'kretprobe': {
      const fn = trigger.args[0];
      if (!kernel.hasKernelFunction(fn)) throw triggerError(trigger, `there is no kernel function ${fn} (see /proc/kallsyms)`);
      if (kernel.hasKprobes()) return { trigger, attachKind: trigger.kind, args: trigger.args };
      // No kprobes (CONFIG_KPROBES unset): fentry/fexit reach the same places where the kernel allows them.
      const why = fentryUnavailable(kernel, false);
      if (why)
        throw new UserError(`trigger [${trigger.text}]: this kernel supports neither kprobes (no kprobe PMU: CONFIG_KPROBES is off) nor fentry/fexit (${why})`, ExitCode.OSERR);
      return { trigger, attachKind: trigger.kind === 'kprobe' ? 'fentry' : 'fexit', args: trigger.args };
    }
  }
}

/**
 * Why fentry/fexit, kdelay's stand-in for kprobes where the kernel has
 * none, cannot attach here, or undefined. They need a BPF trampoline (arm64:
 * 6.0) and the target's BTF (a module's: 5.11). Other limits (functions the
 * kernel does not allow) show when the program loads.
 */
export function fentryUnavailable(kernel: KernelFacts, moduleFunction: boolean): string | undefined {
  const release = kernel.release();
  if (kernel.machine() === 'arm64' && !releaseAtLeast(release, '6.0')) return `fentry/fexit need BPF trampolines, which arm64 has from 6.0 on (this kernel is ${release})`;
  if (moduleFunction && !releaseAtLeast(release, '5.11')) return `fentry/fexit on a module function need module BTF, from 5.11 on (this kernel is ${release})`;
  return undefined;
}

/**
 * How a probe can run at a kernel function's return here (a manifest option
 * `"from": "return_probe.FUNCTION"`), or why not: a kretprobe where the
 * kernel has kprobes, else fexit where that can reach the function. The
 * function counts as a module's when a module the probe requires is
 * loadable (/sys/module/NAME/initstate; a built-in one's is in vmlinux's BTF).
 */
export function returnProbePlan(
  fn: string,
  requiredModules: readonly string[],
  kernel: KernelFacts = liveKernel,
  sys = '/sys',
): { attach: 'kretprobe' | 'fexit' } | { unavailable: string } {
  if (!kernel.hasKernelFunction(fn)) return { unavailable: `the kernel has no ${fn} function` };
  if (kernel.hasKprobes()) return { attach: 'kretprobe' };
  const why = fentryUnavailable(
    kernel,
    requiredModules.some((name) => existsSync(`${sys}/module/${name}/initstate`)),
  );
  return why ? { unavailable: `needs kprobes or fexit: this kernel has no kprobes, and ${why}` } : { attach: 'fexit' };
}

/** The trigger probe's options for a role: trigger.<role>.kind/arg1/arg2. */
export function triggerOptions(role: 'start' | 'stop', resolved: ResolvedTrigger | undefined): Record<string, string> {
  if (!resolved) return {};
  const [arg1 = '', arg2 = ''] = resolved.args;
  return { [`trigger.${role}.kind`]: resolved.attachKind, [`trigger.${role}.arg1`]: arg1, [`trigger.${role}.arg2`]: arg2 };
}
