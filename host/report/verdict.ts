/**
 * The answer to "is my process slow, or is the kernel delaying it?", per
 * thread, from the rows of the probe that provides "accounting"
 * (probes/account: sections account, delayers, histogram). Pure: tables in,
 * accounts, lines and records out.
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
import { withThousands } from './integers.js';
import type { SampleTables, SectionTable } from '../model/section-table.js';

export const NOTEWORTHY_SHARE = 0.01;
export const NOTEWORTHY_MIN_NS = 1_000_000;
/** An account is complete when its states add up to the thread's time in the window within this share plus COMPLETE_MIN_NS. */
export const COMPLETE_SHARE = 0.01;
export const COMPLETE_MIN_NS = 1_000_000;
/** Incomplete accounts named one by one, up to this many. */
export const TOP_INCOMPLETE = 5;
/** Delayers named per thread. */
export const TOP_DELAYERS = 3;
/** probes/account/account.bpf.c: enum account_syscall_nr. */
const NO_SYSCALL = 0xffffffff;
const UNKNOWN_SYSCALL = 0xfffffffe;
/** probes/account/account.bpf.c: ACCOUNT_HIST_SLOTS (slot s: [2^s, 2^(s+1)) ns; slot 0 also holds 0). */
export const HIST_SLOTS = 40;

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
 * Every thread's account of the window, from the sample's tables; undefined
 * when no accounting probe ran. syscallName: the target ABI's name for nr.
 */
export function accountThreads(tables: SampleTables, windowNs: number, threadName: (tid: number) => string, syscallName: (nr: number) => string): ThreadAccount[] | undefined {
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
  const callOf = (nr: number) => (nr === UNKNOWN_SYSCALL ? { syscall: undefined, nr: undefined } : { syscall: syscallName(nr), nr });
  forEachRow(account, (tid, state, v) => {
    const [nr, count, ns] = [v(0), v(1), v(2)];
    const t = of(tid);
    const add = (c: CountedTime) => {
      c.count += count;
      c.ns += ns;
    };
    switch (state) {
      case 'user':
        return add(t.user);
      case 'hardirq':
        return add(t.hardirq);
      case 'softirq':
        return add(t.softirq);
      case 'runnable':
        return add(t.runnable);
      case 'stopped':
        return add(t.stopped);
      case 'unknown':
        return add(t.unknown);
      case 'born':
        t.beforeBirthNs += ns;
        return;
      case 'exited':
        t.exited = true;
        t.afterExitNs += ns;
        return;
      case 'syscall': {
        // On a CPU "in" no nameable system call: not known (the probe reports none such; never print a number that is not a call).
        if (nr >= UNKNOWN_SYSCALL) return add(t.unknown);
        const call = callOf(nr);
        return addTo(t.syscalls, call.syscall, call.nr, count, ns);
      }
      case 'blocked': {
        if (nr === NO_SYSCALL) return add(t.pageFault);
        const call = callOf(nr);
        return addTo(t.blocked, call.syscall, call.nr, count, ns);
      }
    }
  });
  forEachRow(tables.get('delayers'), (tid, comm, v) => {
    of(tid).delayers.push({ pid: v(0), comm: comm ?? '', count: v(1), ns: v(2) });
  });
  forEachRow(tables.get('histogram'), (tid, kind, v) => {
    const [nr, slot, count] = [v(0), v(1), v(2)];
    const t = of(tid);
    if (slot < 0 || slot >= HIST_SLOTS) return;
    if (kind === 'run_queue') {
      (t.runQueueHist ??= new Array<number>(HIST_SLOTS).fill(0))[slot] += count;
      return;
    }
    let hist = (t.syscallHists ??= []).find((h) => h.nr === nr);
    if (!hist) t.syscallHists.push((hist = { syscall: syscallName(nr), nr, slots: new Array<number>(HIST_SLOTS).fill(0) }));
    hist.slots[slot] += count;
  });
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

/** The upper bound of the bucket holding the p-th quantile (0 < p <= 1), or undefined for no samples. */
export function percentileNs(slots: readonly number[], p: number): number | undefined {
  const total = slots.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const rank = Math.ceil(p * total);
  let seen = 0;
  for (let s = 0; s < slots.length; s++) {
    seen += slots[s];
    if (seen >= rank) return 2 ** (s + 1);
  }
  return 2 ** slots.length;
}

/** 1234567 -> "1.2 ms": durations in the verdict, three significant digits at most. */
export function humanNs(ns: number): string {
  const units: [number, string][] = [
    [1e9, 's'],
    [1e6, 'ms'],
    [1e3, 'us'],
  ];
  for (const [size, unit] of units) {
    if (ns >= size) {
      const v = ns / size;
      return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${unit}`;
    }
  }
  return `${Math.round(ns)} ns`;
}

const percent = (ns: number, windowNs: number) => `${windowNs > 0 ? ((100 * ns) / windowNs).toFixed(1) : '0.0'}%`;
/** Shown at all: what rounds to at least 0.1% of the window. */
const visible = (ns: number, windowNs: number) => windowNs > 0 && ns / windowNs >= 0.0005;

/**
 * A delayer as the verdict names it. PID 0 is the CPU's idle task: a thread
 * woken onto an idle CPU still waits while that CPU leaves its idle state.
 */
export function delayerName(d: Delayer): string {
  return d.pid === 0 ? 'the idle CPU waking up' : `${d.comm} [${d.pid}]`;
}

/** "waiting for CPU 24.0% (812 waits, p50 < 16 us, p99 < 2.1 ms; behind: handler4 [1235] 95%)" */
function waitingPart(t: ThreadAccount): string {
  const details = [`${t.runnable.count} waits`];
  if (t.runQueueHist) {
    const p50 = percentileNs(t.runQueueHist, 0.5);
    const p99 = percentileNs(t.runQueueHist, 0.99);
    if (p50 !== undefined && p99 !== undefined) details.push(`p50 < ${humanNs(p50)}`, `p99 < ${humanNs(p99)}`);
  }
  const delayed = t.delayers.reduce((s, d) => s + d.ns, 0);
  const behind = t.delayers
    .slice(0, TOP_DELAYERS)
    .filter((d) => delayed > 0 && d.ns / delayed >= 0.01)
    .map((d) => `${delayerName(d)} ${((100 * d.ns) / delayed).toFixed(0)}%`);
  return `waiting for CPU ${percent(t.runnable.ns, t.aliveNs)} (${details.join(', ')}${behind.length ? `; behind: ${behind.join(', ')}` : ''})`;
}

/** One thread's verdict line (without indentation). */
export function verdictLine(t: ThreadAccount): string {
  const w = t.aliveNs;
  const life = [t.beforeBirthNs > 0 ? `started ${humanNs(t.beforeBirthNs)}` : '', t.exited ? `exited ${humanNs(t.windowNs - t.afterExitNs)}` : ''].filter(Boolean);
  const who = `${t.name} [${t.tid}]${life.length ? ` (${life.join(', ')} into the window)` : ''}`;
  if (!t.complete) {
    return `${who}  account incomplete: ${humanNs(Math.abs(t.unaccountedNs))} of its ${humanNs(w)} ${t.unaccountedNs > 0 ? 'not seen' : 'counted twice'} (kdelay lost some of its events); no verdict`;
  }
  const kernel: string[] = [];
  if (visible(t.runnable.ns, w)) kernel.push(waitingPart(t));
  if (visible(t.hardirq.ns, w)) kernel.push(`hard IRQ ${percent(t.hardirq.ns, w)}`);
  if (visible(t.softirq.ns, w)) kernel.push(`soft IRQ ${percent(t.softirq.ns, w)}`);
  if (visible(t.pageFault.ns, w)) kernel.push(`page faults ${percent(t.pageFault.ns, w)} (${t.pageFault.count} sleeps)`);
  if (visible(t.stopped.ns, w)) kernel.push(`stopped ${percent(t.stopped.ns, w)}`);
  const own: string[] = [];
  for (const b of t.blocked.filter((b) => visible(b.ns, w)).slice(0, 3))
    own.push(`${b.syscall ? `blocked in ${b.syscall}` : 'blocked since before kdelay started'} ${percent(b.ns, w)}`);
  const inSyscalls = t.syscalls.reduce((s, c) => s + c.ns, 0);
  const onCpu = t.user.ns + inSyscalls;
  if (visible(onCpu, w)) {
    const top = t.syscalls[0];
    const split = visible(inSyscalls, w)
      ? ` (user ${percent(t.user.ns, w)}, in syscalls ${percent(inSyscalls, w)}${top?.syscall && visible(top.ns, w) ? `, most in ${top.syscall}` : ''})`
      : '';
    own.push(`on CPU ${percent(onCpu, w)}${split}`);
  }
  const head = `${who}  kernel delay ${percent(t.kernelDelayNs, w)} of ${humanNs(w)}`;
  const unknown = visible(t.unknown.ns, w) ? `; not known ${percent(t.unknown.ns, w)}` : '';
  return `${head}${kernel.length ? `: ${kernel.join(', ')}` : ''}${own.length ? `; its own choice: ${own.join(', ')}` : ''}${unknown}`;
}

/** The verdict block printed after a sample's tables. */
export function verdictLines(accounts: readonly ThreadAccount[], windowNs: number): string[] {
  const lines = ['', `# VERDICT: kernel delay = waiting for a CPU + IRQs + page faults + stopped, per thread, of the ${humanNs(windowNs)} window:`];
  const noteworthy = accounts.filter(matters);
  const incomplete = accounts.filter((t) => !t.complete);
  for (const t of noteworthy) lines.push(`  ${verdictLine(t)}`);
  // Each incomplete account by name while they are few; a count when many (thread churn filling the maps).
  if (incomplete.length > 0 && incomplete.length <= TOP_INCOMPLETE) for (const t of incomplete) lines.push(`  ${verdictLine(t)}`);
  else if (incomplete.length > 0) lines.push(`  ${incomplete.length} threads: account incomplete (kdelay lost some of their events: see the warnings); no verdict for them`);
  const rest = accounts.length - noteworthy.length - incomplete.length;
  if (noteworthy.length === 0) lines.push(`  No thread was delayed by the kernel for ${NOTEWORTHY_SHARE * 100}% of the window or more: if it is slow, it is slow on its own.`);
  if (rest > 0) lines.push(`  ${rest} other thread${rest === 1 ? '' : 's'}: kernel delay under ${NOTEWORTHY_SHARE * 100}% (or ${humanNs(NOTEWORTHY_MIN_NS)}) each`);
  return lines;
}

/** The counts of a histogram as `runqlat` prints them (log2 buckets; empty ones at either end left out). */
export function histogramLines(unit: string, slots: readonly number[]): string[] {
  const first = slots.findIndex((count) => count > 0);
  let last = -1;
  slots.forEach((count, s) => count > 0 && (last = s));
  if (last < 0) return [];
  const max = Math.max(...slots);
  const WIDTH = 40;
  const lines = [`${' '.repeat(5)}${unit.padEnd(19)} : count     distribution`];
  // Unlike runqlat, empty buckets below the first used one are left out: in ns there are ten or more.
  for (let s = first; s <= last; s++) {
    const low = s === 0 ? 0 : 2 ** s;
    const high = 2 ** (s + 1) - 1;
    const stars = Math.round((slots[s] * WIDTH) / max);
    lines.push(`${String(low).padStart(10)} -> ${String(high).padEnd(10)} : ${String(slots[s]).padEnd(8)} |${'*'.repeat(stars).padEnd(WIDTH)}|`);
  }
  return lines;
}

/** --hist: each thread's histograms, after the verdict. */
export function histogramBlock(accounts: readonly ThreadAccount[]): string[] {
  const lines: string[] = [];
  for (const t of [...accounts].sort((a, b) => a.tid - b.tid)) {
    const hists: [string, number[]][] = [];
    if (t.runQueueHist) hists.push(['run-queue wait', t.runQueueHist]);
    for (const h of [...(t.syscallHists ?? [])].sort((a, b) => a.nr - b.nr)) hists.push([`${h.syscall} (${h.nr})`, h.slots]);
    if (hists.length === 0) continue;
    lines.push('', `# HISTOGRAMS of ${t.name} [${t.tid}]:`);
    for (const [title, slots] of hists) {
      const total = slots.reduce((a, b) => a + b, 0);
      lines.push('', `  ${title}, ${withThousands(BigInt(total))} in all:`, ...histogramLines('nsecs', slots).map((l) => `  ${l}`));
    }
  }
  return lines;
}

/** The JSON form of a bucket list: only non-empty buckets, with their bounds. */
export function histogramBuckets(slots: readonly number[]): { low_ns: number; high_ns: number; count: number }[] {
  return slots.flatMap((count, s) => (count > 0 ? [{ low_ns: s === 0 ? 0 : 2 ** s, high_ns: 2 ** (s + 1) - 1, count }] : []));
}

/** The "verdict" JSON record's data for one thread. */
export function verdictData(t: ThreadAccount): Record<string, unknown> {
  const counted = (c: CountedTime) => ({ count: c.count, ns: c.ns });
  const calls = (list: SyscallTime[]) => list.map((c) => ({ syscall: c.syscall ?? null, nr: c.nr ?? null, count: c.count, ns: c.ns }));
  return {
    tid: t.tid,
    name: t.name,
    window_ns: t.windowNs,
    alive_ns: t.aliveNs,
    started_in_window: t.beforeBirthNs > 0,
    exited: t.exited,
    complete: t.complete,
    kernel_delay_ns: t.kernelDelayNs,
    noteworthy: matters(t),
    states: {
      user: counted(t.user),
      syscalls: calls(t.syscalls),
      hardirq: counted(t.hardirq),
      softirq: counted(t.softirq),
      runnable: counted(t.runnable),
      blocked: calls(t.blocked),
      page_fault: counted(t.pageFault),
      stopped: counted(t.stopped),
      unknown: counted(t.unknown),
    },
    unaccounted_ns: t.unaccountedNs,
    delayers: t.delayers.map((d) => ({ pid: d.pid, comm: d.comm, count: d.count, ns: d.ns })),
    run_queue_p50_ns: t.runQueueHist ? (percentileNs(t.runQueueHist, 0.5) ?? null) : null,
    run_queue_p99_ns: t.runQueueHist ? (percentileNs(t.runQueueHist, 0.99) ?? null) : null,
    text: verdictLine(t),
  };
}
