/**
 * The recording file (`kdelay --write FILE`, read by `kdelay report`,
 * `kdelay diff`): everything a run reported, as data, so that it renders
 * again anywhere, byte for byte, after the target is gone. Documented in
 * docs/recording-format.md; described by schema/kdelay-recording.schema.json.
 *
 * NDJSON, gzip-compressed: line 1 is the header, then one record per line
 * in the order the live run emitted them, and last an `end` record (a file
 * without one was cut short). Pure: values in, lines out, and back.
 */
import type { SectionSpec } from '../../bundle/manifest.js';
import type { ReportedSyscallEvent, ReportSample, WindowEnd } from '../../model/sample.js';
import { type SampleTables, SectionTable } from '../../model/section-table.js';

/** The format's major version. Within it, keys and record types are only added; a reader skips what it does not know. */
export const RECORDING_VERSION = 1;
/** The header's first key, which says what the file is. */
export const RECORDING_MAGIC = 'kdelay_recording';

/** What the live run was, besides its samples. */
export interface RecordingHeader {
  /** The format's version (RECORDING_VERSION of the kdelay that wrote it). */
  version: number;
  kdelay_version: string;
  /** When the recording began (ISO 8601 UTC). */
  created: string;
  host: {
    /** uname -r */
    kernel: string;
    /** uname -m (x86_64, aarch64) */
    machine: string;
    hostname: string;
    /** The IANA time zone the report's local times were printed in. */
    time_zone: string;
  };
  target: {
    pid: number;
    /** Its name (comm) when the run began, as the JSON output's `command`. */
    command: string;
    /** Its executable, when readable. */
    exe: string | null;
  };
  /** The options that shape what is rendered (the rest of the command line is in `argv`). */
  options: RecordedOptions;
  /** The command line, for a person to read. */
  argv: string[];
  /** The sections of the probes that ran (their manifests'), which lay the tables out. */
  sections: SectionSpec[];
  /** The target ABI's syscall names the verdict uses, by number (present with the accounting probe). */
  syscall_names: Record<string, string> | null;
}

export interface RecordedOptions {
  json: boolean;
  /** `reference` when the run printed kernel_delay.py's layout (--format reference); absent: the default `text`. */
  text_layout?: 'reference';
  /** The accounting probe ran: the verdict can be rendered. */
  verdict: boolean;
  verdict_only: boolean;
  histograms: boolean;
  /** -s DURATION_NS, or null. */
  syscall_events_ns: number | null;
  /** -t, and --thread-name's source: the recording holds only the threads they chose. */
  tid: number | null;
  thread_name: string | null;
  sample_time: number;
  sample_count: number;
  start_trigger: string | null;
  stop_trigger: string | null;
}

/** One table of a sample, by column, as section-table.ts keeps it. */
export interface RecordedTable {
  width: number;
  /** Distinct labels; label_ids index it, 0 meaning no label (stored as null). */
  labels: (string | null)[];
  tids: number[];
  label_ids: number[];
  /** Row-major, width per row. */
  values: number[];
}

export interface RecordedEvent {
  tid: number;
  name: string;
  nr: number;
  entry_ns: string;
  exit_ns: string;
  /** Symbolized when recorded, innermost first; null when lost or stacks were off. */
  kernel_stack: string[] | null;
  user_stack: string[] | null;
  /** Where the call blocked (EventLine.blocked); absent if it did not, or in recordings made before it was recorded. */
  blocked?: { ns: string; count: number; kernel_stack: string[] | null };
}

export interface SampleRecord {
  type: 'sample';
  index: number;
  dump_micros: number;
  window_ns: number;
  trigger_delta_ns: string | null;
  ended: WindowEnd | null;
  /** CLOCK_MONOTONIC: the window's edges, and the clock when the sample was dumped. */
  window: { start_ns: string; stop_ns: string; dump_monotonic_ns: string };
  warnings: string[];
  /** The sections that could not be measured: {section, reason}. */
  notes: { section: string; reason: string }[];
  /** With --hist: the accounting probe's log2 histograms (tid, kind, nr, slots), as reported. */
  histograms?: { tid: number; kind: number; nr: number; slots: number[] }[];
  /** Every reported thread's name as the live report printed it (before ` (exited)`). */
  names: [number, string][];
  /** Threads the kernel saw exit, with the name each exited with. */
  exited: [number, string][];
  stacks: boolean;
  tables: Record<string, RecordedTable>;
  events: RecordedEvent[] | null;
  /** Catch mode: the interval this window was caught for (CLOCK_MONOTONIC ns). */
  caught?: { kind: 'long_poll' | 'syscall'; tid: number; start_ns: string; stop_ns: string; syscall?: { name: string; nr: number } };
}

export type RecordingRecord =
  | { type: 'progress'; message: string; micros: number }
  | { type: 'window_open'; index: number; micros: number }
  /** Catch mode: the probes were attached and watching for intervals of these (ms; null: that kind not caught). */
  | { type: 'watching'; long_poll_ms: number | null; syscall_ms: number | null; micros: number }
  | SampleRecord
  | { type: 'skipped'; trigger_delta_ns: string; micros: number }
  | { type: 'warnings'; warnings: string[] }
  | { type: 'end' };

/** A sample's tables as recorded columns. */
export function encodeTables(tables: SampleTables): Record<string, RecordedTable> {
  const out: Record<string, RecordedTable> = {};
  for (const [id, table] of tables) {
    out[id] = {
      width: table.width,
      labels: table.labels.map((l) => l ?? null),
      tids: Array.from(table.tids.subarray(0, table.count)),
      label_ids: Array.from(table.labelIds.subarray(0, table.count)),
      values: Array.from(table.values.subarray(0, table.count * table.width)),
    };
  }
  return out;
}

/** Recorded columns back into section tables (checked: a malformed table throws). */
export function decodeTables(recorded: Record<string, RecordedTable>): SampleTables {
  const tables: SampleTables = new Map();
  for (const [id, t] of Object.entries(recorded)) {
    const rows = t.tids.length;
    if (!Number.isInteger(t.width) || t.width < 0 || t.label_ids.length !== rows || t.values.length !== rows * t.width) {
      throw new Error(`table ${id}: columns of different lengths`);
    }
    const table = new SectionTable(id, t.width);
    for (let row = 0; row < rows; row++) {
      const labelId = t.label_ids[row];
      if (labelId !== 0 && (labelId < 0 || labelId >= t.labels.length)) throw new Error(`table ${id}: label ${labelId} out of range`);
      table.add(t.tids[row], labelId === 0 ? undefined : (t.labels[labelId] ?? undefined), t.values.slice(row * t.width, (row + 1) * t.width));
    }
    tables.set(id, table);
  }
  return tables;
}

/** Every thread id a sample mentions (tables of per-thread sections, events). */
export function threadsOf(sample: ReportSample, sections: readonly SectionSpec[]): number[] {
  const systemScope = new Set(sections.filter((s) => s.scope === 'system').map((s) => s.id));
  const tids = new Set<number>();
  for (const [id, table] of sample.tables) {
    if (systemScope.has(id)) continue;
    for (let row = 0; row < table.count; row++) tids.add(table.tids[row]);
  }
  for (const e of sample.events ?? []) tids.add(e.tid);
  return [...tids];
}

export function encodeEvent(e: ReportedSyscallEvent): RecordedEvent {
  return {
    tid: e.tid,
    name: e.name,
    nr: e.nr,
    entry_ns: e.entryNs.toString(),
    exit_ns: e.exitNs.toString(),
    kernel_stack: e.kernelFrames ?? null,
    user_stack: e.userFrames ?? null,
    ...(e.blocked ? { blocked: { ns: e.blocked.ns.toString(), count: e.blocked.count, kernel_stack: e.blocked.kernelFrames ?? null } } : {}),
  };
}

export function decodeEvent(e: RecordedEvent): ReportedSyscallEvent {
  return {
    tid: e.tid,
    name: e.name,
    nr: e.nr,
    entryNs: BigInt(e.entry_ns),
    exitNs: BigInt(e.exit_ns),
    ...(e.kernel_stack ? { kernelFrames: e.kernel_stack } : {}),
    ...(e.user_stack ? { userFrames: e.user_stack } : {}),
    ...(e.blocked ? { blocked: { ns: BigInt(e.blocked.ns), count: e.blocked.count, ...(e.blocked.kernel_stack ? { kernelFrames: e.blocked.kernel_stack } : {}) } } : {}),
  };
}

/** A recorded sample as the renderers take it. */
export function decodeSample(r: SampleRecord): ReportSample {
  return {
    tables: decodeTables(r.tables),
    warnings: r.warnings,
    ...(r.notes.length ? { notes: r.notes } : {}),
    ...(r.histograms?.length ? { histograms: r.histograms } : {}),
    ...(r.caught
      ? {
          caught: {
            kind: r.caught.kind,
            tid: r.caught.tid,
            startNs: BigInt(r.caught.start_ns),
            stopNs: BigInt(r.caught.stop_ns),
            ...(r.caught.syscall ? { syscall: r.caught.syscall } : {}),
          },
        }
      : {}),
    ...(r.events ? { events: r.events.map(decodeEvent) } : {}),
    stacks: r.stacks,
    ...(r.exited.length ? { exited: new Map(r.exited) } : {}),
    window: { startNs: BigInt(r.window.start_ns), stopNs: BigInt(r.window.stop_ns), dumpMonotonicNs: BigInt(r.window.dump_monotonic_ns) },
  };
}
