/**
 * What catch mode (--catch-long-poll, --catch-syscall) adds to the report:
 * the line saying kdelay is watching, and before each caught window's
 * report the interval it was caught for (text: a header line; JSON: the
 * sample record's `catch` object and a `watching` record).
 */
import type { CatchThresholds, SampleCatch } from '../model/sample.js';
import { withThousands } from './integers.js';
import { jsonRecord, u64 } from './json-records.js';

/** What is watched for, in words: "poll intervals of at least 500 ms and system calls of at least 300 ms". */
export function watchedFor({ longPollMs, syscallMs }: CatchThresholds): string {
  const parts = [
    ...(longPollMs === undefined ? [] : [`poll intervals of at least ${longPollMs} ms`]),
    ...(syscallMs === undefined ? [] : [`system calls of at least ${syscallMs} ms`]),
  ];
  return parts.join(' and ');
}

/** The text line once the probes are attached and watching. */
export function watchingLine(pid: number, what: string): string {
  return `# Watching PID ${pid} for ${what} (Ctrl-C to stop)`;
}

export function watchingRecord(pid: number, { longPollMs, syscallMs }: CatchThresholds, dumpMicros: number): string {
  return jsonRecord('watching', {
    pid,
    time: new Date(dumpMicros / 1000).toISOString(),
    long_poll_ns: longPollMs === undefined ? null : u64(Math.round(longPollMs * 1e6)),
    syscall_ns: syscallMs === undefined ? null : u64(Math.round(syscallMs * 1e6)),
  });
}

/** The header line before a caught window's report. */
export function caughtHeaderLine(c: SampleCatch, threadName: string): string {
  const ns = c.stopNs - c.startNs;
  const ms = (Number(ns) / 1e6).toFixed(1);
  const what = c.kind === 'long_poll' ? 'long poll interval' : `system call ${c.syscall?.name ?? '?'}`;
  return `# Caught ${what} of ${withThousands(ns)} ns (${ms} ms): thread ${threadName} (TID ${c.tid})`;
}

/** The sample record's `catch` object. */
export function catchJson(c: SampleCatch): Record<string, unknown> {
  return {
    kind: c.kind,
    tid: c.tid,
    interval_ns: u64(c.stopNs - c.startNs),
    start_ns: u64(c.startNs),
    stop_ns: u64(c.stopNs),
    ...(c.syscall ? { syscall: c.syscall.name, number: c.syscall.nr } : {}),
  };
}
