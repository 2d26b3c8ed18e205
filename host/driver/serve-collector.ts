/**
 * `kdelay serve`'s continuous collection: one window after another, each
 * closed, collected into the host's MetricStore and followed at once by the
 * next, at every scrape and on a background tick. It follows the target:
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
  /** Closes the window, collects it (tids renumbered to the user's), clears and reopens; the gap's length in ns. */
  rotate(): { sample: CollectedSample; gapNs: number };
  close(): Promise<void>;
}

export interface ServeDeps {
  /** Attaches to the target if there is one now (auto mode: the running ovs-vswitchd); undefined when none. */
  attach(): AttachedTarget | undefined;
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
  private windows = 0;
  private unmeasuredNs = 0;
  private incomplete = 0;
  private attaches = 0;
  /** Once -p's process is gone, it is not looked for again (its PID may be another's later). */
  private done = false;

  constructor(
    sections: readonly SectionSpec[],
    options: StoreOptions,
    private readonly deps: ServeDeps,
    /** -p: one process only; auto mode looks for the next one. */
    private readonly once: boolean,
  ) {
    this.store = new MetricStore(sections, options);
  }

  get attached(): AttachedTarget | undefined {
    return this.target;
  }

  /** Collects the window so far into the store (a scrape, a tick). */
  collect(): void {
    const target = this.target;
    if (!target) return;
    const { sample, gapNs } = target.rotate();
    this.windows++;
    this.unmeasuredNs += gapNs;
    if (sample.warnings.length) this.incomplete++;
    for (const warning of sample.warnings) this.deps.note(warning);
    const now = this.deps.now();
    const names = this.names;
    const nameOf = (tid: number) => names.get(tid) ?? sample.exited?.get(tid) ?? `<unknown:${target.pid}/${tid}>`;
    // Threads new since the last look get their names before their rows are stored.
    this.lookAtThreads(target, now, sample);
    this.store.add(sample.tables, target.pid, nameOf, now);
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
        this.deps.note(`process ${gone.pid} exited; its series stay until they expire${this.once ? '' : '; waiting for the next one'}`);
        if (this.once) this.done = true;
      }
    }
    if (!this.target && !this.done) {
      this.target = this.deps.attach();
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

  /** /metrics: the window so far collected, then everything in the text format. */
  scrape(): string {
    this.collect();
    const out = this.store.render();
    const t = this.target;
    out.push(
      '# HELP kdelay_target_info The process kdelay serve measures now (none while it waits for one).\n# TYPE kdelay_target_info gauge\n',
      t ? `kdelay_target_info{pid="${t.pid}",command="${escapeLabelValue(t.command)}"} 1\n` : '',
      '# HELP kdelay_target_attaches_total Processes kdelay serve attached to so far.\n# TYPE kdelay_target_attaches_total counter\n',
      `kdelay_target_attaches_total ${this.attaches}\n`,
      '# HELP kdelay_windows_total Windows collected into the counters (one per scrape and per tick).\n# TYPE kdelay_windows_total counter\n',
      `kdelay_windows_total ${this.windows}\n`,
      '# HELP kdelay_unmeasured_seconds_total Time between windows (collecting the last one), in which nothing is counted.\n# TYPE kdelay_unmeasured_seconds_total counter\n',
      `kdelay_unmeasured_seconds_total ${formatValue(this.unmeasuredNs * 1e-9)}\n`,
      "# HELP kdelay_incomplete_windows_total Windows a probe could not measure whole (a full map, lost events; see kdelay serve's stderr).\n# TYPE kdelay_incomplete_windows_total counter\n",
      `kdelay_incomplete_windows_total ${this.incomplete}\n`,
    );
    return out.join('');
  }

  async close(): Promise<void> {
    const t = this.target;
    this.target = undefined;
    await t?.close();
  }
}
