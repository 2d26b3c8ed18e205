/** The NDJSON output as a sample sink: one JSON record per line (schema/kdelay-output.schema.json). */
import type { SectionSpec } from '../bundle/manifest.js';
import { catchJson, watchingRecord } from './catch-report.js';
import type { ReportSample, SampleSink, SampleWindow } from '../model/sample.js';
import { columnKey, jsonRecord, u64 } from './json-records.js';
import { accountsOf, namesOf, type VerdictOptions } from './render-common.js';
import { histogramBuckets } from './histograms.js';
import { verdictData } from './verdict.js';

/** What the JSON records say about the run beyond the tables. */
export interface JsonRunContext {
  /** The target, as the user's PID namespace numbers it. */
  pid: number;
  /** Its name (comm). */
  command: string;
  /**
   * For samples that do not carry their window (model/sample.ts:
   * SampleWindow; the driver's always do): the last window's edges on
   * CLOCK_MONOTONIC (the gate's clock), read after it closed.
   */
  window?(): { startNs: bigint; stopNs: bigint };
  /** With window(): CLOCK_MONOTONIC now, to place the window on the wall clock. */
  monotonicNs?(): bigint;
}

/** One JSON object per line; the record types are documented in schema/kdelay-output.schema.json. */
export function jsonRenderer(sections: SectionSpec[], nameNow: (tid: number) => string, print: (line: string) => void, run: JsonRunContext, verdict?: VerdictOptions): SampleSink {
  const windowOf = (sample: ReportSample): SampleWindow => {
    if (sample.window) return sample.window;
    if (!run.window || !run.monotonicNs) throw new Error('jsonRenderer: a sample without its window (SampleWindow) and no clock to read it from');
    return { ...run.window(), dumpMonotonicNs: run.monotonicNs() };
  };
  const isoOfMonotonic = (ns: bigint, window: SampleWindow, dumpMicros: number) => new Date(dumpMicros / 1000 - Number(window.dumpMonotonicNs - ns) / 1e6).toISOString();
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
      const window = windowOf(sample);
      const dumpTime = new Date(dumpMicros / 1000).toISOString();
      print(
        jsonRecord('sample', {
          sample: index,
          pid: run.pid,
          command: run.command,
          time: dumpTime,
          window_start_ns: u64(window.startNs),
          window_stop_ns: u64(window.stopNs),
          window_start_time: isoOfMonotonic(window.startNs, window, dumpMicros),
          window_stop_time: isoOfMonotonic(window.stopNs, window, dumpMicros),
          window_ns: u64(windowNs),
          interrupted: ended === 'interrupted',
          target_exited: ended === 'target-exited',
          trigger_delta_ns: triggerDeltaNs === undefined ? null : u64(triggerDeltaNs),
          incomplete: sample.warnings.length > 0,
          warnings: sample.warnings,
          threads: [...threads].map(([tid, sectionsOfThread]) => ({ tid, name: threadName(tid), exited: sample.exited?.has(tid) ?? false, sections: sectionsOfThread })),
          system,
          ...(sample.caught ? { catch: catchJson(sample.caught) } : {}),
        }),
      );
      for (const note of sample.notes ?? []) print(jsonRecord('unavailable', { sample: index, section: note.section, reason: note.reason }));
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
            blocked: e.blocked ? { off_cpu_ns: u64(e.blocked.ns), times: e.blocked.count, kernel_stack: e.blocked.kernelFrames ?? null } : null,
          }),
        );
      }
    },
    watching(what, dumpMicros) {
      print(watchingRecord(run.pid, what, dumpMicros));
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
