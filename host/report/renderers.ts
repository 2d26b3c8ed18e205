/** Text (the reference's layout) and NDJSON renderers for samples. */
import { formatSyscallEvents, formatSystemSections, lostStacksNote, timestampLine, writeStatistics } from './format.js';
import { withThousands } from './integers.js';
import type { ReportSample, SampleRenderer } from './sample.js';
import { TextBuffer } from './text-buffer.js';
import { accountThreads, histogramBlock, histogramBuckets, type ThreadAccount, verdictData, verdictLines } from './verdict.js';
import type { SectionSpec } from '../bundle/manifest.js';

/** What the verdict (report/verdict.ts) needs besides the sample; undefined: no verdict. */
export interface VerdictOptions {
  /** The target ABI's name for a syscall number. */
  syscallName: (nr: number) => string;
  /** --verdict-only: leave the reference's tables out. */
  only: boolean;
  /** --hist: print the histograms too. */
  histograms: boolean;
}

/**
 * A thread's name in this sample's report: the name it exited with when the
 * kernel saw it exit (in text marked " (exited)": the reference's layout,
 * with a word more, for threads /proc no longer shows), else the caller's
 * (/proc's, or <unknown:PID/TID>).
 */
function namesOf(sample: ReportSample, threadName: (tid: number) => string, mark: string): (tid: number) => string {
  const exited = sample.exited;
  if (!exited?.size) return threadName;
  return (tid) => {
    const name = exited.get(tid);
    return name === undefined ? threadName(tid) : `${name}${mark}`;
  };
}

/** The sample's per-thread accounts, when the accounting probe ran and the window has a length. */
function accountsOf(sample: ReportSample, windowNs: number, threadName: (tid: number) => string, verdict: VerdictOptions | undefined): ThreadAccount[] | undefined {
  if (!verdict || windowNs <= 0) return undefined;
  return accountThreads(sample.tables, windowNs, threadName, verdict.syscallName);
}

/**
 * Writes a report's bytes; true when they were written out before returning,
 * false when the writer still holds them (a pipe that was full queues them).
 */
export type ByteWriter = (bytes: Uint8Array) => boolean;

/**
 * A probe's warning while its window was collected means something of that
 * window went unmeasured (a full map, lost events): the text report says so
 * under the sample's header, the JSON sample record with `incomplete`.
 */
export function incompleteLine(warning: string): string {
  return `# WARNING: incomplete sample: ${warning}`;
}

export function textRenderer(
  sections: SectionSpec[],
  nameNow: (tid: number) => string,
  print: (line: string) => void,
  write: ByteWriter,
  verdict?: VerdictOptions,
): SampleRenderer {
  // One buffer for every sample's table while the writer lets go of its bytes:
  // a fresh ~1 MB buffer per sample of a few hundred threads was freed by the
  // garbage collector's threads, and glibc's arenas grew with the churn
  // (RSS +20% over 1,000 samples; npm run bench, memory).
  let reusable: TextBuffer | undefined;
  return {
    sample(_index, sample, dumpMicros, windowNs, triggerDeltaNs) {
      const threadName = namesOf(sample, nameNow, ' (exited)');
      const header = triggerDeltaNs === undefined ? '# Sample dump' : `# Triggered sample dump, stop-start delta ${withThousands(triggerDeltaNs)} ns`;
      print(timestampLine(header, dumpMicros));
      for (const w of sample.warnings) print(incompleteLine(w));
      const accounts = accountsOf(sample, windowNs, threadName, verdict);
      const verdictBlock = () => {
        if (!accounts) return;
        print(verdictLines(accounts, windowNs).join('\n'));
        if (verdict?.histograms) {
          const hist = histogramBlock(accounts);
          if (hist.length) print(hist.join('\n'));
        }
      };
      if (verdict?.only) {
        verdictBlock();
        return;
      }
      const out = reusable ?? new TextBuffer();
      out.clear();
      writeStatistics(out, { sections, tables: sample.tables, threadName });
      reusable = write(out.bytes()) ? out : undefined;
      const system = formatSystemSections(sections, sample.tables);
      if (system.length) print(system.join('\n'));
      if (sample.notes?.length) print(['', ...sample.notes].join('\n'));
      if (sample.events?.length) {
        const { lines, lostStacks } = formatSyscallEvents(sample.events, threadName, sample.stacks ?? false);
        print(lines.join('\n'));
        if (lostStacks > 0) print(lostStacksNote(lostStacks).join('\n'));
      }
      verdictBlock();
    },
    skipped(triggerDeltaNs, dumpMicros) {
      print(timestampLine(`# Sample dump skipped, delta ${withThousands(triggerDeltaNs)} ns`, dumpMicros));
    },
    warnings(warnings) {
      for (const w of warnings) print(`\n# WARNING: ${w}`);
    },
  };
}

/**
 * The NDJSON output's version (schema/kdelay-output.schema.json, README
 * "JSON output"). Raise it when a key changes meaning or goes away; adding a
 * key or a record type keeps it.
 */
export const JSON_SCHEMA_VERSION = 1;

/** One output line: every record carries the schema version and its type; the payload is under data. */
export function jsonRecord(type: string, data: Record<string, unknown>): string {
  return JSON.stringify({ schema: JSON_SCHEMA_VERSION, type, data });
}

/**
 * A u64 (ns, counts) as JSON: a number while a double holds it exactly (up
 * to 2^53 - 1), else its decimal digits as a string. The rule is the same
 * for every such field; readers: `typeof v === 'string' ? BigInt(v) : v`.
 */
export function u64(value: bigint | number): number | string {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : BigInt(Math.round(value)).toString();
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
}

/** "TOTAL ns" -> "total_ns": a column's JSON key when its manifest declares none. */
export function columnKey(header: string): string {
  return header
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_|_$/g, '');
}

/** What the JSON records say about the run beyond the tables. */
export interface JsonRunContext {
  /** The target, as the user's PID namespace numbers it. */
  pid: number;
  /** Its name (comm). */
  command: string;
  /** The last window's edges on CLOCK_MONOTONIC (the gate's clock), read after it closed. */
  window(): { startNs: bigint; stopNs: bigint };
  /** CLOCK_MONOTONIC now, to place the window on the wall clock. */
  monotonicNs(): bigint;
  /** Catch mode: the interval the sample being reported was caught for (its `catch` object; report/catch-report.ts). */
  caught?(): Record<string, unknown> | undefined;
}

/** "# TITLE: not available (why)" -> its parts. */
function unavailableNote(note: string): { section: string; reason: string } {
  const m = /^# (.*?): not available \((.*)\)$/.exec(note);
  return m ? { section: m[1], reason: m[2] } : { section: '', reason: note.replace(/^# /, '') };
}

/** One JSON object per line; the record types are documented in schema/kdelay-output.schema.json. */
export function jsonRenderer(
  sections: SectionSpec[],
  nameNow: (tid: number) => string,
  print: (line: string) => void,
  run: JsonRunContext,
  verdict?: VerdictOptions,
): SampleRenderer {
  const isoOfMonotonic = (ns: bigint, nowMicros: number) => new Date(nowMicros / 1000 - Number(run.monotonicNs() - ns) / 1e6).toISOString();
  return {
    sample(index, sample: ReportSample, dumpMicros, windowNs, triggerDeltaNs, ended) {
      const threadName = namesOf(sample, nameNow, '');
      type Row = Record<string, string | number>;
      const threads = new Map<number, Record<string, Row[]>>();
      const system: Record<string, Row[]> = {};
      for (const section of sections) {
        const table = sample.tables.get(section.id);
        if (!table || section.hidden) continue;
        const keys = section.columns.map((c) => c.key ?? columnKey(c.header));
        const labelKey = section.columns[0].format === 'label' ? keys[0] : undefined;
        const valueKeys = labelKey === undefined ? keys : keys.slice(1);
        for (let row = 0; row < table.count; row++) {
          const record: Row = {};
          if (labelKey) record[labelKey] = table.label(row) ?? '';
          valueKeys.forEach((key, i) => (record[key] = u64(table.value(row, i))));
          if (section.scope === 'system') {
            (system[section.id] ??= []).push(record);
            continue;
          }
          const perThread = threads.get(table.tid(row)) ?? {};
          (perThread[section.id] ??= []).push(record);
          threads.set(table.tid(row), perThread);
        }
      }
      const window = run.window();
      const caught = run.caught?.();
      const dumpTime = new Date(dumpMicros / 1000).toISOString();
      print(
        jsonRecord('sample', {
          sample: index,
          pid: run.pid,
          command: run.command,
          time: dumpTime,
          window_start_ns: u64(window.startNs),
          window_stop_ns: u64(window.stopNs),
          window_start_time: isoOfMonotonic(window.startNs, dumpMicros),
          window_stop_time: isoOfMonotonic(window.stopNs, dumpMicros),
          window_ns: u64(windowNs),
          interrupted: ended === 'interrupted',
          target_exited: ended === 'target-exited',
          trigger_delta_ns: triggerDeltaNs === undefined ? null : u64(triggerDeltaNs),
          incomplete: sample.warnings.length > 0,
          warnings: sample.warnings,
          threads: [...threads].map(([tid, sectionsOfThread]) => ({ tid, name: threadName(tid), exited: sample.exited?.has(tid) ?? false, sections: sectionsOfThread })),
          system,
          ...(caught ? { catch: caught } : {}),
        }),
      );
      for (const note of sample.notes ?? []) print(jsonRecord('unavailable', { sample: index, ...unavailableNote(note) }));
      for (const account of accountsOf(sample, windowNs, threadName, verdict) ?? []) {
        print(jsonRecord('verdict', { sample: index, ...verdictData(account) }));
        if (account.runQueueHist) {
          print(jsonRecord('histogram', { sample: index, tid: account.tid, kind: 'run_queue', syscall: null, nr: null, buckets: histogramBuckets(account.runQueueHist) }));
        }
        for (const h of account.syscallHists ?? []) {
          print(jsonRecord('histogram', { sample: index, tid: account.tid, kind: 'syscall', syscall: h.syscall, nr: h.nr, buckets: histogramBuckets(h.slots) }));
        }
      }
      for (const e of sample.events ?? []) {
        print(
          jsonRecord('syscall_event', {
            sample: index,
            tid: e.tid,
            comm: threadName(e.tid),
            syscall: e.name,
            number: e.nr,
            entry_ns: u64(e.entryNs),
            exit_ns: u64(e.exitNs),
            duration_ns: u64(e.exitNs - e.entryNs),
            kernel_stack: e.kernelFrames ?? null,
            user_stack: e.userFrames ?? null,
          }),
        );
      }
    },
    windowOpened(index, dumpMicros) {
      print(jsonRecord('window_open', { sample: index, time: new Date(dumpMicros / 1000).toISOString() }));
    },
    skipped(triggerDeltaNs, dumpMicros) {
      print(jsonRecord('skipped', { time: new Date(dumpMicros / 1000).toISOString(), trigger_delta_ns: u64(triggerDeltaNs) }));
    },
    warnings(warnings) {
      for (const message of warnings) print(jsonRecord('warning', { message }));
    },
  };
}
