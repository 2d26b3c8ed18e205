/**
 * The series `kdelay serve` exposes, accumulated on the host from one
 * window's rows after another (read-and-accumulate: the probes' maps are
 * cleared after each window, the sums live here), and written in the
 * Prometheus text exposition format (version 0.0.4). Counters only ever
 * add; `max` gauges only ever rise. A thread's series stay after it exits,
 * until nothing has been seen of it for the expiry time. Pure: the clock
 * and the threads' names come in as arguments (test/unit/metrics.test.ts).
 */
import type { SampleTables } from '../model/section-table.js';
import { escapeHelp, escapeLabelValue, type MetricFamily, type SectionBinding, planMetrics } from './families.js';
import type { SectionSpec } from '../bundle/manifest.js';

/** Slots of a log2(ns) histogram (probes/account: ACCOUNT_HIST_SLOTS; slot s counts [2^s, 2^(s+1)) ns, the last one and up). */
export const LOG2_SLOTS = 40;

export interface StoreOptions {
  /** Series per thread name (pid, thread) instead of per thread (pid, tid, thread): for targets with thousands of threads. */
  byName: boolean;
  /** How long a thread's (or a name's) series stay once nothing of it is seen, alive or measured. */
  expiryMs: number;
}

/** Whom per-thread series belong to: a thread, or with byName every thread of one name. */
interface Entity {
  key: string;
  name: string;
  /** `pid="..",tid="..",thread=".."`: the labels it gives its series. */
  prefix: string;
  lastSeen: number;
}

interface Series {
  entity: Entity | undefined;
  /** The section's own labels as text (`syscall="read"`), after the entity's. */
  labels: string;
  value: number;
  /** Histograms: counts per log2 slot, and the highest slot used so far (buckets are written up to it). */
  buckets?: Float64Array;
  top?: number;
}

export class MetricStore {
  private readonly families: Map<string, MetricFamily>;
  private readonly bindings: Map<string, SectionBinding>;
  private readonly series = new Map<MetricFamily, Map<string, Series>>();
  private readonly entities = new Map<string, Entity>();

  constructor(
    sections: readonly SectionSpec[],
    private readonly options: StoreOptions,
  ) {
    const plan = planMetrics(sections);
    this.families = plan.families;
    this.bindings = plan.sections;
    for (const family of this.families.values()) this.series.set(family, new Map());
  }

  /** The metric families, by exposed name. */
  get familyNames(): string[] {
    return [...this.families.keys()];
  }

  /** How many series are exposed now (histograms count once). */
  get seriesCount(): number {
    let n = 0;
    for (const m of this.series.values()) n += m.size;
    return n;
  }

  private entity(pid: number, tid: number, name: string, now: number): Entity {
    const key = this.options.byName ? `${pid}/${name}` : `${pid}/${tid}`;
    let entity = this.entities.get(key);
    if (!entity || entity.name !== name) {
      const prefix = this.options.byName ? `pid="${pid}",thread="${escapeLabelValue(name)}"` : `pid="${pid}",tid="${tid}",thread="${escapeLabelValue(name)}"`;
      if (entity) {
        // A thread that renamed itself: its series carry the new name from now on.
        entity.name = name;
        entity.prefix = prefix;
      } else this.entities.set(key, (entity = { key, name, prefix, lastSeen: now }));
    }
    entity.lastSeen = now;
    return entity;
  }

  /**
   * Adds one window's rows. `pid` is the target's (per-thread sections);
   * nameOf gives a thread's name (the live one, or the one it exited with).
   */
  add(tables: SampleTables, pid: number, nameOf: (tid: number) => string, now: number): void {
    for (const [id, binding] of this.bindings) {
      const table = tables.get(id);
      if (!table || table.count === 0) continue;
      const entities = new Map<number, Entity>();
      for (let row = 0; row < table.count; row++) {
        let entity: Entity | undefined;
        if (binding.scope === 'thread') {
          const tid = table.tid(row);
          entity = entities.get(tid);
          if (!entity) entities.set(tid, (entity = this.entity(pid, tid, nameOf(tid), now)));
        }
        const own = binding.constant.slice();
        for (const label of binding.labels) own.push(`${label.name}="${escapeLabelValue(label.value < 0 ? (table.label(row) ?? '') : String(table.value(row, label.value)))}"`);
        const labels = own.join(',');
        const key = entity ? `${entity.key}\0${labels}` : labels;
        for (const bound of binding.values) {
          const family = bound.family;
          const map = this.series.get(family)!;
          let series = map.get(key);
          if (!series) {
            series = { entity, labels, value: 0 };
            if (family.type === 'histogram') {
              series.buckets = new Float64Array(LOG2_SLOTS);
              series.top = 0;
            }
            map.set(key, series);
          }
          const v = table.value(row, bound.value);
          if (family.type === 'counter') series.value += v;
          else if (family.type === 'max') series.value = Math.max(series.value, v);
          else {
            const slot = Math.min(Math.max(0, table.value(row, bound.bucket!)), LOG2_SLOTS - 1);
            series.buckets![slot] += v;
            series.value += v;
            if (slot > series.top!) series.top = slot;
          }
        }
      }
    }
  }

  /** The threads of pid alive now (tid -> name): their series are kept. */
  alive(pid: number, threads: ReadonlyMap<number, string>, now: number): void {
    for (const [tid, name] of threads) {
      const entity = this.entities.get(this.options.byName ? `${pid}/${name}` : `${pid}/${tid}`);
      if (entity) entity.lastSeen = now;
    }
  }

  /** Drops the series of threads (names) neither alive nor measured for the expiry time; returns how many series went. */
  expire(now: number): number {
    const gone = new Set<Entity>();
    for (const [key, entity] of this.entities) {
      if (now - entity.lastSeen > this.options.expiryMs) {
        gone.add(entity);
        this.entities.delete(key);
      }
    }
    if (gone.size === 0) return 0;
    let dropped = 0;
    for (const map of this.series.values()) {
      for (const [key, series] of map) {
        if (series.entity && gone.has(series.entity)) {
          map.delete(key);
          dropped++;
        }
      }
    }
    return dropped;
  }

  /** Every family in the text exposition format (HELP and TYPE even for one without series yet). */
  render(out: string[] = []): string[] {
    for (const [family, map] of this.series) {
      const type = family.type === 'max' ? 'gauge' : family.type;
      out.push(`# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${type}\n`);
      const scale = family.scale;
      for (const series of map.values()) {
        const prefix = series.entity ? series.entity.prefix : '';
        const labels = prefix && series.labels ? `${prefix},${series.labels}` : prefix || series.labels;
        if (family.type !== 'histogram') {
          out.push(`${family.name}{${labels}} ${formatValue(series.value * scale)}\n`);
          continue;
        }
        const sep = labels ? ',' : '';
        let cumulative = 0;
        const buckets = series.buckets!;
        const top = Math.min(series.top!, LOG2_SLOTS - 2);
        let text = '';
        for (let s = 0; s <= top; s++) {
          cumulative += buckets[s];
          text += `${family.name}_bucket{${labels}${sep}le="${formatValue(2 ** (s + 1) * 1e-9)}"} ${cumulative}\n`;
        }
        text += `${family.name}_bucket{${labels}${sep}le="+Inf"} ${series.value}\n${family.name}_count{${labels}} ${series.value}\n`;
        out.push(text);
      }
    }
    return out;
  }
}

/** A sample value as Prometheus reads it (Go's ParseFloat: 1e-09 and 0.5 both fine). */
export function formatValue(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(15)));
}
