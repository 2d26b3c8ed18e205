/**
 * The account probe and the verdict on the real kernel: a workload whose
 * threads' whereabouts are known (two spinners sharing one CPU, a sleeper, a
 * thread taking major page faults, all SIGSTOPped for a known time), checked
 * against the kernel's own accounting (/proc/PID/task/TID/schedstat,
 * getrusage) and the workload's known sleeps.
 */
import { closeSync, fsyncSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { requireBpf, skipWithoutBpf } from '../helpers/bpf.js';
import { startKdelay } from '../helpers/kdelay.js';
import { validNdjson } from '../helpers/json-schema.js';
import { type SchedStat, schedstatsByName, stealNs } from '../helpers/schedstat.js';
import { type RunningWorkload, startWorkload } from '../helpers/workloads.js';

const MS = 1_000_000;
const BUDGET_MS = 300;
const SLEEPS = 10;
// 24 ms: its log2 bucket [16.8, 33.6) ms leaves 9.6 ms for the wake-up (the sleeper shares CPU 1; one 30 ms sleep returned after 33.6 ms in a CI run)
const SLEEP_MS = 24;
const PAGES = 4096;

let workload: RunningWorkload | undefined;
let scratch: string | undefined;
afterEach(async () => {
  await workload?.stop();
  workload = undefined;
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  scratch = undefined;
});

interface Counted {
  count: number;
  ns: number;
}
interface Calls {
  syscall: string | null;
  nr: number | null;
  count: number;
  ns: number;
}
interface Verdict {
  sample: number;
  tid: number;
  name: string;
  window_ns: number;
  alive_ns: number;
  started_in_window: boolean;
  exited: boolean;
  complete: boolean;
  kernel_delay_ns: number;
  noteworthy: boolean;
  states: { user: Counted; syscalls: Calls[]; hardirq: Counted; softirq: Counted; runnable: Counted; blocked: Calls[]; page_fault: Counted; stopped: Counted; unknown: Counted };
  unaccounted_ns: number;
  delayers: { pid: number; comm: string; count: number; ns: number }[];
  text: string;
}

/** A file of `pages` pages on disk (not tmpfs: its pages must need I/O once dropped), written and synced. */
function scratchFile(pages: number): string {
  scratch = mkdtempSync(join(process.cwd(), '.account-test-'));
  const path = join(scratch, 'pages');
  const fd = openSync(path, 'w');
  const page = Buffer.alloc(4096, 0x5a);
  for (let i = 0; i < pages; i++) writeSync(fd, page);
  fsyncSync(fd);
  closeSync(fd);
  return path;
}

/** Resolves once every thread of pid is stopped ('T'). */
async function allThreadsStopped(pid: number): Promise<void> {
  const state = (tid: string) => readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
  while (!readdirSync(`/proc/${pid}/task`).every((tid) => state(tid) === 'T')) await new Promise((r) => setTimeout(r, 1));
}

const sum = (list: { ns: number }[]) => list.reduce((s, c) => s + c.ns, 0);
const onCpu = (v: Verdict) => v.states.user.ns + sum(v.states.syscalls) + v.states.hardirq.ns + v.states.softirq.ns;
const accounted = (v: Verdict) => onCpu(v) + v.states.runnable.ns + sum(v.states.blocked) + v.states.page_fault.ns + v.states.stopped.ns + v.states.unknown.ns;

/** The verdict's sum check: every thread's states add up to its time in the window within 1% + 1 ms, and it is complete. */
function expectAddsUp(v: Verdict) {
  const context = JSON.stringify(v);
  expect(v.complete, context).toBe(true);
  expect(Math.abs(v.alive_ns - accounted(v)), context).toBeLessThanOrEqual(0.01 * v.alive_ns + MS);
  expect(Math.abs(v.unaccounted_ns - (v.alive_ns - accounted(v))), context).toBeLessThan(1);
  if (!v.exited && !v.started_in_window) expect(v.alive_ns, context).toBe(v.window_ns);
  // A system call is named or not there: never "null", never a number that is no call (-1).
  for (const call of [...v.states.syscalls, ...v.states.blocked]) expect(call.syscall, context).not.toBeNull();
  expect(v.text, context).not.toMatch(/\[unknown: \d+\]/);
}

function expectWithin(actual: number, low: number, high: number, context: string, unknown = 0) {
  expect(actual + unknown, `${context}: ${actual} (+ ${unknown} not known) not in [${low}, ${high}]`).toBeGreaterThanOrEqual(low);
  expect(actual, `${context}: ${actual} not in [${low}, ${high}]`).toBeLessThanOrEqual(high);
}

// One retry, as sched.test.ts: on a VM the hypervisor steals slices schedstat's run time leaves out.
describe.skipIf(skipWithoutBpf)('window accounting and the verdict on the real kernel', { retry: 1 }, () => {
  it('four threads with known whereabouts: every state adds up to the window, matches the kernel and the known sleeps, and the verdict names each cause', async () => {
    requireBpf();
    const file = scratchFile(PAGES);
    workload = await startWorkload('account_workload', [file, BUDGET_MS, SLEEPS, SLEEP_MS, PAGES]);
    // kdelay on CPU 1: off the spinners' CPU, where it would be one more task they wait for.
    const kdelay = startKdelay(['-p', workload.pid, '--sample-time', 60, '--json', '--hist'], { cpu: 1 });
    await kdelay.waitForOutput(/"type":"window_open"/);
    const before = schedstatsByName(workload.pid);
    const steal = [stealNs(0), stealNs(1)];
    workload.kill('SIGUSR1');
    const done = (await workload.waitFor(/^done/)).split(' ');
    const [majflt, faulterElapsedNs, faulterCpuNs] = done.slice(2).map(Number);
    // All threads now wait on a barrier; stop the process for a known time.
    const stopAsked = performance.now();
    workload.kill('SIGSTOP');
    await allThreadsStopped(workload.pid);
    const allStopped = performance.now();
    await new Promise((r) => setTimeout(r, 200));
    const contAsked = performance.now();
    workload.kill('SIGCONT');
    await new Promise((r) => setTimeout(r, 20));
    const after = schedstatsByName(workload.pid);
    const stolenNs = stealNs(0) + stealNs(1) - steal[0] - steal[1] + 10 * MS;
    kdelay.child.kill('SIGINT');
    const result = await kdelay.done;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);

    const records = validNdjson(result.stdout);
    // A context switch the kernel's tracepoints did not show the probe (rare: a few in thousands) is
    // warned about and its time shown as not known, bounded below; nothing else may be warned about.
    const warnings = records.filter((r) => r.type === 'warning').map((r) => (r.data as { message: string }).message);
    expect(warnings.filter((w) => !/^\d+ context switches of the target were not seen: the time around them is in the verdict as not known$/.test(w))).toEqual([]);
    const verdicts = records.filter((r) => r.type === 'verdict').map((r) => r.data as unknown as Verdict);
    const sample = records.find((r) => r.type === 'sample')!.data as {
      window_ns: number;
      threads: { name: string; sections: Record<string, Record<string, number | string>[]> }[];
    };
    const histograms = records
      .filter((r) => r.type === 'histogram')
      .map((r) => r.data as { tid: number; kind: string; syscall: string | null; buckets: { low_ns: number; high_ns: number; count: number }[] });
    const windowNs = sample.window_ns;
    const of = (name: string) => verdicts.find((v) => v.name === name)!;
    const delta = (name: string): SchedStat => {
      const [a, b] = [after.get(name)!, before.get(name)!];
      return { runNs: a.runNs - b.runNs, waitNs: a.waitNs - b.waitNs, timeslices: a.timeslices - b.timeslices };
    };
    const ctx = (name: string) => `${name}: ${JSON.stringify(of(name))}\nschedstat ${JSON.stringify(delta(name))}, stolen <= ${stolenNs}`;
    const stopMinNs = (contAsked - allStopped) * MS;
    const stopMaxNs = (contAsked - stopAsked + 20) * MS;

    for (const name of ['spin-a', 'spin-b', 'sleeper', 'faulter']) {
      const v = of(name);
      expect(v, `no verdict for ${name}: ${result.stdout}`).toBeDefined();
      expect(v.window_ns).toBe(windowNs);
      // 1. Every nanosecond of the window in exactly one state: the remainder within 1% + 1 ms.
      expect(Math.abs(windowNs - accounted(v)), ctx(name)).toBeLessThanOrEqual(0.01 * windowNs + MS);
      expect(Math.abs(v.unaccounted_ns - (windowNs - accounted(v)))).toBeLessThan(1);
      expect(v.states.unknown.ns, ctx(name)).toBeLessThanOrEqual(0.02 * windowNs + 2 * MS);
      // 2. On a CPU or waiting for one, as long as the kernel counted (schedstat leaves stolen time out of run time).
      const kernel = delta(name);
      const cpuOrWaiting = onCpu(v) + v.states.runnable.ns;
      // Time kdelay could not place (around a context switch the tracepoints did not show) is left out of
      // every state: it may make up a lower bound, never exceed an upper one.
      const unknown = v.states.unknown.ns;
      expectWithin(
        cpuOrWaiting,
        (kernel.runNs + kernel.waitNs) * 0.99 - 2 * MS,
        (kernel.runNs + kernel.waitNs) * 1.01 + 2 * MS + stolenNs,
        `${name} on CPU + runnable vs schedstat run + wait; ${ctx(name)}`,
        unknown,
      );
      // The split: a thread woken on an idle CPU waits while the CPU leaves its idle state, which
      // schedstat counts as run time (its clock is not updated in between) and kdelay as waiting.
      // Where the waits are preemptions (the spinners), the two agree; see below.
      expect(onCpu(v), `${name} on CPU vs schedstat run; ${ctx(name)}`).toBeLessThanOrEqual(kernel.runNs * 1.01 + 2 * MS + stolenNs);
      expect(v.states.runnable.ns + unknown, `${name} runnable vs schedstat wait; ${ctx(name)}`).toBeGreaterThanOrEqual(kernel.waitNs * 0.99 - 2 * MS - stolenNs);
      // 3. Stopped exactly while SIGSTOP held the process.
      expectWithin(v.states.stopped.ns, stopMinNs, stopMaxNs, `${name} stopped; ${ctx(name)}`);
      expect(v.states.stopped.count, ctx(name)).toBe(1);
    }

    // The spinners: each had its budget on the CPU and waited for the other as long.
    for (const [name, other] of [
      ['spin-a', 'spin-b'],
      ['spin-b', 'spin-a'],
    ]) {
      const v = of(name);
      const kernel = delta(name);
      expectWithin(onCpu(v), kernel.runNs * 0.99 - 2 * MS, kernel.runNs * 1.01 + 2 * MS + stolenNs, `${name} on CPU vs schedstat run; ${ctx(name)}`, v.states.unknown.ns);
      expectWithin(
        v.states.runnable.ns,
        kernel.waitNs * 0.99 - 2 * MS - stolenNs,
        kernel.waitNs * 1.01 + 2 * MS,
        `${name} runnable vs schedstat wait; ${ctx(name)}`,
        v.states.unknown.ns,
      );
      expect(onCpu(v), ctx(name)).toBeGreaterThanOrEqual(0.99 * BUDGET_MS * MS);
      expect(v.states.runnable.ns, ctx(name)).toBeGreaterThan(0.5 * BUDGET_MS * MS);
      // Who delayed it: the other spinner, for at least 90% of the waiting that tasks of this
      // workload caused (kdelay itself and the test runner may share CPU 0 and delay it too:
      // their share is theirs, and is left out of the 90%).
      const ours = new Set(verdicts.map((x) => x.tid));
      const foreignNs = v.delayers.filter((d) => !ours.has(d.pid)).reduce((s, d) => s + d.ns, 0);
      const top = v.delayers.find((d) => ours.has(d.pid))!;
      expect(top.comm, ctx(name)).toBe(other);
      expect(top.pid).toBe(of(other).tid);
      expect(top.ns, ctx(name)).toBeGreaterThanOrEqual(0.9 * (v.states.runnable.ns - foreignNs));
      expect(v.noteworthy).toBe(true);
      expect(v.text, ctx(name)).toMatch(
        new RegExp(
          `^${name} \\[${v.tid}\\]  kernel delay [\\d.]+% of [\\d.]+ m?s: waiting for CPU [\\d.]+% \\(\\d+ waits, p50 < [^,]+, p99 < [^;]+; behind: (.*, )?${other} \\[${of(other).tid}\\] \\d+%`,
        ),
      );
    }
    // The kernel delayed the spinners most: they come first, and waiting for a CPU is their largest kernel delay.
    expect(
      verdicts
        .slice(0, 2)
        .map((v) => v.name)
        .sort(),
    ).toEqual(['spin-a', 'spin-b']);

    // The sleeper: its ten known sleeps, blocked in clock_nanosleep, its own choice.
    const sleeper = of('sleeper');
    const nanosleep = sleeper.states.blocked.find((b) => b.syscall === 'clock_nanosleep')!;
    expect(nanosleep, ctx('sleeper')).toBeDefined();
    expect(nanosleep.count).toBe(SLEEPS);
    expectWithin(nanosleep.ns, SLEEPS * SLEEP_MS * MS, SLEEPS * (SLEEP_MS + 2) * MS, `sleeper in clock_nanosleep; ${ctx('sleeper')}`);
    expect(sleeper.text).toMatch(/its own choice: .*blocked in clock_nanosleep [\d.]+%/);
    expect(sleeper.states.page_fault.ns).toBe(0);

    // The faulter: asleep outside system calls once per major fault, for the loop's time it was neither on a CPU nor waiting.
    const faulter = of('faulter');
    expect(majflt, 'the page cache still had the file: no major faults').toBeGreaterThanOrEqual(PAGES * 0.9);
    expectWithin(faulter.states.page_fault.count, majflt * 0.9, majflt * 1.1, `faulter sleeps vs majflt ${majflt}; ${ctx('faulter')}`);
    // Outside its barrier waits the faulter did nothing but its loop: on a CPU, waiting for one, or asleep in a fault.
    const loopNs = faulter.states.user.ns + faulter.states.runnable.ns + faulter.states.page_fault.ns;
    expectWithin(
      loopNs,
      faulterElapsedNs * 0.99 - 2 * MS,
      faulterElapsedNs * 1.01 + 2 * MS,
      `faulter's loop (${faulterElapsedNs} ns, ${faulterCpuNs} ns of CPU); ${ctx('faulter')}`,
      faulter.states.unknown.ns,
    );
    // Most of the loop's time off a CPU and not waiting for one is asleep in faults: the waiting is the kernel's (schedstat), which a loaded machine makes long.
    expect(faulter.states.page_fault.ns, ctx('faulter')).toBeGreaterThan(0.5 * (faulterElapsedNs - faulterCpuNs - delta('faulter').waitNs));
    expect(faulter.text).toMatch(/page faults [\d.]+% \(\d+ sleeps\)/);

    // Histograms: as many entries as the tables count, each where its duration says.
    const tid = (name: string) => of(name).tid;
    const total = (h: { buckets: { count: number }[] } | undefined) => h?.buckets.reduce((s, b) => s + b.count, 0) ?? 0;
    const thread = (name: string) => sample.threads.find((t) => t.name === name)!;
    for (const name of ['spin-a', 'spin-b', 'sleeper', 'faulter']) {
      const ready = thread(name).sections.ready?.[0];
      const hist = histograms.find((h) => h.tid === tid(name) && h.kind === 'run_queue');
      expect(total(hist), `${name} run-queue histogram vs READY ${JSON.stringify(ready)}`).toBe(Number(ready?.sched_cnt ?? 0));
      for (const row of thread(name).sections.syscalls ?? []) {
        const h = histograms.find((x) => x.tid === tid(name) && x.kind === 'syscall' && x.syscall === row.name);
        expect(total(h), `${name} ${row.name} histogram`).toBe(Number(row.count));
      }
    }
    const sleeps = histograms.find((h) => h.tid === tid('sleeper') && h.syscall === 'clock_nanosleep')!;
    // 24 ms (and its wake-up) is in [2^24, 2^25) ns = [16.8, 33.6) ms.
    expect(sleeps.buckets).toEqual([{ low_ns: 2 ** 24, high_ns: 2 ** 25 - 1, count: SLEEPS }]);
  });

  it('a thread asleep all through the window is blocked in its system call for all of it; --verdict-only prints only the verdict', async () => {
    requireBpf();
    workload = await startWorkload('account_workload', [scratchFile(1), 1, 1, 1, 1]);
    // Its threads block on barriers before kdelay attaches, and SIGUSR1 never comes: no hook fires for them.
    const json = await startKdelay(['-p', workload.pid, '--sample-time', 0.3, '--json', '--verdict']).done;
    expect(json.stderr).toBe('');
    const records = validNdjson(json.stdout);
    const windowNs = (records.find((r) => r.type === 'sample')!.data as { window_ns: number }).window_ns;
    const verdicts = records.filter((r) => r.type === 'verdict').map((r) => r.data as unknown as Verdict);
    expect(verdicts.map((v) => v.name).sort()).toEqual(['account_workloa', 'faulter', 'sleeper', 'spin-a', 'spin-b']);
    for (const v of verdicts.filter((v) => v.name !== 'account_workloa')) {
      expect(v.states.blocked, JSON.stringify(v)).toEqual([{ syscall: 'futex', nr: expect.any(Number), count: 0, ns: windowNs }]);
      expect(v.unaccounted_ns).toBe(0);
      expect(v.kernel_delay_ns).toBe(0);
    }

    const text = await startKdelay(['-p', workload.pid, '--sample-time', 0.3, '--verdict-only']).done;
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    expect(text.stdout).not.toMatch(/SYSCALL STATISTICS|THREAD RUN|\[/);
    expect(text.stdout).toMatch(/^# VERDICT: /m);
    expect(text.stdout).toMatch(/^ {2}No thread was delayed by the kernel for 1% of the window or more: if it is slow, it is slow on its own\.$/m);
    expect(text.stdout).toMatch(/^ {2}5 other threads: kernel delay under 1% \(or 1\.00 ms\) each$/m);
  });
});

// One retry, as above: a shared 2-CPU VM. Workloads: test/workloads/verdict_workload.c.
describe.skipIf(skipWithoutBpf)('the verdict for threads that spin, exit and churn', { retry: 1 }, () => {
  const verdictsOf = (stdout: string) =>
    validNdjson(stdout)
      .filter((r) => r.type === 'verdict')
      .map((r) => r.data as unknown as Verdict);

  // Three retries, not one: when the CPUs are contended as the window opens (a CI run, right after the
  // hardening suite), the probe now and then cannot place the spinner until its next event, and says
  // "not known" for those milliseconds (4-115 ms seen). Honest, but not what this test is about; the
  // contention case is an open question for the account probe (session 7's note).
  it('a thread spinning in user space since before kdelay attached is on a CPU in user space: no system call is guessed', { retry: 3 }, async () => {
    requireBpf();
    workload = await startWorkload('verdict_workload', ['spin']);
    // Spinning before kdelay attaches: the probe first sees it on a CPU (sched_stat_runtime or a switch), never at a syscall.
    await new Promise((r) => setTimeout(r, 100));
    const result = await startKdelay(['-p', workload.pid, '--sample-time', 0.5, '--json', '--verdict']).done;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const verdicts = verdictsOf(result.stdout);
    verdicts.forEach(expectAddsUp);
    const spinner = verdicts.find((v) => v.name === 'spinner')!;
    const context = JSON.stringify(spinner);
    const irq = spinner.states.hardirq.ns + spinner.states.softirq.ns;
    // It ran (even on a busy machine), in user space all that time.
    expect(onCpu(spinner), context).toBeGreaterThan(0.02 * spinner.window_ns);
    expect(spinner.states.syscalls, context).toEqual([]);
    expect(spinner.states.unknown.ns, context).toBe(0);
    expect(spinner.states.user.ns, context).toBe(onCpu(spinner) - irq);
    expect(spinner.text, context).toMatch(/its own choice: on CPU [\d.]+%$/);
    expect(result.stdout).not.toMatch(/in syscalls|"syscall":null/);
  });

  it('threads born and exiting inside the window: each account closes at the exit, says so, and adds up to its life', async () => {
    requireBpf();
    const SPIN_MS = 150;
    workload = await startWorkload('verdict_workload', ['exit', SPIN_MS]);
    const kdelay = startKdelay(['-p', workload.pid, '--sample-time', 1, '--json', '--verdict']);
    await kdelay.waitForOutput(/"type":"window_open"/);
    await new Promise((r) => setTimeout(r, 100));
    const woken = performance.now();
    workload.kill('SIGUSR1');
    const [leaverTid, newbornTid] = (await workload.waitFor(/^done/)).split(' ').slice(1).map(Number);
    const bothGone = performance.now();
    const result = await kdelay.done;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const verdicts = verdictsOf(result.stdout);
    verdicts.forEach(expectAddsUp);
    const leaver = verdicts.find((v) => v.tid === leaverTid)!;
    const newborn = verdicts.find((v) => v.tid === newbornTid)!;
    const ctx = (v: Verdict) => JSON.stringify(v);
    expect(leaver, result.stdout).toBeDefined();
    expect(newborn, result.stdout).toBeDefined();
    // The leaver lived from before the window until its exit; the newborn from SIGUSR1 to its exit.
    expect([leaver.started_in_window, leaver.exited], ctx(leaver)).toEqual([false, true]);
    expect([newborn.started_in_window, newborn.exited], ctx(newborn)).toEqual([true, true]);
    expect(leaver.alive_ns, ctx(leaver)).toBeLessThan(leaver.window_ns - 0.1 * leaver.window_ns);
    // Each spun SPIN_MS of wall time after SIGUSR1: on a CPU or waiting for one, then its exit.
    for (const v of [leaver, newborn]) {
      expectWithin(onCpu(v) + v.states.runnable.ns, SPIN_MS * MS * 0.99, (bothGone - woken + 5) * MS, `spin and wait; ${ctx(v)}`);
    }
    expectWithin(newborn.alive_ns, SPIN_MS * MS * 0.99, (bothGone - woken + 5) * MS, `newborn's life; ${ctx(newborn)}`);
    // Before SIGUSR1 the leaver was blocked in read(), for at least the 100 ms the test waited.
    expect(leaver.states.blocked.find((b) => b.syscall === 'read')?.ns ?? 0, ctx(leaver)).toBeGreaterThanOrEqual(100 * MS);
    expect(leaver.text).toMatch(new RegExp(`^<?[^ ]* \\[${leaverTid}\\] \\(exited [\\d.]+ m?s into the window\\)  kernel delay [\\d.]+% of [\\d.]+ ms`));
    expect(newborn.text).toMatch(new RegExp(`\\[${newbornTid}\\] \\(started [\\d.]+ m?s, exited [\\d.]+ m?s into the window\\)`));
  });

  it("thousands of short-lived threads a window: no measurement is dropped and every account adds up to its thread's life", async () => {
    requireBpf();
    const PER_SECOND = 1500;
    workload = await startWorkload('verdict_workload', ['churn', PER_SECOND]);
    workload.kill('SIGUSR1');
    await new Promise((r) => setTimeout(r, 200));
    const result = await startKdelay(['-p', workload.pid, '--sample-time', 2, '--sample-count', 2, '--json', '--verdict', '--only', 'account']).done;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const records = validNdjson(result.stdout);
    const warnings = records.filter((r) => r.type === 'warning').map((r) => (r.data as { message: string }).message);
    expect(warnings.filter((w) => /map was full/.test(w))).toEqual([]);
    const verdicts = records.filter((r) => r.type === 'verdict').map((r) => r.data as unknown as Verdict);
    for (const sample of [1, 2]) {
      const these = verdicts.filter((v) => v.sample === sample);
      // At least 1,500 threads lived and exited in each 2 s window (half the rate: a busy 2-CPU machine),
      // more than the 16,384 rows of the (thread, state, syscall) map held before it was sized for the target.
      expect(these.filter((v) => v.exited).length).toBeGreaterThanOrEqual(1500);
      these.forEach(expectAddsUp);
    }
  });
});
