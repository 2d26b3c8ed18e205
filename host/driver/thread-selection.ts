/**
 * Which threads a report shows, and by which numbers: one step between what
 * the probes counted and everything that reads per-thread rows (the text
 * report, NDJSON, -s events), so a selection applies to all of them alike.
 *
 * The probes count every thread of the target by the kernel's thread ids
 * (see system/procfs.ts). Each id is mapped once per sample to the number
 * the user reads (kdelay's PID namespace), or to nothing when the thread is
 * not selected:
 *   -t TID              only that thread (compared by the kernel's number,
 *                       which stays known after the thread exits);
 *   --thread-name RE    only threads whose name (comm) RE matches, searched
 *                       anywhere in it as grep -E does (anchor with ^ and $).
 * With both, a thread must pass both: -t names the thread, --thread-name
 * states what it must be called. Rows of system scope (tid 0, e.g. UPCALL)
 * always stay.
 *
 * The selection is pure: the names and the renumbering come in as
 * ThreadFacts. threadSelector, at the end, is the one impure piece: it
 * gives the selection its facts from /proc and the PID namespaces.
 */
import { printable } from '../base/printable.js';
import { type PidNamespaces, type Target, ThreadNames } from '../system/procfs.js';
import type { KdelayOptions } from './options.js';
import type { CollectedSample } from './probe-set.js';

export interface ThreadSelection {
  /** -t: the one thread to report, as the kernel numbers it. */
  kernelTid?: number;
  /** --thread-name: a pattern the thread's name must match (RegExp.test: a search). */
  name?: RegExp;
}

export interface ThreadFacts {
  /** The user's number for a kernel thread id; undefined when it has none (kdelay's own namespace, or the thread is gone). */
  userTid(kernelTid: number): number | undefined;
  /** A thread's name by the number the user reads: its name now, or the last one seen if it exited; undefined if never seen. */
  name(tid: number): string | undefined;
}

/** Whether anything is left out: without a selection and without renumbering, a sample passes as it is. */
export function selectsAll(selection: ThreadSelection): boolean {
  return selection.kernelTid === undefined && selection.name === undefined;
}

/**
 * The kernel thread id -> user thread id map of one sample: undefined for
 * a thread not selected. Memoized: a thread has a row per syscall, section
 * and event, and its name is read once per sample.
 */
export function threadView(selection: ThreadSelection, facts: ThreadFacts): (kernelTid: number) => number | undefined {
  const seen = new Map<number, number | undefined>();
  return (kernelTid) => {
    if (kernelTid === 0) return 0;
    if (seen.has(kernelTid)) return seen.get(kernelTid);
    // A thread that exited before the report has no number left in the namespace: it keeps the kernel's.
    let tid: number | undefined = facts.userTid(kernelTid) ?? kernelTid;
    if (selection.kernelTid !== undefined && kernelTid !== selection.kernelTid) tid = undefined;
    if (tid !== undefined && selection.name) {
      const name = facts.name(tid);
      if (name === undefined || !selection.name.test(name)) tid = undefined;
    }
    seen.set(kernelTid, tid);
    return tid;
  };
}

/** Renumbers a sample's rows, histograms and events by `view` in place, leaving out the threads it maps to undefined. */
export function selectThreads(sample: CollectedSample, view: (kernelTid: number) => number | undefined): CollectedSample {
  for (const table of sample.tables.values()) table.mapTids(view);
  if (sample.histograms) {
    sample.histograms = sample.histograms.flatMap((h) => {
      const tid = view(h.tid);
      return tid === undefined ? [] : [{ ...h, tid }];
    });
  }
  if (sample.exited) {
    const exited = new Map<number, string>();
    for (const [kernelTid, name] of sample.exited) {
      const tid = view(kernelTid);
      if (tid !== undefined) exited.set(tid, name);
    }
    sample.exited = exited;
  }
  if (sample.events) {
    sample.events = sample.events.flatMap((event) => {
      const tid = view(event.tid);
      return tid === undefined ? [] : [{ ...event, tid }];
    });
  }
  return sample;
}

/**
 * The thread selection step of every sample (above)
 * with its facts: the user's thread numbers, and with --thread-name the
 * threads' names. look() reads every name now, so that threads exiting
 * before the report keep theirs; called before each window and as it closes.
 */
export function threadSelector(options: Pick<KdelayOptions, 'tid' | 'threadName'>, target: Target, namespaces: PidNamespaces) {
  const selection: ThreadSelection = { kernelTid: target.kernelTid, name: options.threadName };
  const names = selection.name ? new ThreadNames(target.pid, namespaces.userProc) : undefined;
  const factsOf = (sample: CollectedSample) => ({
    userTid: (kernelTid: number) => namespaces.userTid(target.kernelTgid, kernelTid),
    // A thread that started and exited between two looks: the name the kernel saw it exit with.
    name: (tid: number) => names?.name(tid) ?? sample.exited?.get(tid),
  });
  return {
    look: () => names?.look(),
    select: (sample: CollectedSample) => (selectsAll(selection) && !namespaces.translates ? sample : selectThreads(sample, threadView(selection, factsOf(sample)))),
    /** A kernel thread id as the report numbers it, or undefined when the selection leaves the thread out (catch mode's catches). */
    reportedTid: (kernelTid: number) => threadView(selection, factsOf({ tables: new Map(), warnings: [] }))(kernelTid),
    /** A note when no thread now passes --thread-name (and -t): all rows would be left out until one does. */
    note(): string | undefined {
      const live = names?.look();
      const pattern = selection.name;
      if (!live || !pattern) return undefined;
      if (options.tid !== undefined) {
        const name = live.get(options.tid);
        return name === undefined || pattern.test(name)
          ? undefined
          : `--thread-name /${pattern.source}/ does not match the name of thread ${options.tid} (${printable(name)}): nothing is reported unless it is renamed`;
      }
      if ([...live.values()].some((name) => pattern.test(name))) return undefined;
      const shown = [...new Set([...live.values()].map(printable))];
      return `--thread-name /${pattern.source}/ matches no thread of process ${target.pid} yet (names now: ${shown.slice(0, 12).join(', ')}${shown.length > 12 ? ', ...' : ''}); threads that take such a name later are reported`;
    },
  };
}
