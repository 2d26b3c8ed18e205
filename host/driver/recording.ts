/**
 * --write FILE: what the driver knows that a recording keeps (the host's
 * facts, the target's identity, the options that shape rendering, the
 * syscall names the verdict uses), and the recorder sink it tees beside
 * the chosen output (report/recording/).
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../package-root.js';
import { hostname, machine, release } from 'node:os';
import type { SectionSpec } from '../bundle/manifest.js';
import { RecordingWriter } from '../report/recording/writer.js';
import type { RecordingHeader } from '../report/recording/file-format.js';
import type { SyscallTable } from '../syscalls/table.js';
import type { KdelayOptions } from './options.js';

export interface RecordingFacts {
  pid: number;
  command: string;
  sections: SectionSpec[];
  /** With the accounting probe: the target ABI's syscall table (the verdict names calls by number). */
  syscalls?: SyscallTable;
  kdelayVersion: string;
}

/** The header of a recording of this run. */
export function recordingHeader(options: KdelayOptions, facts: RecordingFacts): Omit<RecordingHeader, 'version'> {
  let exe: string | null = null;
  try {
    exe = readlinkSync(`/proc/${facts.pid}/exe`);
  } catch {
    // Another user's process without CAP_SYS_PTRACE, or gone: the name is enough.
  }
  return {
    kdelay_version: facts.kdelayVersion,
    created: new Date().toISOString(),
    host: { kernel: release(), machine: machine(), hostname: hostname(), time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone },
    target: { pid: facts.pid, command: facts.command, exe },
    options: {
      json: options.json,
      ...(options.format === 'reference' ? { text_layout: 'reference' as const } : {}),
      verdict: facts.syscalls !== undefined,
      verdict_only: options.verdictOnly,
      histograms: options.histograms,
      syscall_events_ns: options.syscallEvents ?? null,
      tid: options.tid ?? null,
      thread_name: options.threadName?.source ?? null,
      sample_time: options.sampleTime,
      sample_count: options.sampleCount,
      start_trigger: options.startTrigger?.text ?? null,
      stop_trigger: options.stopTrigger?.text ?? null,
    },
    argv: options.argv ?? [],
    sections: facts.sections,
    syscall_names: facts.syscalls ? Object.fromEntries(facts.syscalls.entries().map(([nr, name]) => [String(nr), name])) : null,
  };
}

/** Creates --write's file now, before anything is attached: a path that cannot be created is one line, exit 73. */
export function createRecording(options: KdelayOptions): RecordingWriter | undefined {
  return options.write === undefined ? undefined : new RecordingWriter(options.write);
}

/** The installed package's version (its package.json). */
export function kdelayVersion(): string {
  return JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')).version;
}
