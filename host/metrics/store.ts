/**
 * The series `kdelay serve` exposes, kept on the host from the probes'
 * cumulative counts, and written in the Prometheus text exposition format
 * (version 0.0.4).
 *
 * Cumulative reads: while serving, the capture gate stays open and nothing
 * is reset, so every collect reads what the probes counted since they were
 * attached (each row is a running total; a row may come in parts, e.g. a
 * map's count and what a per-thread slot still caches, which are summed).
 * The store keeps the last total it read of each row ("raw") and adds to
 * its series only what grew since: no event is ever lost between two
 * collects, counters only ever add (a read that raced the kernel and came
 * out lower adds nothing; the next read adds the rest), and `max` gauges
 * only ever rise.
 *
 * A thread's series stay after it exits, until nothing new has been seen
 * of it (alive, or counted) for the expiry time; its raw totals stay, so
 * the rows the maps still hold for it do not bring it back. Rendering is
 * cached: the text is made again only after a collect changed something.
 * Pure: the clock and the threads' names come in as arguments
 * (test/unit/metrics-store.test.ts).
 */
import type { SampleTables } from '../model/section-table.js';
import type { ThreadHistogram } from '../model/sample.js';
import { AccountHist } from '../bundle/accounting-contract.js';
import { escapeHelp, escapeLabelValue, type MetricFamily, type SectionBinding, planMetrics } from './families.js';
import type { SectionSpec } from '../bundle/manifest.js';

/** Slots of a log2(ns) histogram (probes/account: ACCOUNT_HIST_SLOTS; slot s counts [2^s, 2^(s+1)) ns, the last one and up). */
export const LOG2_SLOTS = AccountHist.ACCOUNT_HIST_SLOTS;

/** The accounting probe's histograms (--hist), which come as histograms rather than section rows. */
export const LATENCY_FAMILY: MetricFamily = {
  name: 'kdelay_thread_latency_seconds',
  type: 'histogram',
  help: 'Run-queue waits (kind run_queue) and system call durations (kind syscall, by syscall), log2 buckets (with --hist)',
  labels: ['kind', 'syscall'],
  scope: 'thread',
  scale: 1e-9,
};

export interface StoreOptions {
  /** Series per thread name (pid, thread) instead of per thread (pid, tid, thread): for targets with thousands of threads. */
  byName: boolean;
  /** How long a thread's (or a name's) series stay once nothing new of it is seen, alive or counted. */
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
  /** `name{labels}`, made once (and again when its thread is renamed). */
  text?: string;
  textPrefix?: string;
}

/** One row's running total as this collect read it (its parts summed). */
interface Reading {
  family: MetricFamily;
  pid: number;
  tid: number;
  labels: string;
  value: number;
  buckets?: Float64Array;
}

export class MetricStore {
  private readonly families: Map<string, MetricFamily>;
  private readonly bindings: Map<string, SectionBinding>;
  private readonly series = new Map<MetricFamily, Map<string, Series>>();
  private readonly entities = new Map<string, Entity>();
  /** The last running total read of each row: family, pid/tid, labels -> value (histograms: buckets). */
  private readonly raw = new Map<string, number | Float64Array>();
  private body: string | undefined;
  private changes = 0;

  constructor(
    sections: readonly SectionSpec[],
    private readonly options: StoreOptions,
    /** --hist: the accounting probe's latency histograms, as kdelay_thread_latency_seconds. */
    latency = false,
  ) {
    const plan = planMetrics(sections);
    this.families = plan.families;
    this.bindings = plan.sections;
    if (latency) this.families.set(LATENCY_FAMILY.name, LATENCY_FAMILY);
    for (const family of this.families.values()) this.series.set(family, new Map());
  }

  /** The metric families, by exposed name. */
  get familyNames(): string[] {
    return [...this.families.keys()];
  }

  /** Counts the changes to what render() returns: equal numbers, equal text. */
  get generation(): number {
    return this.changes;
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
    return entity;
  }

  /**
   * Reads one collect's running totals: `tables` (the sections' rows) and
   * `histograms` (the accounting probe's). `pid` is the target's;
   * nameOf gives a thread's name (the live one, or the one it exited with);
   * syscallName names a system call number. Returns whether anything grew.
   */
  add(
    tables: SampleTables,
    pid: number,
    nameOf: (tid: number) => string,
    now: number,
    histograms: readonly ThreadHistogram[] = [],
    syscallName: (nr: number) => string = String,
  ): boolean {
    const readings = new Map<string, Reading>();
    for (const [id, binding] of this.bindings) {
      const table = tables.get(id);
      if (!table || table.count === 0) continue;
      for (let row = 0; row < table.count; row++) {
        const tid = binding.scope === 'thread' ? table.tid(row) : 0;
        const own = binding.constant.slice();
        for (const label of binding.labels) own.push(`${label.name}="${escapeLabelValue(label.value < 0 ? (table.label(row) ?? '') : String(table.value(row, label.value)))}"`);
        const labels = own.join(',');
        for (const bound of binding.values) {
          const family = bound.family;
          const key = `${family.name}\0${pid}/${tid}\0${labels}`;
          let reading = readings.get(key);
          if (!reading) readings.set(key, (reading = { family, pid, tid, labels, value: 0 }));
          const v = table.value(row, bound.value);
          if (family.type === 'max') reading.value = Math.max(reading.value, v);
          else if (family.type === 'counter') reading.value += v;
          else {
            reading.buckets ??= new Float64Array(LOG2_SLOTS);
            reading.buckets[Math.min(Math.max(0, table.value(row, bound.bucket!)), LOG2_SLOTS - 1)] += v;
          }
        }
      }
    }
    if (histograms.length && this.families.has(LATENCY_FAMILY.name)) {
      for (const h of histograms) {
        const syscall = h.kind === AccountHist.ACCOUNT_HIST_SYSCALL;
        const labels = `kind="${syscall ? 'syscall' : 'run_queue'}",syscall="${syscall ? escapeLabelValue(syscallName(h.nr)) : ''}"`;
        const key = `${LATENCY_FAMILY.name}\0${pid}/${h.tid}\0${labels}`;
        let reading = readings.get(key);
        if (!reading) readings.set(key, (reading = { family: LATENCY_FAMILY, pid, tid: h.tid, labels, value: 0, buckets: new Float64Array(LOG2_SLOTS) }));
        for (let s = 0; s < LOG2_SLOTS && s < h.slots.length; s++) reading.buckets![s] += h.slots[s];
      }
    }
    let grew = false;
    const entities = new Map<number, Entity>();
    for (const [key, reading] of readings) {
      const family = reading.family;
      const before = this.raw.get(key);
      let delta: Float64Array | number;
      if (reading.buckets) {
        const old = before instanceof Float64Array ? before : undefined;
        const d = new Float64Array(LOG2_SLOTS);
        let any = false;
        for (let s = 0; s < LOG2_SLOTS; s++) {
          const was = old ? old[s] : 0;
          // A slot read lower than before (a read that raced the kernel) adds nothing and keeps the higher total.
          if (reading.buckets[s] > was) {
            d[s] = reading.buckets[s] - was;
            any = true;
          } else reading.buckets[s] = was;
        }
        if (!any) continue;
        this.raw.set(key, reading.buckets);
        delta = d;
      } else {
        const was = typeof before === 'number' ? before : 0;
        if (reading.value <= was) continue;
        this.raw.set(key, reading.value);
        delta = family.type === 'max' ? reading.value : reading.value - was;
      }
      grew = true;
      let entity: Entity | undefined;
      if (family.scope === 'thread') {
        entity = entities.get(reading.tid);
        if (!entity) entities.set(reading.tid, (entity = this.entity(pid, reading.tid, nameOf(reading.tid), now)));
        entity.lastSeen = now;
      }
      const seriesKey = entity ? `${entity.key}\0${reading.labels}` : reading.labels;
      const map = this.series.get(family)!;
      let series = map.get(seriesKey);
      if (!series) map.set(seriesKey, (series = { entity, labels: reading.labels, value: 0 }));
      if (typeof delta === 'number') {
        series.value = family.type === 'max' ? Math.max(series.value, delta) : series.value + delta;
        continue;
      }
      series.buckets ??= new Float64Array(LOG2_SLOTS);
      series.top ??= 0;
      for (let s = 0; s < LOG2_SLOTS; s++) {
        if (!delta[s]) continue;
        series.buckets[s] += delta[s];
        series.value += delta[s];
        if (s > series.top) series.top = s;
      }
    }
    if (grew) this.invalidate();
    return grew;
  }

  /** The threads of pid alive now (tid -> name): their series are kept. */
  alive(pid: number, threads: ReadonlyMap<number, string>, now: number): void {
    for (const [tid, name] of threads) {
      const entity = this.entities.get(this.options.byName ? `${pid}/${name}` : `${pid}/${tid}`);
      if (entity) entity.lastSeen = now;
    }
  }

  /** A target detached: its probes (and their running totals) are gone; its series stay until they expire. */
  forgetTotals(pid: number): void {
    const mark = `\0${pid}/`;
    for (const key of this.raw.keys()) if (key.includes(mark)) this.raw.delete(key);
  }

  /** Drops the series of threads (names) neither alive nor counted for the expiry time; returns how many series went. */
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
    this.invalidate();
    return dropped;
  }

  private invalidate(): void {
    this.body = undefined;
    this.changes++;
  }

  /** Every family in the text exposition format (HELP and TYPE even for one without series yet); cached until something changes. */
  render(): string {
    if (this.body !== undefined) return this.body;
    const out: string[] = [];
    for (const [family, map] of this.series) {
      const type = family.type === 'max' ? 'gauge' : family.type;
      out.push(`# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${type}\n`);
      const scale = family.scale;
      for (const series of map.values()) {
        const prefix = series.entity ? series.entity.prefix : '';
        if (series.text === undefined || series.textPrefix !== prefix) {
          const labels = prefix && series.labels ? `${prefix},${series.labels}` : prefix || series.labels;
          series.text = family.type === 'histogram' ? labels : `${family.name}{${labels}} `;
          series.textPrefix = prefix;
        }
        if (family.type !== 'histogram') {
          out.push(`${series.text}${formatValue(series.value * scale)}\n`);
          continue;
        }
        const labels = series.text;
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
    return (this.body = out.join(''));
  }
}

/** A sample value as Prometheus reads it (Go's ParseFloat: 1e-09 and 0.5 both fine). */
export function formatValue(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(15)));
}
