/**
 * The thin impure layer: checks the environment, starts the probes, wires
 * signals and the clock to the sampling loop, and maps failures to exit
 * codes. Everything it decides with is tested elsewhere as pure code.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitCode, UserError } from '../cli/exit-codes.js';
import type { KdelayOptions } from '../cli/options.js';
import type { BpfBackend } from '../libbpf/backend.js';
import { BpfError } from '../libbpf/errors.js';
import { nowEpochMicros } from '../report/format.js';
import { ManifestError } from '../report/manifest.js';
import { jsonRenderer, textRenderer } from '../report/renderers.js';
import { ProbeError } from '../runtime/probe-guest.js';
import { hostArch, SyscallTable } from '../syscalls/table.js';
import { processExists, resolveTarget, threadName } from '../target/procfs.js';
import { builtinBundles, ProbeSet } from './probe-set.js';
import { runTimeMode, type SamplerIO, type WaitOutcome } from './sampler.js';

/** The installed package's root (holds bundles/), from dist/host/driver/. */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const BTF_PATH = '/sys/kernel/btf/vmlinux';
const TARGET_CHECK_MS = 100;

/** CO-RE needs the running kernel's BTF; say so plainly when it is missing. */
export function requireKernelBtf(path = BTF_PATH): void {
  if (!existsSync(path)) {
    throw new UserError(`the kernel has no BTF (${path} is missing); kdelay needs a kernel built with CONFIG_DEBUG_INFO_BTF=y`, ExitCode.OSFILE);
  }
}

/** Loads the libbpf backend late, so a missing libbpf.so.1 is a clean exit 72. */
async function loadBackend(debug: boolean): Promise<BpfBackend> {
  requireKernelBtf();
  try {
    const { LibbpfBackend } = await import('../libbpf/libbpf-backend.js');
    const { libbpfLog } = await import('../libbpf/log.js');
    libbpfLog.install(debug);
    return new LibbpfBackend();
  } catch (err) {
    throw new UserError(`BPF is unavailable: ${(err as Error).message}`, ExitCode.OSFILE);
  }
}

/** Ctrl-C and SIGTERM end the current sample early; the report is still printed. */
class Interrupts {
  stopped = false;
  private wake: (() => void) | undefined;
  private readonly onSignal = () => {
    this.stopped = true;
    this.wake?.();
  };

  constructor() {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  /** Waits ms, waking early on a signal or when the target exits. */
  wait(ms: number, pid: number): Promise<WaitOutcome> {
    if (this.stopped) return Promise.resolve('interrupted');
    return new Promise((resolve) => {
      const finish = (outcome: WaitOutcome) => {
        clearTimeout(timer);
        clearInterval(watcher);
        this.wake = undefined;
        resolve(outcome);
      };
      const timer = setTimeout(() => finish('elapsed'), ms);
      const watcher = setInterval(() => processExists(pid) || finish('target-exited'), TARGET_CHECK_MS);
      this.wake = () => finish('interrupted');
    });
  }

  dispose() {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }
}

function startProbes(backend: BpfBackend, pid: number): ProbeSet {
  const arch = hostArch();
  if (!arch) throw new UserError(`no syscall table for this architecture (${process.arch})`, ExitCode.OSFILE);
  try {
    return ProbeSet.start(backend, builtinBundles(PACKAGE_ROOT), { targetTgid: pid, syscalls: SyscallTable.for(arch) });
  } catch (err) {
    if (err instanceof ManifestError) throw new UserError(err.message, ExitCode.OSFILE);
    if (err instanceof ProbeError) throw new UserError(err.message, ExitCode.OSERR);
    // The gate map is created first: failing there means BPF itself is unusable.
    if (err instanceof BpfError) throw new UserError(`BPF is unavailable: ${err.message}`, ExitCode.OSFILE);
    throw err;
  }
}

export async function run(options: KdelayOptions): Promise<number> {
  const pid = resolveTarget(options.pid);
  if (process.geteuid?.() !== 0) throw new UserError('must run as root to attach BPF probes', ExitCode.NOPERM);
  const backend = await loadBackend(options.debug !== 0);

  const print = (line: string) => process.stdout.write(`${line}\n`);
  const interrupts = new Interrupts();
  const probes = startProbes(backend, pid);
  try {
    const nameOf = (tid: number) => threadName(pid, tid);
    const sections = probes.sections;
    const renderer = options.json
      ? jsonRenderer(sections, nameOf, print)
      : textRenderer(sections, nameOf, print, (bytes) => process.stdout.write(bytes));
    const io: SamplerIO = { nowMicros: nowEpochMicros, wait: (ms) => interrupts.wait(ms, pid), print };
    await runTimeMode(
      options,
      {
        open: () => probes.gate.open(),
        close: () => {
          const gate = probes.gate.close();
          return Number(gate.windowStopNs - gate.windowStartNs);
        },
        collect: () => probes.collect(),
        reset: () => {
          probes.reset();
          probes.gate.idle();
        },
      },
      io,
      renderer,
      options.json,
    );
  } finally {
    probes.close();
    interrupts.dispose();
  }
  return ExitCode.OK;
}
