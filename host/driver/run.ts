/**
 * The thin impure layer: checks the environment, starts the probes, wires
 * signals and the clock to the sampling loop, and maps failures to exit
 * codes. Everything it decides with is tested elsewhere as pure code.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitCode, UserError } from '../cli/exit-codes.js';
import type { KdelayOptions } from '../cli/options.js';
import type { BpfBackend } from '../libbpf/backend.js';
import { BpfError } from '../libbpf/errors.js';
import { nowEpochMicros } from '../report/format.js';
import { ManifestError } from '../report/manifest.js';
import { jsonRecord, jsonRenderer, textRenderer } from '../report/renderers.js';
import { ProbeError } from '../runtime/probe-guest.js';
import { hostArch, SyscallTable } from '../syscalls/table.js';
import { ElfFile } from '../symbols/elf.js';
import { PidNamespaces, processExists, requireExecutableAccess, resolveTarget, type Target, threadName } from '../target/procfs.js';
import { missingBpfCapabilities, requireBpfCapabilities } from '../target/capabilities.js';
import { inUserNumbers } from './user-numbers.js';
import { type ResolvedTrigger, resolveTrigger, triggerOptions, upcallPlan } from '../target/trigger-targets.js';
import { usdtProbes } from '../target/usdt-notes.js';
import { ProbeSet } from './probe-set.js';
import { type CatalogEntry, DEFAULT_KDELAY_HOME, describeSeal, discoverBundles, unselectedProbes } from './catalog.js';
import { IntegrityError } from '../runtime/seal.js';
import { KernelFeatures, missingRequirement } from '../target/kernel-features.js';
import type { ProbesListCommand } from '../cli/options.js';
import { runTimeMode, runTriggerMode, type SamplerIO, type WaitOutcome } from './sampler.js';
import type { TriggerEvents, TriggerHit } from './trigger-events.js';

/**
 * The installed package's root (holds bundles/ and keys/): the nearest
 * folder above this file with kdelay's package.json. This file runs both
 * from dist/host/driver/ (tsc's output, for tests and scripts) and from the
 * one-file CLI bundle dist/kdelay.mjs.
 */
export const PACKAGE_ROOT = packageRoot(dirname(fileURLToPath(import.meta.url)));

function packageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    try {
      if (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name === 'kdelay') return dir;
    } catch {
      /* no package.json here, or not ours: keep going up */
    }
    if (dirname(dir) === dir) throw new Error(`kdelay: cannot find its package root above ${from}`);
  }
}

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
export async function loadBackend(debug: boolean): Promise<BpfBackend> {
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

/** $KDELAY_HOME: a machine's own probes (probes.d/) and trusted keys (trusted-keys/). */
export const kdelayHome = (): string => process.env.KDELAY_HOME || DEFAULT_KDELAY_HOME;

type DiscoveryOptions = Pick<KdelayOptions, 'probeFiles' | 'trustKeys' | 'allowUnsigned' | 'allowProgramKinds'>;

/** Every bundle this run may use (see catalog.ts); refusals are one line and exit 78. */
function discover(options: DiscoveryOptions): CatalogEntry[] {
  try {
    return discoverBundles({
      packageRoot: PACKAGE_ROOT,
      probePaths: options.probeFiles,
      kdelayHome: kdelayHome(),
      trustKeyFiles: options.trustKeys,
      allowUnsigned: options.allowUnsigned,
      allowedProgramKinds: options.allowProgramKinds,
    });
  } catch (err) {
    if (err instanceof ManifestError || err instanceof IntegrityError) throw new UserError(err.message, ExitCode.CONFIG);
    throw err;
  }
}

/** `kdelay probes list`: one line per bundle: name, version, where from, signature, what it reports. */
export async function listProbeBundles(options: ProbesListCommand): Promise<number> {
  const entries = discover(options);
  const unselected = unselectedProbes(entries, options.onlyProbes, options.skipProbes);
  // Checking BPF program types needs CAP_BPF and CAP_PERFMON; without them, say so per probe rather than fail.
  const missingCapabilities = missingBpfCapabilities();
  const backend = missingCapabilities.length === 0 ? await loadBackend(false).catch(() => undefined) : undefined;
  const features = new KernelFeatures(backend, undefined, missingCapabilities);
  if (options.json) {
    for (const { bundle, origin, seal } of entries) {
      const missing = unselected.has(bundle.manifest.name) ? 'not selected' : missingRequirement(bundle.manifest.requires ?? [], features);
      const { name, version, sections } = bundle.manifest;
      process.stdout.write(`${jsonRecord('probe', { name, version, source: origin, signature: describeSeal(seal), sections: sections.map((s) => s.title), skipped: missing ?? null })}\n`);
    }
    return ExitCode.OK;
  }
  const rows = entries.map(({ bundle, origin, seal }) => {
    const missing = unselected.has(bundle.manifest.name) ? 'not selected' : missingRequirement(bundle.manifest.requires ?? [], features);
    return [
      bundle.manifest.name,
      bundle.manifest.version,
      origin,
      describeSeal(seal),
      (bundle.manifest.sections.map((s) => s.title).join(', ') || '(no sections)') + (missing ? `  [skipped: ${missing}]` : ''),
    ];
  });
  const headers = ['NAME', 'VERSION', 'SOURCE', 'SIGNATURE', 'SECTIONS'];
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((cell, i) => (i < r.length - 1 ? cell.padEnd(widths[i]) : cell)).join('  ');
  process.stdout.write([line(headers), ...rows.map(line)].join('\n') + '\n');
  return ExitCode.OK;
}

/**
 * --probe-option values, checked against the options the running probes'
 * manifests declare; integers go to option_i64(), the rest to option_string().
 */
export function probeOptionValues(values: Record<string, string>, entries: readonly CatalogEntry[]): { numeric: Record<string, bigint>; text: Record<string, string> } {
  const declared = entries.flatMap((e) => (e.bundle.manifest.options ?? []).map((o) => o.name));
  const numeric: Record<string, bigint> = {};
  const text: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    if (!declared.includes(name)) throw new UserError(`--probe-option ${name}: no running probe declares it (known: ${declared.join(', ') || 'none'})`, ExitCode.USAGE);
    if (/^-?\d+$/.test(value)) numeric[name] = BigInt(value);
    else text[name] = value;
  }
  return { numeric, text };
}

function startProbes(backend: BpfBackend, target: Target, triggers: Triggers, options: KdelayOptions): ProbeSet {
  const arch = hostArch();
  if (!arch) throw new UserError(`no syscall table for this architecture (${process.arch})`, ExitCode.OSFILE);
  const entries = discover(options);
  // Probes left out on purpose (--only, --skip, --skip-upcall-stats) get no line at all.
  const skip = new Map<string, string | undefined>([...unselectedProbes(entries, options.onlyProbes, options.skipProbes)].map((name) => [name, undefined]));
  if (options.skipUpcallStats) skip.set('upcall', undefined);
  if ((triggers.start || triggers.stop) && skip.has('trigger')) {
    throw new UserError('--skip trigger: the trigger probe is what --start-trigger and --stop-trigger run on', ExitCode.USAGE);
  }
  const upcalls = skip.has('upcall') ? undefined : upcallPlan();
  if (upcalls && 'unavailable' in upcalls) skip.set('upcall', upcalls.unavailable);
  // A probe the kernel cannot support is skipped with its reason; the others still run.
  const features = new KernelFeatures(backend);
  for (const { bundle } of entries) {
    if (skip.has(bundle.manifest.name)) continue;
    const missing = missingRequirement(bundle.manifest.requires ?? [], features);
    if (missing) skip.set(bundle.manifest.name, missing);
  }
  const { numeric, text } = probeOptionValues(options.probeOptions, entries.filter((e) => !skip.has(e.bundle.manifest.name)));
  try {
    return ProbeSet.start(backend, entries.map((e) => e.bundle), {
      options: numeric,
      targetTgid: target.kernelTgid,
      targetPid: target.pid,
      allowedProgramKinds: options.allowProgramKinds,
      syscalls: SyscallTable.for(arch),
      skip,
      // Options kdelay sets from its own flags (triggers, upcalls, -s) win over --probe-option.
      stringOptions: {
        ...text,
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
function listProbes(pid: number, print: (line: string) => void, json: boolean): void {
  const exe = `/proc/${pid}/exe`;
  const probes = usdtProbes(exe);
  if (json) {
    for (const p of probes) print(jsonRecord('usdt_probe', { pid, binary: exe, provider: p.provider, name: p.name, semaphore: Boolean(p.semaphore) }));
    const elf = ElfFile.open(exe);
    print(jsonRecord('uprobe_functions', { pid, binary: exe, functions: elf.symbols.length, stripped: !elf.hasSymtab }));
    return;
  }
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
  const namespaces = PidNamespaces.detect();
  const target = resolveTarget(options.pid, options.tid, namespaces);
  const pid = target.pid;
  const print = (line: string) => process.stdout.write(`${line}\n`);
  if (options.listProbes) {
    requireExecutableAccess(pid, '--list-probes');
    listProbes(pid, print, options.json);
    return ExitCode.OK;
  }
  requireBpfCapabilities();
  for (const trigger of [options.startTrigger, options.stopTrigger]) {
    if (trigger && ['usdt', 'uprobe', 'uretprobe'].includes(trigger.kind)) requireExecutableAccess(pid, `trigger ${trigger.text}`);
  }
  if (target.note) process.stderr.write(`kdelay: ${target.note}\n`);
  const triggers: Triggers = {
    start: options.startTrigger && resolveTrigger(options.startTrigger, pid),
    stop: options.stopTrigger && resolveTrigger(options.stopTrigger, pid),
  };
  const backend = await loadBackend(options.debug !== 0);

  const interrupts = new Interrupts();
  const probes = startProbes(backend, target, triggers, options);
  // Nothing else shows that kdelay is ready while it waits for a start trigger (scripts wait for this).
  if (triggers.start) process.stderr.write(`kdelay: attached to PID ${pid}; waiting for ${triggers.start.trigger.text}\n`);
  try {
    const nameOf = (tid: number) => threadName(pid, tid);
    const sections = probes.sections;
    let lastWindow = { startNs: 0n, stopNs: 0n };
    const renderer = options.json
      ? jsonRenderer(sections, nameOf, print, { pid, command: threadName(pid, pid), window: () => lastWindow, monotonicNs: () => process.hrtime.bigint() })
      : textRenderer(sections, nameOf, print, (bytes) => process.stdout.write(bytes));
    const io: SamplerIO = { nowMicros: nowEpochMicros, wait: (ms) => interrupts.wait(ms, pid), print };
    const source = {
      open: () => probes.gate.open(),
      close: () => {
        const gate = probes.gate.close();
        lastWindow = { startNs: gate.windowStartNs, stopNs: gate.windowStopNs };
        return Number(gate.windowStopNs - gate.windowStartNs);
      },
      collect: () => inUserNumbers(probes.collect(), target, namespaces),
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
