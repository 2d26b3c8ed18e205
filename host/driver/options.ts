/**
 * What a run of kdelay is asked to do, as the driver takes it: cli/options.ts
 * parses argv into these, the driver never looks at argv.
 */
import type { Trigger } from '../system/triggers.js';

export interface KdelayOptions {
  pid?: number;
  /** -t: report only this thread (of the target process, or of the process it belongs to). */
  tid?: number;
  /** --thread-name: report only threads whose name this matches (with -t: that thread, if it matches). */
  threadName?: RegExp;
  sampleTime: number;
  sampleCount: number;
  sampleInterval: number;
  /** libbpf debug output; the reference's -D takes a BCC flag mask, any value enables it here. */
  debug: number;
  /** --json, the same as format 'json'. */
  json: boolean;
  /** --format: `text` (the default), `reference` (kernel_delay.py's layout, byte for byte) or `json`. */
  format: 'text' | 'reference' | 'json';
  startTrigger?: Trigger;
  stopTrigger?: Trigger;
  triggerDelta: number;
  listProbes: boolean;
  /** -s: record syscalls longer than this many ns (0: all); undefined: off. */
  syscallEvents?: number;
  skipSyscallPollEvents: boolean;
  stackTraceSize: number;
  /** Ring-buffer pages for events, rounded up to a power of two. */
  bufferPageCount: number;
  /** Third-party probe bundles or folders of them (--probe, repeatable). */
  probeFiles: string[];
  /** Public keys whose signatures are trusted on third-party bundles (--trust-key, repeatable). */
  trustKeys: string[];
  /** Run bundles that are unsigned or signed by an untrusted key (never tampered ones). */
  allowUnsigned: boolean;
  /** --only: run just these probes (those with report sections); empty: all. */
  onlyProbes: string[];
  /** --skip: do not run these probes. */
  skipProbes: string[];
  /** --allow-program-kind: BPF program kinds or helpers the policy refuses by default. */
  allowProgramKinds: string[];
  /** --probe-option NAME=VALUE: options a probe's manifest declares (e.g. syscalls.max_entries). */
  probeOptions: Record<string, string>;
  /** --verdict (implied by --verdict-only and --hist): run the account probe and print the verdict. */
  verdict: boolean;
  /** --verdict-only: print only the verdict (and --hist's histograms), not the reference's tables. */
  verdictOnly: boolean;
  /** --hist: log2 histograms of run-queue waits and syscall durations, and percentiles in the verdict. */
  histograms: boolean;
  /** --write FILE: also record every sample there (report/recording/). */
  write?: string;
  /** The command line, with --write: the recording keeps it for a person to read. */
  argv?: string[];
  /** --catch-long-poll MS: report only windows holding a poll interval of at least this (catch mode; implies verdict). */
  catchLongPollMs?: number;
  /** --catch-syscall MS: report only windows holding a system call of at least this. */
  catchSyscallMs?: number;
}

/** The reference rounds --buffer-page-count up to a power of two. */
export function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** `kdelay probes list [--probe PATH...]`: the probe bundles kdelay would run. */
export interface ProbesListCommand extends Pick<KdelayOptions, 'probeFiles' | 'trustKeys' | 'allowUnsigned' | 'onlyProbes' | 'skipProbes' | 'allowProgramKinds' | 'json'> {
  command: 'probes-list';
}
