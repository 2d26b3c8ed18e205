/**
 * Each thread's account of a window: where its time went, from what the
 * probe that provides "accounting" reported (probes/account: the rows of
 * its sections "account" and "delayers", and its histograms), in the
 * accounting contract's terms (bundle/accounting-contract.ts, generated from
 * probes/include/kdelay_records.bpf.h). Pure: rows in, accounts out; the
 * verdict (verdict.ts) and histograms (histograms.ts) are written from them.
 *
 * What counts as the kernel's doing (kernel delay) and what as the thread's
 * own choice:
 *   kernel delay  waiting for a CPU (runnable), hard and soft IRQ work that
 *                 ran on the thread's time, sleeping in a page fault (blocked
 *                 outside any system call: page-fault I/O, or another
 *                 exception), stopped (SIGSTOP, job control)
 *   its own       on a CPU in user space, on a CPU in a system call it made,
 *                 sleeping in a system call it made (futex, poll, read, ...)
 *   not known     a stretch kdelay could not place (first seen on a CPU
 *                 without readable registers, or after a missed context
 *                 switch): shown as such, never guessed
 * A thread's account covers the part of the window it lived (born or
 * exited inside it: the rest is reported apart). It is complete when its
 * states add up to that within COMPLETE_SHARE + COMPLETE_MIN_NS; an
 * incomplete one (kdelay lost some of its events: a full map) says so and
 * gets no verdict. A thread "matters" when its account is complete and its
 * kernel delay is at least NOTEWORTHY_SHARE of its time in the window and at
 * least NOTEWORTHY_MIN_NS; the others are summed up in one line. README "The
 * verdict" says the same for users.
 */
import { AccountHist, AccountLife, AccountState, AccountSyscallNr } from '../bundle/accounting-contract.js';
import type { ThreadHistogram } from '../model/sample.js';
import type { SampleTables, SectionTable } from '../model/section-table.js';

export const NOTEWORTHY_SHARE = 0.01;
export const NOTEWORTHY_MIN_NS = 1_000_000;
/** An account is complete when its states add up to the thread's time in the window within this share plus COMPLETE_MIN_NS. */
export const COMPLETE_SHARE = 0.01;
export const COMPLETE_MIN_NS = 1_000_000;
const { ACCOUNT_NO_SYSCALL, ACCOUNT_UNKNOWN_SYSCALL } = AccountSyscallNr;
/** Buckets of a histogram: slot s holds [2^s, 2^(s+1)) ns; slot 0 also holds 0. */
export const HIST_SLOTS = AccountHist.ACCOUNT_HIST_SLOTS;

/** What a sample (model/sample.ts: ReportSample) holds for the accounts: the sections' rows, and the histograms (--hist). */
export interface AccountingInput {
  tables: SampleTables;
  histograms?: readonly ThreadHistogram[];
}

export interface CountedTime {
  count: number;
  ns: number;
}

/** Time in one system call: on a CPU, or asleep in it. */
export interface SyscallTime extends CountedTime {
  /** Its name, or undefined for "entered before kdelay saw the thread". */
  syscall: string | undefined;
  nr: number | undefined;
}

export interface Delayer {
  pid: number;
  comm: string;
  /** Stretches of its run that overlapped the thread's waits. */
  count: number;
  ns: number;
}

export interface ThreadAccount {
  tid: number;
  name: string;
  /** The sample's window. */
  windowNs: number;
  /** The part of the window before the thread began (0 unless it was born inside it). */
  beforeBirthNs: number;
  /** The part of the window after it exited (0 unless it exited inside it). */
  afterExitNs: number;
  exited: boolean;
  /** windowNs - beforeBirthNs - afterExitNs: what its states account for. */
  aliveNs: number;
  user: CountedTime;
  /** On a CPU inside system calls, by call, largest first. */
  syscalls: SyscallTime[];
  hardirq: CountedTime;
  softirq: CountedTime;
  runnable: CountedTime;
  /** Asleep inside system calls, by call, largest first. */
  blocked: SyscallTime[];
  /** Asleep outside any system call: a page fault (or another exception). */
  pageFault: CountedTime;
  stopped: CountedTime;
  /** Not known whether on a CPU or off it, or in user space or a system call (never guessed). */
  unknown: CountedTime;
  /** aliveNs - everything attributed: what the clipping could not place (near 0 when complete). */
  unaccountedNs: number;
  /** unaccountedNs within COMPLETE_SHARE of aliveNs + COMPLETE_MIN_NS: else no verdict. */
  complete: boolean;
  kernelDelayNs: number;
  delayers: Delayer[];
  /** With --hist: log2 buckets of run-queue waits, and of each system call's duration. */
  runQueueHist?: number[];
  syscallHists?: { syscall: string; nr: number; slots: number[] }[];
}

const zero = (): CountedTime => ({ count: 0, ns: 0 });

function addTo(list: SyscallTime[], syscall: string | undefined, nr: number | undefined, count: number, ns: number): void {
  const found = list.find((s) => s.nr === nr);
  if (found) {
    found.count += count;
    found.ns += ns;
  } else {
    list.push({ syscall, nr, count, ns });
  }
}

function forEachRow(table: SectionTable | undefined, each: (tid: number, label: string | undefined, values: (i: number) => number) => void): void {
  if (!table) return;
  for (let row = 0; row < table.count; row++) each(table.tid(row), table.label(row), (i) => table.value(row, i));
}

/**
 * Every thread's account of the window, from the sample's rows and
 * histograms; undefined when no accounting probe ran. syscallName: the
 * target ABI's name for nr.
 */
export function accountThreads(
  { tables, histograms }: AccountingInput,
  windowNs: number,
  threadName: (tid: number) => string,
  syscallName: (nr: number) => string,
): ThreadAccount[] | undefined {
  const account = tables.get('account');
  if (!account) return undefined;
  const threads = new Map<number, ThreadAccount>();
  const of = (tid: number): ThreadAccount => {
    let t = threads.get(tid);
    if (!t) {
      t = {
        tid,
        name: threadName(tid),
        windowNs,
        beforeBirthNs: 0,
        afterExitNs: 0,
        exited: false,
        aliveNs: windowNs,
        user: zero(),
        syscalls: [],
        hardirq: zero(),
        softirq: zero(),
        runnable: zero(),
        blocked: [],
        pageFault: zero(),
        stopped: zero(),
        unknown: zero(),
        unaccountedNs: 0,
        complete: true,
        kernelDelayNs: 0,
        delayers: [],
      };
      threads.set(tid, t);
    }
    return t;
  };
  const callOf = (nr: number) => (nr === ACCOUNT_UNKNOWN_SYSCALL ? { syscall: undefined, nr: undefined } : { syscall: syscallName(nr), nr });
  // A row: (tid; state, nr, count, ns), state an enum account_state or account_life.
  forEachRow(account, (tid, _label, v) => {
    const [state, nr, count, ns] = [v(0), v(1), v(2), v(3)];
    const t = of(tid);
    const add = (c: CountedTime) => {
      c.count += count;
      c.ns += ns;
    };
    switch (state) {
      case AccountState.ACCOUNT_USER:
        return add(t.user);
      case AccountState.ACCOUNT_HARDIRQ:
        return add(t.hardirq);
      case AccountState.ACCOUNT_SOFTIRQ:
        return add(t.softirq);
      case AccountState.ACCOUNT_RUNNABLE:
        return add(t.runnable);
      case AccountState.ACCOUNT_STOPPED:
        return add(t.stopped);
      case AccountState.ACCOUNT_UNKNOWN:
        return add(t.unknown);
      case AccountLife.ACCOUNT_BEFORE_BIRTH:
        t.beforeBirthNs += ns;
        return;
      case AccountLife.ACCOUNT_AFTER_EXIT:
        t.exited = true;
        t.afterExitNs += ns;
        return;
      case AccountState.ACCOUNT_SYSCALL: {
        // On a CPU "in" no nameable system call: not known (the probe reports none such; never print a number that is not a call).
        if (nr >= ACCOUNT_UNKNOWN_SYSCALL) return add(t.unknown);
        const call = callOf(nr);
        return addTo(t.syscalls, call.syscall, call.nr, count, ns);
      }
      case AccountState.ACCOUNT_BLOCKED: {
        if (nr === ACCOUNT_NO_SYSCALL) return add(t.pageFault);
        const call = callOf(nr);
        return addTo(t.blocked, call.syscall, call.nr, count, ns);
      }
    }
  });
  forEachRow(tables.get('delayers'), (tid, comm, v) => {
    of(tid).delayers.push({ pid: v(0), comm: comm ?? '', count: v(1), ns: v(2) });
  });
  for (const h of histograms ?? []) {
    const slots = Array.from({ length: HIST_SLOTS }, (_, s) => (s < h.slots.length ? h.slots[s] : 0));
    if (slots.every((count) => count === 0)) continue;
    if (h.kind === AccountHist.ACCOUNT_HIST_RUN_QUEUE) {
      const t = of(h.tid);
      const into = (t.runQueueHist ??= new Array<number>(HIST_SLOTS).fill(0));
      slots.forEach((count, s) => (into[s] += count));
    } else if (h.kind === AccountHist.ACCOUNT_HIST_SYSCALL) {
      const t = of(h.tid);
      let hist = (t.syscallHists ??= []).find((x) => x.nr === h.nr);
      if (!hist) t.syscallHists.push((hist = { syscall: syscallName(h.nr), nr: h.nr, slots: new Array<number>(HIST_SLOTS).fill(0) }));
      slots.forEach((count, s) => (hist.slots[s] += count));
    }
  }
  for (const t of threads.values()) {
    const bySize = (a: CountedTime, b: CountedTime) => b.ns - a.ns;
    t.syscalls.sort(bySize);
    t.blocked.sort(bySize);
    t.delayers.sort(bySize);
    t.kernelDelayNs = t.runnable.ns + t.hardirq.ns + t.softirq.ns + t.pageFault.ns + t.stopped.ns;
    t.aliveNs = Math.max(0, windowNs - t.beforeBirthNs - t.afterExitNs);
    t.unaccountedNs = t.aliveNs - accountedNs(t);
    t.complete = Math.abs(t.unaccountedNs) <= COMPLETE_SHARE * t.aliveNs + COMPLETE_MIN_NS;
  }
  return [...threads.values()].sort((a, b) => b.kernelDelayNs - a.kernelDelayNs || a.tid - b.tid);
}

/** Everything attributed to a state. */
export function accountedNs(t: ThreadAccount): number {
  const sum = (list: CountedTime[]) => list.reduce((s, c) => s + c.ns, 0);
  return t.user.ns + sum(t.syscalls) + t.hardirq.ns + t.softirq.ns + t.runnable.ns + sum(t.blocked) + t.pageFault.ns + t.stopped.ns + t.unknown.ns;
}

export function matters(t: ThreadAccount): boolean {
  return t.complete && t.kernelDelayNs >= NOTEWORTHY_MIN_NS && t.kernelDelayNs >= NOTEWORTHY_SHARE * t.aliveNs;
}
