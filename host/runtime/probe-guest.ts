/**
 * Runs one probe bundle: instantiates its guest with the wasm_bpf and kdelay
 * imports, and drives it through the probe lifecycle exports:
 *
 *   kdelay_probe_init() -> i32      open, configure, load and attach
 *   kdelay_probe_collect() -> i32   read the maps, report_rows() the results
 *                                   (and report_histograms(), the accounting probe)
 *   kdelay_probe_reset() -> i32     clear statistics for the next sample
 *
 * A guest may instead split kdelay_probe_init in two (both exported; the
 * built-ins do, and keep kdelay_probe_init as the two in a row for hosts
 * that know only it):
 *
 *   kdelay_probe_load() -> i32      open, configure, load: the load is only
 *                                   recorded (bpf_object_load returns 0) and
 *                                   done when the export returns, beside
 *                                   the other probes' loads (startLoad)
 *   kdelay_probe_attach() -> i32    after the host loaded: attach, find maps
 *
 * The host runs every guest's kdelay_probe_load, then awaits all the
 * loads (on another thread where the backend has loadAsync; the libbpf
 * backend loads in turn, libbpf-backend.ts: load), then runs every
 * kdelay_probe_attach (driver/probe-set.ts).
 *
 * A guest that traps (ABI violation, AssemblyScript abort, wasm trap) is
 * stopped and its kernel objects released; the host and other probes go on.
 */
import type { BpfBackend } from '../libbpf/backend.js';
import { BpfError, errnoName } from '../base/errno.js';
import { type SectionSpec, valueCount } from '../bundle/manifest.js';
import { printable, printableWarning } from '../base/printable.js';
import type { ProbeBundle } from '../bundle/bundle.js';
import { GuestMemory, GuestTrap } from './guest-memory.js';
import { GuestSession } from './guest-session.js';
import { type HistogramBatch, kdelayImports, type ProbeServices, type RowBatch } from './kdelay-imports.js';
import type { ThreadHistogram } from '../model/sample.js';
import { type SampleTables, tableFor } from '../model/section-table.js';
import { RingBufferPoller } from './ring-buffer.js';
import type { SharedMaps } from './shared-maps.js';
import { tableCallback, wasmBpfImports } from './wasm-bpf-imports.js';

/** A probe failed; the message is one line, fit for stderr. */
export class ProbeError extends Error {
  constructor(
    message: string,
    readonly errno?: number,
  ) {
    super(message);
  }
}

type Export = (...args: number[]) => number;

/** Instantiates a guest with the standard and kdelay imports. */
export function instantiateGuest(module: WebAssembly.Module, session: GuestSession, services: ProbeServices, extraImports: WebAssembly.Imports = {}) {
  // Assigned once the instance exists; the imports built before then check for undefined.
  // eslint-disable-next-line prefer-const
  let memory: GuestMemory | undefined;
  // eslint-disable-next-line prefer-const
  let instance: WebAssembly.Instance | undefined;
  const guestMemory = () => {
    if (!memory) throw new GuestTrap('the guest called an import before exporting its memory');
    return memory;
  };
  const poller = new RingBufferPoller();
  let callSample: ReturnType<typeof tableCallback> | undefined;
  const imports: WebAssembly.Imports = {
    ...extraImports,
    wasm_bpf: wasmBpfImports({
      session,
      memory: guestMemory,
      poller,
      // Resolved on first use: the instance does not exist while its imports are built.
      callSample: (index, ctx, data, size) => (callSample ??= tableCallback(instance!))(index, ctx, data, size),
    }),
    kdelay: kdelayImports(session, guestMemory, services),
    env: {
      // AssemblyScript's abort(message, file, line, column).
      abort(message: number, file: number, line: number, column: number) {
        const m = guestMemory();
        throw new GuestTrap(`aborted: ${m.assemblyScriptString(message)} at ${m.assemblyScriptString(file)}:${line}:${column}`);
      },
    },
  };
  instance = new WebAssembly.Instance(module, imports);
  if (!(instance.exports.memory instanceof WebAssembly.Memory)) throw new GuestTrap('the guest exports no memory');
  memory = new GuestMemory(instance.exports.memory);
  return { instance, poller };
}

export class ProbeGuest {
  private readonly session: GuestSession;
  private readonly instance: WebAssembly.Instance;
  private readonly poller: RingBufferPoller;
  private readonly sections: Map<string, SectionSpec>;
  private tables: SampleTables = new Map();
  private histograms: ThreadHistogram[] = [];
  private failed: string | undefined;
  readonly warnings: string[] = [];

  constructor(
    readonly bundle: ProbeBundle,
    backend: BpfBackend,
    shared: SharedMaps,
    hostServices: Omit<ProbeServices, 'rows' | 'histograms' | 'warning'>,
    targetPid = 0,
    allowedProgramKinds: readonly string[] = [],
  ) {
    this.sections = new Map(bundle.manifest.sections.map((s) => [s.id, s]));
    this.session = new GuestSession(bundle.manifest.name, backend, shared, targetPid, allowedProgramKinds);
    const services: ProbeServices = {
      ...hostServices,
      rows: (batch) => this.acceptRows(batch),
      histograms: (batch) => this.acceptHistograms(batch),
      warning: (text) => this.warnings.push(printableWarning(text)),
    };
    try {
      ({ instance: this.instance, poller: this.poller } = instantiateGuest(bundle.module, this.session, services));
    } catch (err) {
      throw new ProbeError(`probe ${this.name}: cannot start (${(err as Error).message})`);
    }
  }

  get name(): string {
    return this.bundle.manifest.name;
  }

  /** The size of the guest's linear memory now (it never shrinks: what a guest allocates per sample shows here). */
  get memoryBytes(): number {
    return (this.instance.exports.memory as WebAssembly.Memory).buffer.byteLength;
  }

  private acceptRows(batch: RowBatch) {
    const section = this.sections.get(batch.section);
    if (!section) throw new GuestTrap(`report_rows: section "${printable(batch.section)}" is not in the manifest`);
    const width = valueCount(section);
    if (batch.width !== width) throw new GuestTrap(`report_rows: section ${batch.section} takes ${width} values, got ${batch.width}`);
    const labels = batch.labels.map((label) => (label === undefined ? label : printable(label)));
    tableFor(this.tables, batch.section, width).appendWords(batch.count, batch.tids, batch.labelIndexes, labels, batch.valueWords);
  }

  /** Histograms belong to the accounting contract: their kinds are its enum account_hist. */
  private acceptHistograms(batch: HistogramBatch) {
    if (!this.bundle.manifest.provides?.includes('accounting')) throw new GuestTrap('report_histograms: only a probe that provides "accounting" reports histograms');
    for (let i = 0; i < batch.count; i++) {
      const slots = batch.slots.subarray(i * batch.slotCount, (i + 1) * batch.slotCount);
      this.histograms.push({ tid: batch.tids[i], kind: batch.kinds[i], nr: batch.nrs[i], slots });
    }
  }

  /** Calls a lifecycle export; traps and negative returns become ProbeError. */
  private call(exportName: string): void {
    if (this.failed) throw new ProbeError(this.failed);
    const fn = this.instance.exports[exportName] as Export | undefined;
    if (typeof fn !== 'function') throw new ProbeError(`probe ${this.name}: bundle has no ${exportName} export`);
    let result: number;
    try {
      result = fn();
    } catch (err) {
      this.failed = `probe ${this.name} stopped in ${exportName}: ${(err as Error).message}`;
      this.close();
      throw new ProbeError(this.failed);
    }
    if (result < 0) {
      const detail = this.warnings.splice(0).join('; ');
      throw new ProbeError(`probe ${this.name}: ${exportName} failed with ${errnoName(-result)}${detail ? ` (${detail})` : ''}`, -result);
    }
  }

  init(): void {
    this.call('kdelay_probe_init');
  }

  /** Whether the guest exports kdelay_probe_load and kdelay_probe_attach (see the top of this file). */
  get loadsApart(): boolean {
    return typeof this.instance.exports.kdelay_probe_load === 'function' && typeof this.instance.exports.kdelay_probe_attach === 'function';
  }

  /**
   * kdelay_probe_load with its loads deferred; returns them running (or
   * done, with a backend that loads on this thread). The promise always settles only once no load is
   * in flight; it rejects with the probe's ProbeError. Await it, then attach().
   */
  startLoad(): Promise<void> {
    this.session.deferLoads = true;
    try {
      this.call('kdelay_probe_load');
    } finally {
      this.session.deferLoads = false;
    }
    return this.session.finishLoads().catch((err: unknown) => {
      if (!(err instanceof BpfError)) throw err;
      this.failed = `probe ${this.name}: loading its BPF object failed with ${errnoName(err.errno)} (${printableWarning(err.message)})`;
      throw new ProbeError(this.failed, err.errno);
    });
  }

  /** Whether the loads startLoad() deferred would create a map other probes share (the first to load makes it): the caller awaits those before the next probe's kdelay_probe_load. */
  get sharesMapsOnLoad(): boolean {
    return this.session.defersSharedMaps;
  }

  attach(): void {
    this.call('kdelay_probe_attach');
  }

  /** The rows of the sample that just ended, by section. */
  collect(): SampleTables {
    this.tables = new Map();
    this.histograms = [];
    this.call('kdelay_probe_collect');
    return this.tables;
  }

  /** The histograms the last collect() reported (report_histograms), handed over once. */
  takeHistograms(): ThreadHistogram[] {
    return this.histograms.splice(0);
  }

  reset(): void {
    this.call('kdelay_probe_reset');
  }

  close(): void {
    this.poller.close();
    this.session.close();
  }
}
