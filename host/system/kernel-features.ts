/**
 * The kernel features a probe manifest can require (`"requires": [...]`),
 * and checking them on the running kernel before a probe loads, so that a
 * probe the kernel cannot support is skipped with one line saying why while
 * the others run.
 *
 * The vocabulary (documented in probes/README.md):
 *   btf                   /sys/kernel/btf/vmlinux (CO-RE needs it)
 *   tp_btf                BTF-typed tracepoints
 *   raw_tp                raw tracepoints (BPF_PROG_TYPE_RAW_TRACEPOINT loads)
 *   ringbuf               BPF_MAP_TYPE_RINGBUF
 *   kprobes, uprobes      the kprobe / uprobe perf PMUs
 *   tracefs               classic tracepoints' event directory
 *   kernel module NAME    the module is loaded (/sys/module/NAME)
 *   kernel>=X.Y           the running kernel's release
 *   x86-64, arm64         the machine's architecture (the object's pt_regs access is arch-specific)
 * A requirement this kdelay does not know is reported as missing (a newer
 * probe on an older kdelay), never silently ignored. An answer says whether
 * the kernel lacks the feature or kdelay lacks the permission to use or
 * check it: the fixes differ (another kernel vs capabilities or root).
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { release } from 'node:os';
import { releaseAtLeast } from '../base/kernel-release.js';
import type { BpfBackend } from '../libbpf/backend.js';

/** Whether the kernel has the kprobe perf PMU (CONFIG_KPROBES), under a /sys root. */
export function hasKprobePmu(sys = '/sys'): boolean {
  return existsSync(`${sys}/bus/event_source/devices/kprobe`);
}

/** Where tracefs is mounted (its events/ inside), or undefined. */
export function tracefsDir(sys = '/sys'): string | undefined {
  return [`${sys}/kernel/tracing`, `${sys}/kernel/debug/tracing`].find((dir) => existsSync(`${dir}/events`));
}

/** Why tracefs cannot be used: not mounted (the system's doing) or not readable by us (permission). */
function tracefsProblem(sys: string): string | undefined {
  if (tracefsDir(sys)) return undefined;
  for (const dir of [`${sys}/kernel/tracing`, `${sys}/kernel/debug/tracing`]) {
    try {
      accessSync(dir, constants.R_OK | constants.X_OK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EACCES') return `no permission to read ${dir} (needs root or CAP_DAC_READ_SEARCH)`;
    }
  }
  return 'tracefs is not mounted';
}

/** Answers one requirement: undefined when met, else why not (a few words). */
export interface FeatureSource {
  check(requirement: string): string | undefined;
}

/** The first unmet requirement, as "needs X: why"; undefined when all are met. */
export function missingRequirement(requires: readonly string[], features: FeatureSource): string | undefined {
  for (const requirement of requires) {
    const why = features.check(requirement);
    // "the openvswitch kernel module is not loaded" already names what is needed; the prefix would repeat it.
    if (why !== undefined) return /^kernel module /.test(requirement.trim()) ? why : `needs ${requirement}: ${why}`;
  }
  return undefined;
}

/** This machine's name as bundles' manifests spell architectures (uname -m; "x86_64", "arm64"). */
export function machineName(arch: string = process.arch): string {
  return arch === 'x64' ? 'x86_64' : arch;
}

/**
 * Why a bundle cannot run on this machine, as "needs x86_64: this machine is
 * arm64", or undefined when it carries a BPF object for it. A manifest
 * without `architectures` predates per-architecture objects: x86_64 only.
 */
export function missingArchitecture(architectures: readonly string[] | undefined, arch: string = process.arch): string | undefined {
  const supported = architectures ?? ['x86_64'];
  const machine = machineName(arch);
  if (supported.includes(machine)) return undefined;
  return `needs ${supported.join(' or ')}: this machine is ${machine}, and the bundle carries no BPF object for it`;
}

const BPF_PROG_TYPE_RAW_TRACEPOINT = 17;
const BPF_MAP_TYPE_RINGBUF = 27;

/** Checks requirements against this machine; answers are cached for the run. */
export class KernelFeatures implements FeatureSource {
  private readonly answers = new Map<string, string | undefined>();

  /**
   * Without a backend (e.g. `probes list` without CAP_BPF), BPF type probes
   * are reported as unknown, naming the capabilities that were missing.
   */
  constructor(
    private readonly backend?: BpfBackend,
    private readonly paths = { sys: '/sys', release: release(), arch: process.arch as string },
    private readonly missingCapabilities: readonly string[] = [],
  ) {}

  check(requirement: string): string | undefined {
    if (!this.answers.has(requirement)) this.answers.set(requirement, this.answer(requirement.trim()));
    return this.answers.get(requirement);
  }

  private bpfType(kind: 'program' | 'map', type: number, what: string): string | undefined {
    if (!this.backend) {
      const lacking = this.missingCapabilities.length ? `kdelay lacks ${this.missingCapabilities.join(' and ')}` : 'BPF is unavailable';
      return `cannot check whether this kernel supports ${what}: ${lacking} (a permission problem, not the kernel's)`;
    }
    const ok = kind === 'program' ? this.backend.supportsProgramType(type) : this.backend.supportsMapType(type);
    return ok ? undefined : `this kernel does not support ${what}`;
  }

  private answer(requirement: string): string | undefined {
    const sys = this.paths.sys;
    const btf = () => (existsSync(`${sys}/kernel/btf/vmlinux`) ? undefined : `no kernel BTF (${sys}/kernel/btf/vmlinux; CONFIG_DEBUG_INFO_BTF)`);
    const version = /^kernel\s*>=\s*(\d+(?:\.\d+)*)$/.exec(requirement);
    if (version) return releaseAtLeast(this.paths.release, version[1]) ? undefined : `this kernel is ${this.paths.release}`;
    const module = /^kernel module ([\w-]+)$/.exec(requirement);
    if (module) return existsSync(`${sys}/module/${module[1]}`) ? undefined : `the ${module[1]} kernel module is not loaded`;
    switch (requirement) {
      case 'btf':
        return btf();
      case 'tp_btf':
        // libbpf cannot probe BPF_PROG_TYPE_TRACING without an attach target
        // (it reports 0), so: kernel BTF, raw tracepoints, and 5.5+, where
        // tp_btf arrived with them.
        return (
          btf() ??
          this.bpfType('program', BPF_PROG_TYPE_RAW_TRACEPOINT, 'raw tracepoints') ??
          (releaseAtLeast(this.paths.release, '5.5') ? undefined : `this kernel is ${this.paths.release} (tp_btf needs 5.5)`)
        );
      case 'raw_tp':
        return this.bpfType('program', BPF_PROG_TYPE_RAW_TRACEPOINT, 'raw tracepoints');
      case 'ringbuf':
        return this.bpfType('map', BPF_MAP_TYPE_RINGBUF, 'BPF ring buffers');
      case 'kprobes':
        return hasKprobePmu(sys) ? undefined : 'no kprobe PMU (CONFIG_KPROBES is off)';
      case 'uprobes':
        return existsSync(`${sys}/bus/event_source/devices/uprobe`) ? undefined : 'no uprobe PMU (CONFIG_UPROBE_EVENTS is off)';
      case 'x86-64':
      case 'arm64':
        return this.paths.arch === (requirement === 'x86-64' ? 'x64' : 'arm64') ? undefined : `this machine is ${this.paths.arch}`;
      case 'tracefs':
        return tracefsProblem(sys);
      default:
        return 'a kernel feature this kdelay does not know how to check (a newer probe?)';
    }
  }
}
