/**
 * Which metric families the probes' sections make, read from their
 * manifests alone (a column's `metric`, a section's `metricLabels`): a new
 * probe adds its series to `kdelay serve` as it adds its tables to the
 * report, with no host change. Pure.
 */
import type { MetricType, SectionSpec } from '../bundle/manifest.js';

/** Every family's name starts with this. */
export const METRIC_PREFIX = 'kdelay_';

export interface MetricFamily {
  /** The exposed name: prefix, the manifest's name, and `_total` for counters. */
  name: string;
  type: MetricType;
  help: string;
  /** The labels a section adds (constant and per-row), in order; pid/tid/thread come first for per-thread sections. */
  labels: string[];
  /** Per-thread (pid, tid, thread labels) or system-wide (none of them). */
  scope: 'thread' | 'system';
  /** ns columns are exported in seconds. */
  scale: number;
}

/** One value column of a section and the family it feeds. */
export interface ValueBinding {
  /** Index into a row's values (its non-label columns). */
  value: number;
  family: MetricFamily;
  /** histogram: index into a row's values of its log2(ns) slot. */
  bucket?: number;
}

/** How one section's rows become series. */
export interface SectionBinding {
  section: string;
  scope: 'thread' | 'system';
  /** Constant labels, already as `name="value"` text. */
  constant: string[];
  /** Labels from the row: its text label (value -1) or one of its values. */
  labels: { name: string; value: number }[];
  values: ValueBinding[];
}

export class MetricsError extends Error {}

/** The families and section bindings of a set of sections; sections sharing a family must agree on it. */
export function planMetrics(sections: readonly SectionSpec[]): { families: Map<string, MetricFamily>; sections: Map<string, SectionBinding> } {
  const families = new Map<string, MetricFamily>();
  const bindings = new Map<string, SectionBinding>();
  for (const section of sections) {
    const scope = section.scope ?? 'thread';
    const constant = Object.entries(section.metricLabels ?? {});
    const labels: { name: string; value: number }[] = [];
    const values: ValueBinding[] = [];
    const valueIndex = (column: number) => section.columns.slice(0, column).filter((c) => c.format !== 'label').length;
    section.columns.forEach((column, i) => {
      const metric = column.metric;
      if (!metric) return;
      if (metric.label !== undefined) labels.push({ name: metric.label, value: column.format === 'label' ? -1 : valueIndex(i) });
    });
    const labelNames = [...constant.map(([name]) => name), ...labels.map((l) => l.name)];
    section.columns.forEach((column, i) => {
      const metric = column.metric;
      if (!metric || metric.label !== undefined || !metric.name || !metric.type) return;
      const name = METRIC_PREFIX + metric.name + (metric.type === 'counter' ? '_total' : '');
      const family: MetricFamily = {
        name,
        type: metric.type,
        help: metric.help ?? `${section.title}: ${column.header}`,
        labels: labelNames,
        scope,
        scale: column.format === 'ns' ? 1e-9 : 1,
      };
      const known = families.get(name);
      if (known) {
        if (known.type !== family.type || known.scope !== family.scope || known.scale !== family.scale || known.labels.join() !== family.labels.join()) {
          throw new MetricsError(`section ${section.id} exports ${name} with other type, unit or labels than another section does`);
        }
      } else families.set(name, family);
      values.push({ value: valueIndex(i), family: known ?? family, bucket: metric.type === 'histogram' ? valueIndex(metric.bucket!) : undefined });
    });
    if (values.length === 0) continue;
    bindings.set(section.id, { section: section.id, scope, constant: constant.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`), labels, values });
  }
  return { families, sections: bindings };
}

/** A label value as the exposition format quotes it: backslash, double quote and newline escaped. */
export function escapeLabelValue(value: string): string {
  return /[\\"\n]/.test(value) ? value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : value;
}

/** A HELP text: backslash and newline escaped. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}
