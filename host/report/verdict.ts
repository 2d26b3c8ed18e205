/**
 * The answer to "is my process slow, or is the kernel delaying it?", per
 * thread: the verdict written from each thread's account (accounts.ts says
 * what counts as the kernel's doing and what as the thread's own choice).
 * Pure: accounts in, lines and records out. README "The verdict" says the
 * same for users.
 */
import { type CountedTime, type Delayer, matters, NOTEWORTHY_MIN_NS, NOTEWORTHY_SHARE, type SyscallTime, type ThreadAccount } from './accounts.js';
import { percentileNs } from './histograms.js';

/** Incomplete accounts named one by one, up to this many. */
export const TOP_INCOMPLETE = 5;
/** Delayers named per thread. */
export const TOP_DELAYERS = 3;

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
