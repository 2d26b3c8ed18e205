/**
 * How rows add up across windows, by the manifest's word
 * (bundle/manifest.ts: ColumnSpec.merge): catch mode (driver/catch-mode.ts)
 * keeps the gate open and snapshots the probes' cumulative counts, and a
 * caught interval's window is the difference of the snapshots at its edges
 * (differenceOfSamples). Pure, and generic: a new probe's section works
 * without a host change, and one whose manifest does not say is left out of
 * caught windows with a note.
 */
import type { ColumnSpec, SectionSpec } from '../bundle/manifest.js';
import type { ReportSample, ThreadHistogram, UnavailableSection } from '../model/sample.js';
import { type SampleTables, SectionTable } from '../model/section-table.js';

/** The number columns of a section (a row's values, in order), with how each merges. */
function valueColumns(section: SectionSpec): ColumnSpec[] {
  return section.columns.filter((c) => c.format !== 'label');
}

/** Why a section's rows cannot be merged (a number column without a merge), or undefined. */
export function unmergeable(section: SectionSpec): string | undefined {
  const missing = valueColumns(section).find((c) => c.merge === undefined);
  return missing && `its manifest does not say how column ${missing.header} adds up across windows`;
}

interface MergedRow {
  tid: number;
  label: string | undefined;
  values: number[];
  /** For 'mean' columns: the sum of mean x weight so far. */
  weighted: number[];
}

/**
 * One section's rows of several windows as one table: rows with the same
 * thread, label and 'key' columns become one row, each other column merged
 * as its manifest says. Rows keep the order they first appeared in.
 */
export function mergeSectionTables(section: SectionSpec, tables: readonly SectionTable[]): SectionTable {
  const columns = valueColumns(section);
  const width = columns.length;
  // A 'mean' column's weight, as an index among the row's values.
  const labelFirst = section.columns[0].format === 'label' ? 1 : 0;
  const weightOf = columns.map((c) => (c.merge === 'mean' && c.weight !== undefined ? c.weight - labelFirst : -1));
  const keyColumns = columns.flatMap((c, i) => (c.merge === 'key' ? [i] : []));
  const rows = new Map<string, MergedRow>();
  for (const table of tables) {
    for (let r = 0; r < table.count; r++) {
      const tid = table.tid(r);
      const label = table.label(r);
      const key = `${tid}\0${label ?? ''}\0${keyColumns.map((i) => table.value(r, i)).join(',')}`;
      const merged = rows.get(key);
      if (!merged) {
        const values = Array.from({ length: width }, (_, i) => table.value(r, i));
        rows.set(key, { tid, label, values, weighted: values.map((v, i) => (weightOf[i] >= 0 ? v * values[weightOf[i]] : 0)) });
        continue;
      }
      for (let i = 0; i < width; i++) {
        const v = table.value(r, i);
        switch (columns[i].merge) {
          case 'sum':
            merged.values[i] += v;
            break;
          case 'min':
            merged.values[i] = Math.min(merged.values[i], v);
            break;
          case 'max':
            merged.values[i] = Math.max(merged.values[i], v);
            break;
          case 'mean':
            merged.weighted[i] += v * table.value(r, weightOf[i]);
            break;
        }
      }
    }
  }
  const out = new SectionTable(section.id, width);
  for (const row of rows.values()) {
    for (let i = 0; i < width; i++) {
      if (weightOf[i] < 0) continue;
      const weight = row.values[weightOf[i]];
      row.values[i] = weight > 0 ? Math.round(row.weighted[i] / weight) : 0;
    }
    out.add(row.tid, row.label, row.values);
  }
  return out;
}

/** A row's identity across windows: its thread, label and 'key' columns. */
function rowKey(table: SectionTable, r: number, keyColumns: readonly number[]): string {
  return `${table.tid(r)}\0${table.label(r) ?? ''}\0${keyColumns.map((i) => table.value(r, i)).join(',')}`;
}

/**
 * What happened between two snapshots of cumulative counts (catch mode
 * never closes the gate: driver/catch-mode.ts), as one window's sample:
 * each section's rows of `after` less the same rows of `before` (undefined:
 * the snapshot at the gate's opening, all zero), column by column as the
 * manifest's merge rule says. A snapshot's rows with the same identity are
 * first added up (mergeSectionTables: a probe may report a row in parts).
 * 'sum' columns subtract; a 'mean' is recomputed from the weighted sums; a
 * 'min' or 'max' that changed between the snapshots is the extreme of what
 * ended in between, exactly; one that did not is the extreme since watching
 * began, which a note says. Rows with nothing new are left out. Histograms
 * subtract bucket by bucket. Warnings and events are those of the snapshots
 * after `before` up to `after` (`between`).
 */
export function differenceOfSamples<S extends ReportSample>(
  sections: readonly SectionSpec[],
  before: ReportSample | undefined,
  after: S,
  between: readonly S[],
): ReportSample & Pick<S, 'events'> {
  const tables: SampleTables = new Map();
  const notes = new Map<string, UnavailableSection>();
  const addNote = (note: UnavailableSection) => notes.set(`${note.section}\0${note.reason}`, note);
  for (const note of after.notes ?? []) addNote(note);
  for (const section of sections) {
    const last = after.tables.get(section.id);
    if (!last) continue;
    const why = unmergeable(section);
    if (why) {
      addNote({ section: section.title, reason: why });
      continue;
    }
    const first = before?.tables.get(section.id);
    const { table, extremesSince } = differenceOfTables(section, first && mergeSectionTables(section, [first]), mergeSectionTables(section, [last]));
    tables.set(section.id, table);
    if (extremesSince.length && !section.hidden)
      addNote({ section: section.title, reason: `where ${extremesSince.join(' and ')} did not change in this window, it is the extreme since kdelay began watching` });
  }
  const exited = new Map<number, string>();
  for (const sample of between) for (const [tid, name] of sample.exited ?? []) if (!before?.exited?.has(tid)) exited.set(tid, name);
  const histograms = differenceOfHistograms(before?.histograms ?? [], after.histograms ?? []);
  const events = between.some((s) => s.events) ? between.flatMap((s) => s.events ?? []) : undefined;
  return {
    tables,
    warnings: between.flatMap((s) => s.warnings),
    notes: [...notes.values()],
    ...(histograms.length ? { histograms } : {}),
    exited,
    ...(events ? { events: events as S['events'], stacks: between.some((s) => s.stacks) } : {}),
  };
}

/**
 * One section's rows of a later snapshot less an earlier one's (both with
 * one row per identity), by the columns' merge rules; extremesSince names
 * the min/max columns some reported row of which kept the earlier value.
 */
export function differenceOfTables(section: SectionSpec, before: SectionTable | undefined, after: SectionTable): { table: SectionTable; extremesSince: string[] } {
  const columns = valueColumns(section);
  const width = columns.length;
  const labelFirst = section.columns[0].format === 'label' ? 1 : 0;
  const keyColumns = columns.flatMap((c, i) => (c.merge === 'key' ? [i] : []));
  const earlier = new Map<string, number>();
  if (before) for (let r = 0; r < before.count; r++) earlier.set(rowKey(before, r, keyColumns), r);
  const out = new SectionTable(section.id, width);
  const unchanged = new Set<number>();
  for (let r = 0; r < after.count; r++) {
    const b = before ? earlier.get(rowKey(after, r, keyColumns)) : undefined;
    const was = (i: number) => (b === undefined || !before ? 0 : before.value(b, i));
    const values: number[] = [];
    const kept: number[] = [];
    let anything = false;
    for (let i = 0; i < width; i++) {
      const now = after.value(r, i);
      switch (columns[i].merge) {
        case 'sum': {
          // Never below zero: a count the kernel moved between two maps while a snapshot read them arrives late, never negative.
          const d = Math.max(0, now - was(i));
          if (d > 0) anything = true;
          values.push(d);
          break;
        }
        case 'mean': {
          const w = columns[i].weight! - labelFirst;
          const weight = after.value(r, w) - was(w);
          values.push(weight > 0 ? Math.max(0, Math.round((now * after.value(r, w) - was(i) * was(w)) / weight)) : 0);
          break;
        }
        case 'min':
        case 'max':
          if (b !== undefined && now === was(i)) kept.push(i);
          values.push(now);
          break;
        default:
          values.push(now);
      }
    }
    if (!anything) continue;
    out.add(after.tid(r), after.label(r), values);
    for (const i of kept) unchanged.add(i);
  }
  return { table: out, extremesSince: [...unchanged].sort((x, y) => x - y).map((i) => columns[i].header) };
}

/** Histograms of a later snapshot less an earlier one's, bucket by bucket; those with nothing new are left out. */
export function differenceOfHistograms(before: readonly ThreadHistogram[], after: readonly ThreadHistogram[]): ThreadHistogram[] {
  const key = (h: { tid: number; kind: number; nr: number }) => `${h.tid}\0${h.kind}\0${h.nr}`;
  const earlier = new Map(mergeHistograms(before).map((h) => [key(h), h.slots]));
  const out: ThreadHistogram[] = [];
  for (const h of mergeHistograms(after)) {
    const was = earlier.get(key(h)) ?? [];
    const slots = Array.from(h.slots, (n, s) => Math.max(0, n - (was[s] ?? 0)));
    if (slots.some((n) => n > 0)) out.push({ ...h, slots });
  }
  return out;
}

/** Histograms of several windows as one: the same (thread, kind, call) added bucket by bucket, in first-seen order. */
export function mergeHistograms(histograms: readonly ThreadHistogram[]): ThreadHistogram[] {
  const merged = new Map<string, { tid: number; kind: number; nr: number; slots: number[] }>();
  for (const h of histograms) {
    const key = `${h.tid}\0${h.kind}\0${h.nr}`;
    const into = merged.get(key);
    if (!into) {
      merged.set(key, { tid: h.tid, kind: h.kind, nr: h.nr, slots: Array.from(h.slots) });
      continue;
    }
    for (let s = 0; s < h.slots.length; s++) into.slots[s] = (into.slots[s] ?? 0) + h.slots[s];
  }
  return [...merged.values()];
}
