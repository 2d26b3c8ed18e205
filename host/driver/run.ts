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
import { ElfFile } from '../symbols/elf.js';
import { processExists, resolveTarget, threadName } from '../target/procfs.js';
import { type ResolvedTrigger, resolveTrigger, triggerOptions, upcallPlan } from '../target/trigger-targets.js';
import { usdtProbes } from '../target/usdt-notes.js';
import { builtinBundles, ProbeSet } from './probe-set.js';
import { type ProbeBundle, readBundle } from '../runtime/bundle.js';
import { runTimeMode, runTriggerMode, type SamplerIO, type WaitOutcome } from './sampler.js';
import type { TriggerEvents, TriggerHit } from './trigger-events.js';

/** The installed package's root (holds bundles/), from dist/host/driver/. */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const BTF_PATH = '/sys/kernel/btf/vmlinux';
const PAGE_SIZE = 4096; // x86-64 and the common arm64 configuration
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

  /** The next trigger hit, unless Ctrl-C or the target's exit comes first. */
  async nextHit(events: TriggerEvents, pid: number): Promise<TriggerHit | 'interrupted' | 'target-exited'> {
    for (;;) {
      if (this.stopped) return 'interrupted';
      if (!processExists(pid)) return 'target-exited';
      const hit = await events.next(TARGET_CHECK_MS);
      if (hit) return hit;
    }
  }

  dispose() {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }
}

interface Triggers {
  start?: ResolvedTrigger;
  stop?: ResolvedTrigger;
}

/** Why a trigger probe failed, in words, when the cause is the kernel's. */
function triggerFailure(triggers: Triggers, err: ProbeError): string | undefined {
  const viaFentry = [triggers.start, triggers.stop].find((t) => t && (t.attachKind === 'fentry' || t.attachKind === 'fexit'));
  if (!viaFentry || !err.message.startsWith('probe trigger:')) return undefined;
  return `trigger [${viaFentry.trigger.text}]: this kernel supports neither kprobes (no kprobe PMU: CONFIG_KPROBES is off) nor fentry/fexit (${err.message})`;
}

/**
 * The built-in bundles plus --probe ones. A third-party bundle loads kernel
 * code as root: until bundles can be signed, every one of them needs
 * --allow-unsigned.
 */
function selectBundles(probeFiles: string[], allowUnsigned: boolean): ProbeBundle[] {
  const bundles = builtinBundles(PACKAGE_ROOT);
  for (const file of probeFiles) {
    if (!allowUnsigned) {
      throw new UserError(`refusing ${file}: it is not signed, and a probe bundle loads kernel code as root; add --allow-unsigned if you trust it`, ExitCode.CONFIG);
    }
    const bundle = readBundle(file);
    const clash = bundles.find((b) => b.manifest.name === bundle.manifest.name);
    if (clash) throw new UserError(`${file}: a probe named ${bundle.manifest.name} is already loaded (${clash.source})`, ExitCode.CONFIG);
    bundles.push(bundle);
  }
  return bundles;
}

/** `kdelay probes list`: one line per bundle: name, version, where from, what it reports. */
export function listProbeBundles(probeFiles: string[]): number {
  let bundles: ProbeBundle[];
  try {
    bundles = [...builtinBundles(PACKAGE_ROOT), ...probeFiles.map((f) => readBundle(f))];
  } catch (err) {
    if (err instanceof ManifestError) throw new UserError(err.message, ExitCode.CONFIG);
    throw err;
  }
  const rows = bundles.map((b) => [
    b.manifest.name,
    b.manifest.version,
    probeFiles.includes(b.source) ? b.source : 'built-in',
    b.manifest.sections.map((s) => s.title).join(', ') || '(no sections)',
  ]);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length), ['NAME', 'VERSION', 'SOURCE'][i].length));
  const line = (r: string[]) => `${r[0].padEnd(widths[0])}  ${r[1].padEnd(widths[1])}  ${r[2].padEnd(widths[2])}  ${r[3]}`;
  process.stdout.write([line(['NAME', 'VERSION', 'SOURCE', 'SECTIONS']), ...rows.map(line)].join('\n') + '\n');
  return ExitCode.OK;
}

function startProbes(backend: BpfBackend, pid: number, triggers: Triggers, options: KdelayOptions): ProbeSet {
  const arch = hostArch();
  if (!arch) throw new UserError(`no syscall table for this architecture (${process.arch})`, ExitCode.OSFILE);
  const upcalls = options.skipUpcallStats ? undefined : upcallPlan();
  const skip = new Map<string, string | undefined>();
  if (!upcalls) skip.set('upcall', undefined); // --skip-upcall-stats: not even a line
  else if ('unavailable' in upcalls) skip.set('upcall', upcalls.unavailable);
  try {
    return ProbeSet.start(backend, selectBundles(options.probeFiles, options.allowUnsigned), {
      targetTgid: pid,
      syscalls: SyscallTable.for(arch),
      skip,
      stringOptions: {
        ...triggerOptions('start', triggers.start),
        ...triggerOptions('stop', triggers.stop),
        ...(upcalls && 'attach' in upcalls ? { 'upcall.attach': upcalls.attach } : {}),
      },
      triggers: Boolean(triggers.start || triggers.stop),
      syscallEvents:
        options.syscallEvents === undefined
          ? undefined
          : {
              minNs: options.syscallEvents,
              skipPoll: options.skipSyscallPollEvents,
              stackTraceSize: options.stackTraceSize,
              ringBytes: options.bufferPageCount * PAGE_SIZE,
            },
    });
  } catch (err) {
    if (err instanceof ManifestError) throw new UserError(err.message, options.probeFiles.length ? ExitCode.CONFIG : ExitCode.OSFILE);
    if (err instanceof ProbeError) throw new UserError(triggerFailure(triggers, err) ?? err.message, ExitCode.OSERR);
    // The gate map is created first: failing there means BPF itself is unusable.
    if (err instanceof BpfError) throw new UserError(`BPF is unavailable: ${err.message}`, ExitCode.OSFILE);
    throw err;
  }
}

/** --list-probes: what triggers the target's executable offers. */
function listProbes(pid: number, print: (line: string) => void): void {
  const exe = `/proc/${pid}/exe`;
  const probes = usdtProbes(exe);
  print(`# USDT probes in ${exe}: ${probes.length || 'none (Open vSwitch needs ./configure --enable-usdt-probes)'}`);
  for (const p of probes) print(`u:${p.provider}:${p.name}${p.semaphore ? '  (semaphore)' : ''}`);
  const elf = ElfFile.open(exe);
  print(
    elf.hasSymtab
      ? `# uprobes by function name (up:FUNCTION, ur:FUNCTION): possible, ${elf.symbols.length} functions in its symbol table`
      : `# uprobes by function name: only its ${elf.symbols.length} exported functions (the binary is stripped)`,
  );
}

export async function run(options: KdelayOptions): Promise<number> {
  const pid = resolveTarget(options.pid);
  const print = (line: string) => process.stdout.write(`${line}\n`);
  if (options.listProbes) {
    listProbes(pid, print);
    return ExitCode.OK;
  }
  if (process.geteuid?.() !== 0) throw new UserError('must run as root to attach BPF probes', ExitCode.NOPERM);
  const triggers: Triggers = {
    start: options.startTrigger && resolveTrigger(options.startTrigger, pid),
    stop: options.stopTrigger && resolveTrigger(options.stopTrigger, pid),
  };
  const backend = await loadBackend(options.debug !== 0);

  const interrupts = new Interrupts();
  const probes = startProbes(backend, pid, triggers, options);
  // Nothing else shows that kdelay is ready while it waits for a start trigger (scripts wait for this).
  if (triggers.start) process.stderr.write(`kdelay: attached to PID ${pid}; waiting for ${triggers.start.trigger.text}\n`);
  try {
    const nameOf = (tid: number) => threadName(pid, tid);
    const sections = probes.sections;
    const renderer = options.json
      ? jsonRenderer(sections, nameOf, print)
      : textRenderer(sections, nameOf, print, (bytes) => process.stdout.write(bytes));
    const io: SamplerIO = { nowMicros: nowEpochMicros, wait: (ms) => interrupts.wait(ms, pid), print };
    const source = {
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
    };
    if (probes.triggerEvents) {
      const events = probes.triggerEvents;
      await runTriggerMode(
        { ...options, startTrigger: Boolean(triggers.start), stopTrigger: Boolean(triggers.stop), triggerDeltaNs: options.triggerDelta },
        {
          ...source,
          nextHit: () => interrupts.nextHit(events, pid),
          monotonicNs: () => process.hrtime.bigint(),
          missedStarts: () => Number(probes.gate.read().missedStarts),
        },
        io,
        renderer,
        options.json,
      );
    } else {
      await runTimeMode(options, source, io, renderer, options.json);
    }
  } finally {
    await probes.close();
    interrupts.dispose();
  }
  return ExitCode.OK;
}
