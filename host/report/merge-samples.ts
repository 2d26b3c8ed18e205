/**
 * Several windows' samples as one: catch mode (driver/catch-mode.ts) keeps
 * the target under short slices and reports a caught interval as the
 * slices that cover it, merged here. Pure, and generic: how each column
 * adds up is the manifest's word (bundle/manifest.ts: ColumnSpec.merge), so
 * a new probe's section merges without a host change, and one whose
 * manifest does not say is left out of merged windows with a note.
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

/**
 * Samples of consecutive windows as the sample of one window covering them
 * all: each section merged (mergeSectionTables), a section that cannot be
 * merged left out with a note, warnings and events kept in order, notes
 * once each, histograms of the same (thread, kind, call) added bucket by
 * bucket, threads seen exiting in any of them.
 */
export function mergeSamples<S extends ReportSample>(sections: readonly SectionSpec[], samples: readonly S[]): ReportSample & Pick<S, 'events'> {
  const tables: SampleTables = new Map();
  const notes = new Map<string, UnavailableSection>();
  const addNote = (note: UnavailableSection) => notes.set(`${note.section}\0${note.reason}`, note);
  for (const sample of samples) for (const note of sample.notes ?? []) addNote(note);
  for (const section of sections) {
    const parts = samples.flatMap((s) => s.tables.get(section.id) ?? []);
    if (parts.length === 0) continue;
    const why = unmergeable(section);
    if (why) {
      addNote({ section: section.title, reason: why });
      continue;
    }
    tables.set(section.id, mergeSectionTables(section, parts));
  }
  const exited = new Map<number, string>();
  for (const sample of samples) for (const [tid, name] of sample.exited ?? []) exited.set(tid, name);
  const histograms = mergeHistograms(samples.flatMap((s) => s.histograms ?? []));
  const events = samples.some((s) => s.events) ? samples.flatMap((s) => s.events ?? []) : undefined;
  return {
    tables,
    warnings: samples.flatMap((s) => s.warnings),
    notes: [...notes.values()],
    ...(histograms.length ? { histograms } : {}),
    exited,
    ...(events ? { events: events as S['events'], stacks: samples.some((s) => s.stacks) } : {}),
  };
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
