/**
 * The thin impure layer: checks the environment, starts the probes, wires
 * signals and the clock to the sampling loop, and maps failures to exit
 * codes. Everything it decides with is tested elsewhere as pure code.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { PACKAGE_ROOT } from '../package-root.js';
import { ExitCode, UserError } from '../base/exit-codes.js';
import { timingMark } from '../base/timing.js';
import { type KdelayOptions, nextPowerOfTwo, type ProbesListCommand } from './options.js';
import type { BpfBackend } from '../libbpf/backend.js';
import { BpfError } from '../base/errno.js';
import { EVENTS_MAP, MAX_STACK_DEPTH, STACKS_MAP } from './syscall-events.js';
import { nowEpochMicros } from '../report/format.js';
import { ManifestError, optionRange, type ProbeManifest } from '../bundle/manifest.js';
import { printable } from '../base/printable.js';
import { jsonRecord, jsonRenderer, textRenderer, type VerdictOptions } from '../report/renderers.js';
import { ProbeError } from '../runtime/probe-guest.js';
import { PAGE_SIZE } from '../runtime/ring-buffer.js';
import { hostArch, SyscallTable } from '../syscalls/table.js';
import { ElfFile } from '../symbols/elf.js';
import { missingBpfCapabilities, requireBpfCapabilities } from '../system/capabilities.js';
import { PidNamespaces, resolveTarget, type Target, TargetProcess, threadIds, ThreadNames, threadName, threadWhereabouts } from '../system/procfs.js';
import { type TaskNumbers, TaskNumbersReader } from '../system/task-numbers.js';
import { textOptionsFromHost } from './host-values.js';
import { readTargetExecutable, type ResolvedTrigger, resolveTrigger, returnProbePlan, triggerOptions } from '../system/trigger-targets.js';
import { accountQuietThreads } from './quiet-threads.js';
import { selectsAll, selectThreads, type ThreadSelection, threadView } from './thread-selection.js';
import { semaphoreCount, usdtProbes } from '../system/usdt-notes.js';
import { type CollectedSample, ProbeSet } from './probe-set.js';
import { type CatalogEntry, DEFAULT_KDELAY_HOME, describeSeal, discoverBundles, unselectedProbes } from './catalog.js';
import { IntegrityError } from '../bundle/seal.js';
import { type FeatureSource, KernelFeatures, missingArchitecture, missingRequirement } from '../system/kernel-features.js';
import { GateState } from './gate.js';
import { Interrupts } from './interrupts.js';
import { holdMemorySteady } from './memory-policy.js';
import { runTimeMode, runTriggerMode, type SamplerIO } from './sampler.js';

/** The installed package's root (holds bundles/, keys/ and vendor/); see package-root.ts. */
export { PACKAGE_ROOT };

const BTF_PATH = '/sys/kernel/btf/vmlinux';
const EMFILE = 24; // x86-64 and the common arm64 configuration

/** CO-RE needs the running kernel's BTF; say so plainly when it is missing or unreadable. */
export function requireKernelBtf(path = BTF_PATH): void {
  if (!existsSync(path)) {
    throw new UserError(`the kernel has no BTF (${path} is missing); kdelay needs a kernel built with CONFIG_DEBUG_INFO_BTF=y`, ExitCode.OSFILE);
  }
  const problem = btfHeaderProblem(path);
  if (problem) throw new UserError(`the kernel's BTF is unreadable (${path}: ${problem}); kdelay needs it to relocate its probes`, ExitCode.OSFILE);
}

const BTF_MAGIC = 0xeb9f;
const BTF_HEADER_BYTES = 24;

/**
 * What is wrong with a BTF file's header, if anything: magic, version, and
 * sections that fit in the file. libbpf reads this file to relocate every
 * probe; a corrupt one made each probe fail with an unrelated errno (ESRCH).
 */
export function btfHeaderProblem(path: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const header = Buffer.alloc(BTF_HEADER_BYTES);
    const got = readSync(fd, header, 0, BTF_HEADER_BYTES, 0);
    if (got < BTF_HEADER_BYTES) return `${got} bytes, shorter than a BTF header`;
    if (header.readUInt16LE(0) !== BTF_MAGIC && header.readUInt16BE(0) !== BTF_MAGIC) return 'not BTF (bad magic)';
    const le = header.readUInt16LE(0) === BTF_MAGIC;
    const u32 = (at: number) => (le ? header.readUInt32LE(at) : header.readUInt32BE(at));
    if (header[2] !== 1) return `BTF version ${header[2]}, expected 1`;
    const [hdrLen, typeOff, typeLen, strOff, strLen] = [u32(4), u32(8), u32(12), u32(16), u32(20)];
    const size = fstatSync(fd).size;
    const end = hdrLen + Math.max(typeOff + typeLen, strOff + strLen);
    if (hdrLen < BTF_HEADER_BYTES || (size > 0 && end > size)) return `its sections (${end} bytes) do not fit in the file (${size} bytes)`;
    return undefined;
  } catch (err) {
    return `cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Loads libbpf and the backend late, at first use: `--help`, bad options and
 * everything decided before BPF is needed never touch libbpf, and a missing
 * or unusable one is one line and exit 72. With -D, says which libbpf it
 * took and why others were passed over (libbpf/locate.ts).
 */
export async function loadBackend(debug: boolean): Promise<BpfBackend> {
  requireKernelBtf();
  try {
    const { libbpfChoice } = await import('../libbpf/ffi.js');
    if (debug) for (const line of libbpfChoice.description) process.stderr.write(`kdelay: ${line}\n`);
    const { LibbpfBackend } = await import('../libbpf/libbpf-backend.js');
    const { libbpfLog } = await import('../libbpf/log.js');
    libbpfLog.install(debug);
    return new LibbpfBackend();
  } catch (err) {
    throw new UserError(`BPF is unavailable: ${(err as Error).message}`, ExitCode.OSFILE);
  }
}

/** The task iterator's answer (system/task-numbers.ts); a kernel that refuses it is one line saying what else works. */
function readTaskNumbersOrExplain(reader: TaskNumbersReader): TaskNumbers[] {
  try {
    return reader.read();
  } catch (err) {
    if (err instanceof UserError || !(err instanceof Error)) throw err;
    throw new UserError(
      `kdelay runs in a PID namespace of its own and could not read the kernel's PIDs with a task iterator (${err.message}); ` +
        `run it in the host's PID namespace (--pid=host) or mount the host's /proc at /host/proc or $KDELAY_HOST_PROC`,
      ExitCode.UNAVAILABLE,
    );
  }
}

interface Triggers {
  start?: ResolvedTrigger;
  stop?: ResolvedTrigger;
}

/** Why a trigger probe failed, in words, when the cause is the kernel's. */
function triggerFailure(triggers: Triggers, triggerProbe: string | undefined, err: ProbeError): string | undefined {
  const viaFentry = [triggers.start, triggers.stop].find((t) => t && (t.attachKind === 'fentry' || t.attachKind === 'fexit'));
  if (!viaFentry || !err.message.startsWith(`probe ${triggerProbe}:`)) return undefined;
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

/** Why a bundle cannot run here (no object for this machine, a kernel older than its min_kernel, or a feature it needs), or undefined. */
function whyUnavailable(manifest: ProbeManifest, features: FeatureSource): string | undefined {
  const oldest = manifest.min_kernel ? [`kernel>=${manifest.min_kernel}`] : [];
  return missingArchitecture(manifest.architectures) ?? missingRequirement([...oldest, ...(manifest.requires ?? [])], features);
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
      process.stdout.write(
        `${jsonRecord('probe', { name, version, source: origin, signature: describeSeal(seal), sections: sections.map((s) => s.title), skipped: missing ?? null })}\n`,
      );
    }
    return ExitCode.OK;
  }
  const rows = entries.map(({ bundle, origin, seal }) => {
    const missing = unselected.has(bundle.manifest.name) ? 'not selected' : whyUnavailable(bundle.manifest, features);
    return [
      bundle.manifest.name,
      bundle.manifest.version,
      (bundle.manifest.architectures ?? ['x86_64']).join(','),
      origin,
      describeSeal(seal),
      (bundle.manifest.sections.map((s) => s.title).join(', ') || '(no sections)') + (missing ? `  [skipped: ${missing}]` : ''),
    ];
  });
  const headers = ['NAME', 'VERSION', 'ARCH', 'SOURCE', 'SIGNATURE', 'SECTIONS'];
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((cell, i) => (i < r.length - 1 ? cell.padEnd(widths[i]) : cell)).join('  ');
  process.stdout.write([line(headers), ...rows.map(line)].join('\n') + '\n');
  return ExitCode.OK;
}

/**
 * --probe-option values, checked against the options the running probes'
 * manifests declare: their type and range (a value is never wrapped or
 * dropped), and not the ones kdelay sets itself from its own flags.
 * Integers and booleans go to option_i64(), strings to option_string().
 */
export function probeOptionValues(values: Record<string, string>, entries: readonly CatalogEntry[]): { numeric: Record<string, bigint>; text: Record<string, string> } {
  const declared = new Map(entries.flatMap((e) => (e.bundle.manifest.options ?? []).map((o) => [o.name, o] as const)));
  const settable = [...declared.values()].filter((o) => !o.host).map((o) => o.name);
  const numeric: Record<string, bigint> = {};
  const text: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    const spec = declared.get(name);
    const fail = (why: string): never => {
      throw new UserError(`--probe-option ${name}: ${why}`, ExitCode.USAGE);
    };
    if (!spec) fail(`no running probe declares it (known: ${settable.join(', ') || 'none'})`);
    else if (spec.host) fail(`kdelay sets it from its own flags (${spec.description}); it cannot be set by hand`);
    else if (spec.type === 'string') text[name] = value;
    else if (spec.type === 'bool') {
      if (!/^(0|1|true|false)$/.test(value)) fail(`'${value}' is not a boolean (0, 1, true or false)`);
      numeric[name] = value === '1' || value === 'true' ? 1n : 0n;
    } else {
      if (!/^[+-]?\d+$/.test(value.trim())) fail(`'${value}' is not an integer`);
      const n = BigInt(value.trim());
      const [min, max] = optionRange(spec);
      if (n < min || n > max) fail(`${value} is out of range (${min} to ${max})`);
      numeric[name] = n;
    }
  }
  return { numeric, text };
}

/** A ring buffer's size is a u32 power of two: 2 GiB is the largest the kernel takes. */
const MAX_RING_BYTES = 2 ** 31;

const mib = (bytes: number) => `${Math.ceil(bytes / 2 ** 20)} MiB`;

/** MemAvailable from /proc/meminfo, in bytes (undefined if unreadable). */
function availableMemory(): number | undefined {
  try {
    const kib = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}

/**
 * -s's ring (--buffer-page-count) and stack table (--stack-trace-size) are
 * kernel memory, allocated when the maps are created: a size the kernel
 * cannot take is said as such, before anything is created (the kernel's
 * own refusal read as "BPF is unavailable"). Limits: the ring's u32 size,
 * and what both need against the memory available now (kernel BPF memory is
 * charged to the memory cgroup since 5.11, not RLIMIT_MEMLOCK).
 */
export function checkEventBufferSizes(options: Pick<KdelayOptions, 'bufferPageCount' | 'stackTraceSize'>, available = availableMemory()): void {
  const ringBytes = options.bufferPageCount * PAGE_SIZE;
  if (ringBytes > MAX_RING_BYTES) {
    throw new UserError(
      `--buffer-page-count ${options.bufferPageCount}: a ring of ${mib(ringBytes)} is larger than the kernel's maximum of 2048 MiB (at most ${MAX_RING_BYTES / PAGE_SIZE} pages)`,
      ExitCode.USAGE,
    );
  }
  if (options.stackTraceSize > 2 ** 31) throw new UserError(`--stack-trace-size ${options.stackTraceSize}: larger than the kernel's maximum of ${2 ** 31} entries`, ExitCode.USAGE);
  // The stack map preallocates a bucket per entry (rounded up to a power of two) with room for a full stack.
  const stackBytes = nextPowerOfTwo(options.stackTraceSize) * (MAX_STACK_DEPTH * 8 + 16) * (options.stackTraceSize > 0 ? 1 : 0);
  if (available !== undefined && ringBytes + stackBytes > available / 2) {
    throw new UserError(
      `--buffer-page-count ${options.bufferPageCount} and --stack-trace-size ${options.stackTraceSize} need ${mib(ringBytes + stackBytes)} of kernel memory (ring ${mib(ringBytes)}, stacks ${mib(stackBytes)}), more than half of the ${mib(available)} available`,
      ExitCode.USAGE,
    );
  }
}

/** The soft RLIMIT_NOFILE, from /proc/self/limits. */
function openFileLimit(): string {
  try {
    return /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * File descriptors a run needs: ~75 measured at the peak with -s (programs,
 * maps, links, BTF, Node's own), with room for triggers and third-party probes.
 */
const NEEDED_FILE_DESCRIPTORS = 128;

const tooFewFds = () =>
  new UserError(
    `too few file descriptors: the open-file limit (RLIMIT_NOFILE) is ${openFileLimit()}, kdelay needs about ${NEEDED_FILE_DESCRIPTORS} (raise it, e.g. ulimit -n 1024)`,
    ExitCode.OSERR,
  );

/**
 * Checked before loading: out of descriptors, libbpf does not always say
 * EMFILE (a load can fail with EINVAL), which read as a broken probe.
 */
function checkFileDescriptorLimit(): void {
  const limit = Number(openFileLimit());
  if (Number.isFinite(limit) && limit < NEEDED_FILE_DESCRIPTORS) throw tooFewFds();
}

const GIB = 2 ** 30;

/**
 * Address space a run needs (RLIMIT_AS, `ulimit -v`): not memory, but V8
 * reserves about 8 GiB of it for each WebAssembly memory (one per probe
 * bundle) plus guard regions; under less, a probe failed to start ("Cannot
 * allocate Wasm memory"), and under about 1 GiB Node itself cannot start.
 */
const NEEDED_ADDRESS_SPACE = 64 * GIB;

/**
 * Memory a run needs in its memory cgroup: a small run peaks at about 76 MiB
 * resident; under a smaller memory.max (memory.limit_in_bytes) the kernel's
 * OOM killer ended kdelay mid-run, without a word.
 */
const NEEDED_MEMORY = 96 * 2 ** 20;

/** The soft RLIMIT_AS in bytes, or undefined when unlimited or unknown. */
function addressSpaceLimit(): number | undefined {
  try {
    const value = /^Max address space\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
    return value === undefined || value === 'unlimited' ? undefined : Number(value);
  } catch {
    return undefined;
  }
}

/**
 * The tightest memory limit of kdelay's memory cgroup and its ancestors
 * (cgroup v2 memory.max, v1 memory.limit_in_bytes), or undefined when none
 * is set or none can be read.
 */
export function cgroupMemoryLimit(procSelfCgroup = '/proc/self/cgroup', root = '/sys/fs/cgroup'): { bytes: number; file: string } | undefined {
  let lines: string[];
  try {
    lines = readFileSync(procSelfCgroup, 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const candidates: { dir: string; file: string }[] = [];
  for (const line of lines) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (path === undefined) continue;
    if (controllers === '' && existsSync(`${root}/cgroup.controllers`)) candidates.push({ dir: `${root}${path}`, file: 'memory.max' });
    if (controllers.split(',').includes('memory')) candidates.push({ dir: `${root}/memory${path}`, file: 'memory.limit_in_bytes' });
  }
  let tightest: { bytes: number; file: string } | undefined;
  for (const { dir, file } of candidates) {
    for (let d = dir.replace(/\/+$/, ''); d.length >= root.length; d = d.slice(0, d.lastIndexOf('/'))) {
      let text: string;
      try {
        text = readFileSync(`${d}/${file}`, 'utf8').trim();
      } catch {
        continue;
      }
      const bytes = Number(text);
      // v2 says "max"; v1's "no limit" is a number near 2^63.
      if (Number.isFinite(bytes) && bytes < 2 ** 60 && (!tightest || bytes < tightest.bytes)) tightest = { bytes, file: `${d}/${file}` };
    }
  }
  return tightest;
}

/**
 * Checked before anything is loaded: a memory limit too small for kdelay
 * made Node die of SIGTRAP or the OOM killer end the run, with no report
 * and nothing said. One line naming the limit and what kdelay needs, exit
 * 71, as for too few file descriptors.
 */
export function checkMemoryLimits(addressSpace = addressSpaceLimit(), cgroup = cgroupMemoryLimit()): void {
  if (addressSpace !== undefined && addressSpace < NEEDED_ADDRESS_SPACE) {
    throw new UserError(
      `the address-space limit (RLIMIT_AS, ulimit -v) is ${mib(addressSpace)}; kdelay needs ${NEEDED_ADDRESS_SPACE / GIB} GiB of address space, not memory: each probe's WebAssembly memory reserves 8 GiB of it (ulimit -v unlimited)`,
      ExitCode.OSERR,
    );
  }
  if (cgroup && cgroup.bytes < NEEDED_MEMORY) {
    throw new UserError(`the memory cgroup's limit (${cgroup.file}) is ${mib(cgroup.bytes)}; kdelay needs at least ${mib(NEEDED_MEMORY)} of memory`, ExitCode.OSERR);
  }
}

/** Failures whose cause is a limit, not BPF: said as what they are. */
function limitFailure(err: Error & { errno?: number }): UserError | undefined {
  if (err.errno === EMFILE || / EMFILE\b|Too many open files/.test(err.message)) {
    return tooFewFds();
  }
  if (err instanceof BpfError && (err.message.includes(EVENTS_MAP) || err.message.includes(STACKS_MAP))) {
    return new UserError(`the kernel refused the -s buffers (${err.message}): lower --buffer-page-count or --stack-trace-size`, ExitCode.OSERR);
  }
  return undefined;
}

/**
 * targetThreads: the target's threads now, which probes keeping per-thread
 * state size their maps from (host value `target.threads`).
 */
function startProbes(backend: BpfBackend, target: Target, triggers: Triggers, options: KdelayOptions, targetThreads: number): ProbeSet {
  const arch = hostArch();
  if (!arch) throw new UserError(`no syscall table for this architecture (${process.arch})`, ExitCode.OSFILE);
  const entries = discover(options);
  timingMark('bundles admitted (seals)');
  // Probes left out on purpose (--only, --skip) get no line at all.
  const skip = new Map<string, string | undefined>([...unselectedProbes(entries, options.onlyProbes, options.skipProbes)].map((name) => [name, undefined]));
  const providerOf = (role: string) => entries.find((e) => e.bundle.manifest.provides?.includes(role))?.bundle.manifest.name;
  const triggerProbe = providerOf('trigger');
  if ((triggers.start || triggers.stop) && (triggerProbe === undefined || skip.has(triggerProbe))) {
    const which = triggerProbe ?? 'trigger';
    throw new UserError(`--skip ${which}: the ${which} probe is what --start-trigger and --stop-trigger run on`, ExitCode.USAGE);
  }
  const accountingProbe = providerOf('accounting');
  // The accounting probe costs time on every switch and syscall of the target: it runs when asked for.
  if (accountingProbe && !options.verdict && !options.onlyProbes.includes(accountingProbe)) skip.set(accountingProbe, undefined);
  if ((options.verdictOnly || options.histograms) && (accountingProbe === undefined || skip.has(accountingProbe))) {
    const which = accountingProbe ?? 'account';
    throw new UserError(`${options.verdictOnly ? '--verdict-only' : '--hist'} needs the ${which} probe, which --only/--skip leave out`, ExitCode.USAGE);
  }
  // A probe the kernel cannot support is skipped with its reason; the others still run.
  const features = new KernelFeatures(backend);
  const hostText: Record<string, string> = {};
  for (const { bundle } of entries) {
    if (skip.has(bundle.manifest.name)) continue;
    const missing = whyUnavailable(bundle.manifest, features);
    if (missing) {
      skip.set(bundle.manifest.name, missing);
      continue;
    }
    const derived = textOptionsFromHost(bundle.manifest, (fn, modules) => returnProbePlan(fn, modules));
    if ('unavailable' in derived) skip.set(bundle.manifest.name, derived.unavailable);
    else Object.assign(hostText, derived.options);
  }
  const { numeric, text } = probeOptionValues(
    options.probeOptions,
    entries.filter((e) => !skip.has(e.bundle.manifest.name)),
  );
  try {
    return ProbeSet.start(
      backend,
      entries.map((e) => e.bundle),
      {
        options: numeric,
        targetTgid: target.kernelTgid,
        targetPid: target.pid,
        allowedProgramKinds: options.allowProgramKinds,
        syscalls: SyscallTable.for(arch),
        skip,
        // Options kdelay sets from its own flags and host facts (triggers, attach kinds, -s) win over --probe-option.
        stringOptions: {
          ...text,
          ...triggerOptions('start', triggers.start),
          ...triggerOptions('stop', triggers.stop),
          ...hostText,
        },
        triggers: Boolean(triggers.start || triggers.stop),
        hostValues: { 'histograms.enabled': options.histograms ? 1n : 0n, 'target.threads': BigInt(targetThreads) },
        userFunctions: new Map([triggers.start, triggers.stop].flatMap((t) => (t?.location ? [[t.args[0], t.location] as const] : []))),
        syscallEvents:
          options.syscallEvents === undefined
            ? undefined
            : {
                minNs: options.syscallEvents,
                skipPoll: options.skipSyscallPollEvents,
                stackTraceSize: options.stackTraceSize,
                ringBytes: options.bufferPageCount * PAGE_SIZE,
              },
      },
    );
  } catch (err) {
    const limit = err instanceof Error ? limitFailure(err) : undefined;
    if (limit) throw limit;
    if (err instanceof ManifestError) throw new UserError(err.message, options.probeFiles.length ? ExitCode.CONFIG : ExitCode.OSFILE);
    if (err instanceof ProbeError) throw new UserError(triggerFailure(triggers, triggerProbe, err) ?? err.message, ExitCode.OSERR);
    // The gate map is created first: failing there means BPF itself is unusable.
    if (err instanceof BpfError) throw new UserError(`BPF is unavailable: ${err.message}`, ExitCode.OSFILE);
    throw err;
  }
}

/** --list-probes: what triggers the target's executable offers. */
function listProbes(pid: number, print: (line: string) => void, json: boolean): void {
  const { exe, probes, elf } = readTargetExecutable(pid, '--list-probes', (exe) => ({ exe, probes: usdtProbes(exe), elf: ElfFile.open(exe) }));
  if (json) {
    for (const p of probes) {
      const semaphore = p.semaphore ? { semaphore_address: `0x${p.semaphore.toString(16)}`, semaphore_count: semaphoreCount(pid, exe, p.semaphore) ?? null } : {};
      print(jsonRecord('usdt_probe', { pid, binary: exe, provider: p.provider, name: p.name, semaphore: Boolean(p.semaphore), ...semaphore }));
    }
    print(jsonRecord('uprobe_functions', { pid, binary: exe, functions: elf.symbols.length, stripped: !elf.hasSymtab }));
    return;
  }
  print(`# USDT probes in ${exe}: ${probes.length || 'none (Open vSwitch needs ./configure --enable-usdt-probes)'}`);
  for (const p of probes) {
    const count = p.semaphore ? semaphoreCount(pid, exe, p.semaphore) : undefined;
    print(`u:${p.provider}:${p.name}${p.semaphore ? `  (semaphore at 0x${p.semaphore.toString(16)}, now ${count ?? 'unreadable'})` : ''}`);
  }
  if (probes.some((p) => p.semaphore)) {
    print('# a probe with a semaphore runs only while it is non-zero (now: how many tracers hold it); kdelay raises it while its trigger is attached');
  }
  print(
    elf.hasSymtab
      ? `# uprobes by function name (up:FUNCTION, ur:FUNCTION): possible, ${elf.symbols.length} functions in its symbol table`
      : `# uprobes by function name: only its ${elf.symbols.length} exported functions (the binary is stripped)`,
  );
}

/**
 * The thread selection step of every sample (driver/thread-selection.ts)
 * with its facts: the user's thread numbers, and with --thread-name the
 * threads' names. look() reads every name now, so that threads exiting
 * before the report keep theirs; called before each window and as it closes.
 */
function threadSelector(options: KdelayOptions, target: Target, namespaces: PidNamespaces) {
  const selection: ThreadSelection = { kernelTid: target.kernelTid, name: options.threadName };
  const names = selection.name ? new ThreadNames(target.pid, namespaces.userProc) : undefined;
  const factsOf = (sample: CollectedSample) => ({
    userTid: (kernelTid: number) => namespaces.userTid(target.kernelTgid, kernelTid),
    // A thread that started and exited between two looks: the name the kernel saw it exit with.
    name: (tid: number) => names?.name(tid) ?? sample.exited?.get(tid),
  });
  return {
    look: () => names?.look(),
    select: (sample: CollectedSample) => (selectsAll(selection) && !namespaces.translates ? sample : selectThreads(sample, threadView(selection, factsOf(sample)))),
    /** A note when no thread now passes --thread-name (and -t): all rows would be left out until one does. */
    note(): string | undefined {
      const live = names?.look();
      const pattern = selection.name;
      if (!live || !pattern) return undefined;
      if (options.tid !== undefined) {
        const name = live.get(options.tid);
        return name === undefined || pattern.test(name)
          ? undefined
          : `--thread-name /${pattern.source}/ does not match the name of thread ${options.tid} (${printable(name)}): nothing is reported unless it is renamed`;
      }
      if ([...live.values()].some((name) => pattern.test(name))) return undefined;
      const shown = [...new Set([...live.values()].map(printable))];
      return `--thread-name /${pattern.source}/ matches no thread of process ${target.pid} yet (names now: ${shown.slice(0, 12).join(', ')}${shown.length > 12 ? ', ...' : ''}); threads that take such a name later are reported`;
    },
  };
}

export async function run(options: KdelayOptions): Promise<number> {
  timingMark('run');
  const namespaces = PidNamespaces.detect();
  // No host /proc to translate PIDs with: the kernel's task iterator does it, which needs libbpf and BPF rights first.
  let backend: BpfBackend | undefined;
  let taskNumbers: TaskNumbersReader | undefined;
  try {
    if (namespaces.needsTaskIterator) {
      requireBpfCapabilities();
      backend = await loadBackend(options.debug !== 0);
      const reader = (taskNumbers = new TaskNumbersReader(backend, namespaces.namespaceInode()));
      namespaces.useTaskIterator(() => readTaskNumbersOrExplain(reader));
    }
    return await runOn(options, namespaces, backend);
  } finally {
    taskNumbers?.close();
  }
}

async function runOn(options: KdelayOptions, namespaces: PidNamespaces, backend: BpfBackend | undefined): Promise<number> {
  const target = resolveTarget(options.pid, options.tid, namespaces);
  const pid = target.pid;
  // Known by its start time from here on: an exit (reaped or not) or a reused PID ends the run.
  const targetProcess = new TargetProcess(pid, namespaces.userProc);
  const print = (line: string) => process.stdout.write(`${line}\n`);
  if (options.listProbes) {
    listProbes(pid, print, options.json);
    return ExitCode.OK;
  }
  requireBpfCapabilities();
  if (target.note) process.stderr.write(`kdelay: ${target.note}\n`);
  const triggers: Triggers = {
    start: options.startTrigger && resolveTrigger(options.startTrigger, pid),
    stop: options.stopTrigger && resolveTrigger(options.stopTrigger, pid),
  };
  checkFileDescriptorLimit();
  checkMemoryLimits();
  if (options.syscallEvents !== undefined) checkEventBufferSizes(options);
  const threads = threadSelector(options, target, namespaces);
  const selectionNote = threads.note();
  if (selectionNote) process.stderr.write(`kdelay: ${selectionNote}\n`);
  timingMark('target resolved');
  backend ??= await loadBackend(options.debug !== 0);
  timingMark('libbpf loaded');
  holdMemorySteady();

  const interrupts = new Interrupts();
  const probes = startProbes(backend, target, triggers, options, threadIds(pid, namespaces.userProc).length);
  timingMark('probes started');
  // Nothing else shows that kdelay is ready while it waits for a start trigger (scripts wait for this).
  if (triggers.start) process.stderr.write(`kdelay: attached to PID ${pid}; waiting for ${triggers.start.trigger.text}\n`);
  try {
    // A thread names itself (prctl): its name is the target's text, printed escaped.
    const nameOf = (tid: number) => printable(threadName(pid, tid));
    const sections = probes.sections;
    let lastWindow = { startNs: 0n, stopNs: 0n };
    const verdict: VerdictOptions | undefined = probes.provides('accounting')
      ? { syscallName: (nr) => probes.syscallLabel(nr), only: options.verdictOnly, histograms: options.histograms }
      : undefined;
    const renderer = options.json
      ? jsonRenderer(sections, nameOf, print, { pid, command: threadName(pid, pid), window: () => lastWindow, monotonicNs: () => process.hrtime.bigint() }, verdict)
      : textRenderer(
          sections,
          nameOf,
          print,
          (bytes) => {
            process.stdout.write(bytes);
            // Nothing queued: the bytes are in the kernel and the buffer can be reused.
            return process.stdout.writableLength === 0;
          },
          verdict,
        );
    const io: SamplerIO = { nowMicros: nowEpochMicros, wait: (ms) => interrupts.wait(ms, targetProcess), print, interrupted: () => interrupts.interrupted() };
    const source = {
      open: () => probes.gate.open(),
      close: () => {
        const gate = probes.gate.close();
        threads.look();
        if (gate.state === GateState.IDLE) {
          // No window opened (Ctrl-C before the start trigger): the gate still
          // holds the last window's times. This one is empty, now.
          const now = process.hrtime.bigint();
          lastWindow = { startNs: now, stopNs: now };
          return 0;
        }
        lastWindow = { startNs: gate.windowStartNs, stopNs: gate.windowStopNs };
        return Number(gate.windowStopNs - gate.windowStartNs);
      },
      collect: () => {
        const sample = probes.collect();
        // Before the selection, which renumbers and filters these rows like the probes' own.
        if (probes.provides('accounting')) {
          const candidates = threadIds(pid, namespaces.userProc).map((tid) => ({
            tid: namespaces.kernelId(tid) ?? tid,
            whereabouts: () => threadWhereabouts(pid, tid, namespaces.userProc),
          }));
          accountQuietThreads(sample.tables, candidates, Number(lastWindow.stopNs - lastWindow.startNs));
        }
        return threads.select(sample);
      },
      reset: () => {
        probes.reset();
        probes.gate.idle();
        threads.look();
      },
    };
    if (probes.triggerEvents) {
      const events = probes.triggerEvents;
      await runTriggerMode(
        { ...options, startTrigger: Boolean(triggers.start), stopTrigger: Boolean(triggers.stop), triggerDeltaNs: options.triggerDelta },
        {
          ...source,
          nextHit: () => interrupts.nextHit(events, targetProcess),
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
