/**
 * All probes of one kdelay run: the shared capture gate plus one ProbeGuest
 * per bundle. Owns every kernel resource of the run; close() releases them
 * all and is safe to call at any point, including half-way through start().
 */
import type { BpfBackend } from '../libbpf/backend.js';
import type { SectionSpec } from '../bundle/manifest.js';
import type { ProbeBundle } from '../bundle/bundle.js';
import { builtinEntries } from './catalog.js';
import type { BlockedAt, ReportSample, ThreadHistogram, UnavailableSection } from '../model/sample.js';
import type { SampleTables } from '../model/section-table.js';
import { printable } from '../base/printable.js';
import { timingMark } from '../base/timing.js';
import { ProbeError, ProbeGuest } from '../runtime/probe-guest.js';
import { SharedMaps } from '../runtime/shared-maps.js';
import { ExitedThreads } from './exited-threads.js';
import type { SyscallTable } from '../syscalls/table.js';
import { Gate } from './gate.js';
import { TriggerEvents } from './trigger-events.js';
import { type HostValues, optionsFromHostValues } from './host-values.js';
import { type SyscallEventRecord, SyscallEventCollector, type SyscallEventsConfig } from './syscall-events.js';
import { Symbolizer } from '../symbols/index.js';
import { type CatchConfig, CatchEvents } from './catch-events.js';

/** The bundles shipped with kdelay (bundles/*.wasm in the package), each checked against the release key. */
export function builtinBundles(packageRoot: string): ProbeBundle[] {
  return builtinEntries(packageRoot).map((e) => e.bundle);
}

export interface ProbeSetConfig {
  /** The target as the kernel numbers it (what BPF programs compare). */
  targetTgid: number;
  /** The target as kdelay's /proc numbers it (uprobe attach, /proc reads); default targetTgid. */
  targetPid?: number;
  /** Extra options passed to probes through option_i64() and option_string(). */
  options?: Record<string, bigint>;
  stringOptions?: Record<string, string>;
  syscalls: SyscallTable;
  /** Create the ring buffer the trigger probe posts its hits to. */
  triggers?: boolean;
  /** --syscall-events: collect slow syscalls (with stacks unless stackTraceSize is 0). */
  syscallEvents?: SyscallEventsConfig;
  /** Catch mode: create the ring the syscalls probe posts long intervals to (driver/catch-mode.ts). */
  catching?: CatchConfig;
  /** Program kinds and helpers the policy would refuse, allowed by the user (--allow-program-kind). */
  allowedProgramKinds?: readonly string[];
  /** Probes not to load, with the reason (reported as not available if they are optional). */
  skip?: Map<string, string | undefined>;
  /** Values from kdelay's own flags, for manifest options that ask for them (driver/host-values.ts). */
  hostValues?: HostValues;
  /** Library functions uprobes may attach to, by their 'LIBRARY:FUNCTION' name (resolved triggers). */
  userFunctions?: ReadonlyMap<string, { binary: string; offset: number }>;
}

/**
 * The innermost kernel frames of an event's stack are kdelay's own: the BPF
 * program and the tracepoint glue that called it. They say nothing about
 * the target, so they are left out (a leading run of them only).
 */
const PROBE_FRAME = /^(bpf_prog_|bpf_trace_run|__bpf_trace_|__traceiter_|\[unknown\] 0xffffffffc)/;
function isProbeFrame(frames: string[], index: number): boolean {
  for (let i = 0; i <= index; i++) if (!PROBE_FRAME.test(frames[i])) return false;
  return true;
}

/** One slow syscall, resolved for printing. */
export interface SyscallEvent extends SyscallEventRecord {
  name: string;
  /** Symbolized frames, innermost first; undefined when stacks are off or the stack was lost. */
  kernelFrames?: string[];
  userFrames?: string[];
  blocked?: BlockedAt;
}

/** A sample as the report takes it, with the driver's fuller syscall events. */
export interface CollectedSample extends ReportSample {
  events?: SyscallEvent[];
}

export class ProbeSet {
  readonly gate: Gate;
  triggerEvents: TriggerEvents | undefined;
  catchEvents: CatchEvents | undefined;
  /** While catchSnapshot() collects: the time it describes, fixed at the first kdelay.snapshot_ns() call. */
  private snapshotAt: { ns: bigint | undefined } | undefined;
  private syscallEvents: SyscallEventCollector | undefined;
  private symbolizer: Symbolizer | undefined;
  private syscalls!: SyscallTable;
  private readonly shared: SharedMaps;
  private readonly exitedThreads: ExitedThreads;
  private readonly guests: ProbeGuest[] = [];
  /** Each section of an optional probe that could not start, and why. */
  readonly unavailable: UnavailableSection[] = [];

  private constructor(backend: BpfBackend) {
    this.shared = new SharedMaps(backend);
    this.gate = new Gate(backend, this.shared);
    this.exitedThreads = new ExitedThreads(backend, this.shared);
  }

  /**
   * Loads and attaches every bundle; on any failure releases what was done
   * and throws. Guests that load apart (runtime/probe-guest.ts) are started
   * in two rounds: every kdelay_probe_load with its loads (in turn, on this
   * thread: runtime/probe-guest.ts, load), then every kdelay_probe_attach in
   * the bundles' order. A guest with only kdelay_probe_init is started in
   * its turn in the first round.
   */
  static async start(backend: BpfBackend, bundles: ProbeBundle[], config: ProbeSetConfig): Promise<ProbeSet> {
    const owners = new Map<string, string>();
    for (const { manifest } of bundles) {
      for (const { id } of manifest.sections) {
        const other = owners.get(id);
        if (other) throw new ProbeError(`probes ${other} and ${manifest.name} both report section "${id}"`);
        owners.set(id, manifest.name);
      }
    }
    const set = new ProbeSet(backend);
    set.syscalls = config.syscalls;
    // Host values "probe.NAME": which probes this run loads, for probes that work together when both are there (the account probe's system call hooks).
    const loading: HostValues = Object.fromEntries(bundles.filter((b) => !config.skip?.has(b.manifest.name)).map((b) => [`probe.${b.manifest.name}`, 1n]));
    const options: Record<string, bigint> = {
      target_tgid: BigInt(config.targetTgid),
      possible_cpus: BigInt(backend.possibleCpus()),
      ...optionsFromHostValues(
        bundles.map((b) => b.manifest.options),
        { ...loading, ...config.hostValues },
      ),
      ...config.options,
    };
    const notAvailable = (bundle: ProbeBundle, why: string) => {
      for (const section of bundle.manifest.sections) set.unavailable.push({ section: section.title, reason: printable(why) });
    };
    // An optional probe the kernel cannot support: say so once per sample, run the rest.
    const unavailable = (guest: ProbeGuest, err: ProbeError) => {
      set.guests.splice(set.guests.indexOf(guest), 1);
      guest.close();
      notAvailable(guest.bundle, err.message);
    };
    const loaded: ProbeGuest[] = [];
    // Every probe this run starts after the first compiles on V8's threads while this one loads the probes before it
    // (the first, needed at once, compiles here: in the background it would share those threads with the others).
    for (const bundle of bundles.filter((b) => !config.skip?.has(b.manifest.name)).slice(1)) void bundle.compileInBackground?.();
    try {
      if (config.triggers) set.triggerEvents = new TriggerEvents(backend, set.shared);
      // The host values of the shared rings the probes write into become the options that name them.
      const takeHostValues = (values: HostValues): void => {
        Object.assign(
          options,
          optionsFromHostValues(
            bundles.map((b) => b.manifest.options),
            values,
          ),
        );
      };
      if (config.catching) {
        set.catchEvents = new CatchEvents(backend, set.shared, config.catching);
        takeHostValues(set.catchEvents.hostValues());
      }
      if (config.syscallEvents) {
        set.syscallEvents = new SyscallEventCollector(backend, set.shared, config.syscallEvents);
        takeHostValues(set.syscallEvents.hostValues());
      }
      for (const bundle of bundles) {
        if (config.skip?.has(bundle.manifest.name)) {
          const why = config.skip.get(bundle.manifest.name);
          if (why) notAvailable(bundle, why);
          continue;
        }
        await bundle.compileInBackground?.();
        const guest = new ProbeGuest(
          bundle,
          backend,
          set.shared,
          {
            option: (name) => options[name],
            optionString: (name) => config.stringOptions?.[name],
            syscallNumber: (name) => config.syscalls.number(name),
            syscallName: (nr) => config.syscalls.name(nr),
            userFunction: (name) => config.userFunctions?.get(name),
            snapshotNs: () => {
              const at = set.snapshotAt;
              return at ? (at.ns ??= process.hrtime.bigint()) : 0n;
            },
          },
          config.targetPid ?? config.targetTgid,
          config.allowedProgramKinds,
        );
        set.guests.push(guest);
        timingMark(`instantiated ${bundle.manifest.name}`);
        try {
          if (guest.loadsApart) {
            guest.load();
            loaded.push(guest);
            timingMark(`loaded ${bundle.manifest.name}`);
          } else {
            guest.init();
            timingMark(`initialized ${bundle.manifest.name}`);
          }
        } catch (err) {
          if (!(bundle.manifest.optional && err instanceof ProbeError)) throw err;
          unavailable(guest, err);
        }
      }
      timingMark('probes loaded');
      for (const guest of loaded) {
        try {
          guest.attach();
          timingMark(`attached ${guest.name}`);
        } catch (err) {
          if (!(guest.bundle.manifest.optional && err instanceof ProbeError)) throw err;
          unavailable(guest, err);
        }
      }
      // Snapshot kallsyms and the target's mappings now, while attached: the
      // target may exit before we print, and our own programs are now in kallsyms.
      if (config.syscallEvents && config.syscallEvents.stackTraceSize > 0) set.symbolizer = Symbolizer.forProcess(config.targetPid ?? config.targetTgid);
      set.syscallEvents?.start();
    } catch (err) {
      // Nothing waits on a ring yet (draining starts last), so this releases everything.
      await set.close();
      throw err;
    }
    return set;
  }

  /** A syscall number as reports print it (syscalls/table.ts: label). */
  syscallLabel(nr: number): string {
    return this.syscalls.label(nr);
  }

  /** Whether a probe that runs provides this role (its manifest's `provides`). */
  provides(role: string): boolean {
    return this.guests.some((g) => g.bundle.manifest.provides?.includes(role));
  }

  /** The sections of the probes that run (a skipped or unavailable probe prints no table). */
  get sections(): SectionSpec[] {
    return this.guests.flatMap((g) => g.bundle.manifest.sections);
  }

  /** Each running guest's linear memory in bytes, by probe name (npm run bench, memory). */
  guestMemoryBytes(): Map<string, number> {
    return new Map(this.guests.map((g) => [g.name, g.memoryBytes]));
  }

  collect(accountingFirst = false): CollectedSample {
    // Section ids are unique across bundles (checked in start()), so tables merge by id.
    const tables: SampleTables = new Map();
    const warnings: string[] = [];
    const notes = [...this.unavailable];
    const histograms: ThreadHistogram[] = [];
    const accounting = (g: ProbeGuest) => (g.bundle.manifest.provides ?? []).includes('accounting');
    const guests = accountingFirst ? [...this.guests.filter(accounting), ...this.guests.filter((g) => !accounting(g))] : this.guests;
    for (const guest of guests) {
      try {
        for (const [id, table] of guest.collect()) tables.set(id, table);
        histograms.push(...guest.takeHistograms());
      } catch (err) {
        // A probe that breaks while collecting (a trap, a row for a section it
        // does not declare) loses its own sections, not the whole report.
        if (!(err instanceof ProbeError)) throw err;
        for (const section of guest.bundle.manifest.sections) notes.push({ section: section.title, reason: printable(err.message) });
      }
      warnings.push(...guest.warnings.splice(0));
    }
    const exited = this.exitedThreads.take();
    if (!this.syscallEvents) return { tables, histograms, warnings, notes, exited };
    return { tables, histograms, warnings, notes, exited, events: this.resolveEvents(this.syscallEvents.take()), stacks: this.symbolizer !== undefined };
  }

  /**
   * Catch mode (driver/catch-mode.ts): the probes' cumulative counts of the
   * open gate, and the time they describe: a stretch still in progress is
   * evaluated up to it. That time is read when a probe first asks for it
   * (kdelay.snapshot_ns()), and the accounting probe is collected first: it
   * asks once it has read its maps, so each thread's states add up to that
   * time, wrong only by what changed in the few us between (a time read
   * before the collect was wrong by what changed during all of it: tens of
   * ms on a loaded VM). Nothing is reset: the kernel goes on counting.
   */
  catchSnapshot(): { atNs: bigint; sample: CollectedSample } {
    this.snapshotAt = { ns: undefined };
    try {
      const sample = this.collect(true);
      return { atNs: this.snapshotAt.ns ?? process.hrtime.bigint(), sample };
    } finally {
      this.snapshotAt = undefined;
    }
  }

  private resolveEvents(records: SyscallEventRecord[]): SyscallEvent[] {
    const symbolizer = this.symbolizer;
    return records.map((r) => {
      const event: SyscallEvent = { ...r, name: this.syscallLabel(r.nr) };
      // Each stack on its own: the reference prints whichever one survived (and counts the event as lost).
      if (symbolizer && r.kernelStackId >= 0) {
        event.kernelFrames = this.syscallEvents!.stack(r.kernelStackId)
          ?.map((a) => symbolizer.kernel(a))
          .filter((f, i, all) => !isProbeFrame(all, i));
      }
      if (symbolizer && r.userStackId >= 0) event.userFrames = this.syscallEvents!.stack(r.userStackId)?.map((a) => symbolizer.user(a));
      if (symbolizer && r.blockedCount > 0) {
        const frames = r.blockedStackId >= 0 ? this.syscallEvents!.stack(r.blockedStackId) : undefined;
        event.blocked = {
          ns: r.blockedNs,
          count: r.blockedCount,
          ...(frames ? { kernelFrames: frames.map((a) => symbolizer.kernel(a)).filter((f, i, all) => !isProbeFrame(all, i)) } : {}),
        };
      }
      return event;
    });
  }

  reset(): void {
    for (const guest of this.guests) {
      try {
        guest.reset();
      } catch (err) {
        if (!(err instanceof ProbeError)) throw err; // a probe that broke in collect(): already reported there
      }
    }
    this.syscallEvents?.take(); // nothing arrives while the gate is closed; drop stragglers
    this.syscallEvents?.clearStacks();
  }

  /** Detaches and releases everything; resolves once no background wait is left. */
  async close(): Promise<void> {
    for (const guest of this.guests.splice(0)) guest.close();
    await this.triggerEvents?.close();
    await this.catchEvents?.close();
    await this.syscallEvents?.close();
    this.shared.closeAll();
  }
}

export { ProbeError };
