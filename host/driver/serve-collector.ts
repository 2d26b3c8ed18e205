/**
 * `kdelay serve`'s continuous collection: the probes' window opens once per
 * target and never closes; every background tick reads their running
 * totals into the host's MetricStore (host/metrics/store.ts: it adds what
 * grew since the last read, so nothing is lost between reads); the text a
 * scrape sends is the store's (rendered again only when a read changed
 * something) and about(). It follows the target:
 * when the process exits its series stay (until they expire) and serving
 * goes on; in auto mode (no -p) the next ovs-vswitchd is attached when one
 * appears. Side effects (the probes, /proc, the clock) come in through
 * ServeDeps, so that the loop is tested without BPF.
 */
import { printable } from '../base/printable.js';
import { escapeLabelValue } from '../metrics/families.js';
import { formatValue, MetricStore, type StoreOptions } from '../metrics/store.js';
import type { SectionSpec } from '../bundle/manifest.js';
import type { CollectedSample } from './probe-set.js';

/** One attached target as the collector drives it. */
export interface AttachedTarget {
  /** The target as the user's /proc numbers it (the pid label). */
  pid: number;
  command: string;
  /** Whether the process is still there (TargetProcess.alive()). */
  alive(): boolean;
  /** The threads alive now, tid -> name (user numbers). */
  threads(): Map<number, string>;
  /** The probes' running totals, read with the window still open (tids renumbered to the user's). */
  read(): CollectedSample;
  /** A system call's name by number (the latency histograms' syscall label). */
  syscallName(nr: number): string;
  close(): Promise<void>;
}

export interface ServeDeps {
  /** Attaches to the target if there is one now (auto mode: the running ovs-vswitchd); undefined when none. */
  attach(): Promise<AttachedTarget | undefined>;
  /** Milliseconds, monotonic. */
  now(): number;
  note(line: string): void;
}

/** How often names of live threads are read again (renames show within this). */
const NAME_REFRESH_MS = 30_000;

export class ServeCollector {
  readonly store: MetricStore;
  private target: AttachedTarget | undefined;
  private names = new Map<number, string>();
  private namesReadAt = 0;
  private reads = 0;
  private lastReadSeconds = 0;
  private incomplete = 0;
  private attaches = 0;
  /** Once -p's process is gone, it is not looked for again (its PID may be another's later). */
  private done = false;

  constructor(
    sections: readonly SectionSpec[],
    options: StoreOptions & { latency?: boolean },
    private readonly deps: ServeDeps,
    /** -p: one process only; auto mode looks for the next one. */
    private readonly once: boolean,
  ) {
    this.store = new MetricStore(sections, options, options.latency === true);
  }

  get attached(): AttachedTarget | undefined {
    return this.target;
  }

  /** Reads the probes' running totals into the store (a tick). */
  collect(): void {
    const target = this.target;
    if (!target) return;
    const started = this.deps.now();
    const sample = target.read();
    this.reads++;
    if (sample.warnings.length) this.incomplete++;
    for (const warning of sample.warnings) this.deps.note(warning);
    const now = this.deps.now();
    const names = this.names;
    const nameOf = (tid: number) => names.get(tid) ?? sample.exited?.get(tid) ?? `<unknown:${target.pid}/${tid}>`;
    // Threads new since the last look get their names before their rows are stored.
    this.lookAtThreads(target, now, sample);
    this.store.add(sample.tables, target.pid, nameOf, now, sample.histograms, (nr) => target.syscallName(nr));
    this.lastReadSeconds = (this.deps.now() - started) / 1000;
  }

  private lookAtThreads(target: AttachedTarget, now: number, sample?: CollectedSample): void {
    const live = target.threads();
    const refresh = now - this.namesReadAt >= NAME_REFRESH_MS;
    for (const [tid, name] of live) if (refresh || !this.names.has(tid)) this.names.set(tid, name);
    if (refresh) this.namesReadAt = now;
    if (sample?.exited) for (const [tid, name] of sample.exited) this.names.set(tid, name);
    this.store.alive(target.pid, live, now);
  }

  /** The background tick: collect, notice an exit, attach to a new target, expire old series. */
  async tick(): Promise<void> {
    const now = this.deps.now();
    if (this.target) {
      this.collect();
      if (!this.target.alive()) {
        const gone = this.target;
        this.target = undefined;
        this.names = new Map();
        await gone.close();
        this.store.forgetTotals(gone.pid);
        this.deps.note(`process ${gone.pid} exited; its series stay until they expire${this.once ? '' : '; waiting for the next one'}`);
        if (this.once) this.done = true;
      }
    }
    if (!this.target && !this.done) {
      this.target = await this.deps.attach();
      if (this.target) {
        this.attaches++;
        this.names = new Map();
        this.namesReadAt = 0;
        this.lookAtThreads(this.target, now);
        this.deps.note(`serving process ${this.target.pid} (${printable(this.target.command)})`);
      }
    }
    this.store.expire(now);
  }

  /** /metrics: what the last read found, in the text format (the store's text is cached; nothing is read from the probes here). */
  scrape(): string {
    return this.store.render() + this.about();
  }

  /** The lines of /metrics about kdelay serve itself (the target, reads), after the store's. */
  about(): string {
    const t = this.target;
    return (
      '# HELP kdelay_target_info The process kdelay serve measures now (none while it waits for one).\n# TYPE kdelay_target_info gauge\n' +
      (t ? `kdelay_target_info{pid="${t.pid}",command="${escapeLabelValue(t.command)}"} 1\n` : '') +
      '# HELP kdelay_target_attaches_total Processes kdelay serve attached to so far.\n# TYPE kdelay_target_attaches_total counter\n' +
      `kdelay_target_attaches_total ${this.attaches}\n` +
      "# HELP kdelay_reads_total Reads of the probes' running totals (one per --interval).\n# TYPE kdelay_reads_total counter\n" +
      `kdelay_reads_total ${this.reads}\n` +
      '# HELP kdelay_read_seconds How long the last read of the probes took.\n# TYPE kdelay_read_seconds gauge\n' +
      `kdelay_read_seconds ${formatValue(this.lastReadSeconds)}\n` +
      "# HELP kdelay_incomplete_reads_total Reads in which a probe said it could not count everything (a full map, lost events; see kdelay serve's stderr).\n# TYPE kdelay_incomplete_reads_total counter\n" +
      `kdelay_incomplete_reads_total ${this.incomplete}\n`
    );
  }

  async close(): Promise<void> {
    const t = this.target;
    this.target = undefined;
    await t?.close();
  }
}
