/**
 * The sched probe on the real kernel: THREAD RUN / PARTIAL RUN / READY /
 * STOPPED against workloads whose scheduling is known, cross-checked with the
 * kernel's own accounting in /proc/PID/task/TID/schedstat.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireBpf, skipWithoutBpf } from '../helpers/bpf.js';
import { startKdelay } from '../helpers/kdelay.js';
import { type ParsedThread, parseReport } from '../helpers/report.js';
import { type SchedStat, schedstatsByName, stealNs } from '../helpers/schedstat.js';
import { type RunningWorkload, startWorkload } from '../helpers/workloads.js';

const MS = 1_000_000;

let workload: RunningWorkload | undefined;
afterEach(async () => {
  await workload?.stop();
  workload = undefined;
});

/** First row of a one-row section as numbers, or undefined. */
function numbers(thread: ParsedThread | undefined, title: string): number[] | undefined {
  return thread?.sections.get(title)?.rows[0]?.map(Number);
}

/** RUN plus PARTIAL RUN total: all the time on the CPU inside the window. */
function onCpuNs(thread: ParsedThread | undefined): number {
  return (numbers(thread, 'THREAD RUN STATISTICS')?.[1] ?? 0) + (numbers(thread, 'THREAD PARTIAL RUN STATISTICS')?.[1] ?? 0);
}

/**
 * Runs a sched_workload mode inside one window: kdelay opens it, schedstat
 * is read, the workload goes; when it is done schedstat is read again and
 * SIGINT closes the window. `between` runs after "done", still inside.
 */
async function measure(args: (string | number)[], between?: (w: RunningWorkload) => Promise<void>) {
  workload = await startWorkload('sched_workload', args);
  const kdelay = startKdelay(['-p', workload.pid, '--sample-time', 60, ...kdelayArgs]);
  await kdelay.waitForOutput(/^# Start sampling/m);
  const before = schedstatsByName(workload.pid);
  const stealBefore = stealNs(0);
  workload.child.kill('SIGUSR1');
  const done = await workload.waitFor(/^done/);
  await between?.(workload);
  const after = schedstatsByName(workload.pid);
  // The workloads run on CPU 0; one extra tick covers the partial ones at both ends.
  const stolenNs = stealNs(0) - stealBefore + 10 * MS;
  kdelay.child.kill('SIGINT');
  const result = await kdelay.done;
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const delta = (name: string): SchedStat => {
    const a = after.get(name)!;
    const b = before.get(name)!;
    return { runNs: a.runNs - b.runNs, waitNs: a.waitNs - b.waitNs, timeslices: a.timeslices - b.timeslices };
  };
  const threads = parseReport(result.stdout);
  return { done, delta, stolenNs, thread: (name: string) => threads.find((t) => t.name === name), stdout: result.stdout };
}

/** Resolves once every thread of pid is in the stopped state ('T' in /proc/PID/task/TID/stat). */
async function allThreadsStopped(pid: number): Promise<void> {
  const state = (tid: string) => readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
  while (!readdirSync(`/proc/${pid}/task`).every((tid) => state(tid) === 'T')) await new Promise((r) => setTimeout(r, 1));
}

/** |a - b| within max(absolute, relative * b). */
function expectClose(actual: number, expected: number, relative: number, absolute: number, context: string) {
  expect(Math.abs(actual - expected), `${context}: ${actual} vs ${expected}`).toBeLessThanOrEqual(Math.max(absolute, relative * expected));
}

// One retry: these compare kdelay's stretches with schedstat to within 1% + 2 ms, and on a
// VM the hypervisor's steal (and IRQ time) that schedstat leaves out is only visible in
// 10 ms ticks; CI once saw 31 ms more on-CPU time than schedstat with no steal tick
// recorded. A real error in kdelay repeats; a stolen slice does not.
// Threads keep their state and statistics in an array slot when theirs is free, else in hash
// maps (sched.bpf.c); with one slot, one thread has it and the others take the hash path.
let kdelayArgs: string[] = [];
describe.skipIf(skipWithoutBpf).each([
  { path: 'slots', args: [] },
  { path: 'one slot, the rest in hash maps', args: ['--probe-option', 'sched.slots=1'] },
])('scheduler statistics on the real kernel ($path)', { retry: 1 }, ({ args }) => {
  beforeAll(() => {
    kdelayArgs = args;
  });
  it('two threads contending for one CPU: RUN and READY match schedstat, and READY is charged to the preempted thread', async () => {
    requireBpf();
    const BUDGET_MS = 300;
    const { thread, delta, stolenNs, stdout } = await measure(['contend', BUDGET_MS]);
    for (const name of ['spin-1', 'spin-2']) {
      const t = thread(name);
      const kernel = delta(name);
      const ctx = `${name}: schedstat ${JSON.stringify(kernel)}, stolen <= ${stolenNs}\n${stdout}`;
      const run = numbers(t, 'THREAD RUN STATISTICS')!;
      const ready = numbers(t, 'THREAD READY STATISTICS')!;
      expect(run, ctx).toBeDefined();
      expect(ready, ctx).toBeDefined();
      // Each spun until it had BUDGET_MS of CPU, all of it inside the window. (Stretches are
      // stamped at the sched_switch tracepoint, the kernel's runtime a little earlier, at the
      // pick: over ~200 stretches the two differ by a fraction of a millisecond either way.)
      expect(onCpuNs(t), ctx).toBeGreaterThanOrEqual(0.99 * BUDGET_MS * MS);
      // On the CPU or waiting for it, the whole time: kdelay and the kernel agree on the sum
      // (up to stolen time, which schedstat's run time leaves out and its wait time does not)...
      expectClose(onCpuNs(t) + ready[1], kernel.runNs + kernel.waitNs, 0.01, 2 * MS + stolenNs, `${name} RUN + READY vs schedstat run + wait; ${ctx}`);
      // ...and on the split, up to the time the hypervisor stole (not in the kernel's run time).
      expectClose(onCpuNs(t), kernel.runNs, 0.01, 2 * MS + stolenNs, `${name} on-CPU vs schedstat run; ${ctx}`);
      // The reference charged waits after preemption to the wrong thread, so READY was ~0 here.
      expect(ready[0], ctx).toBeGreaterThan(1);
      expect(ready[1], ctx).toBeGreaterThan(0.5 * run[1]);
    }
  });

  it('a thread running in slices of known length: RUN counts each slice and totals its CPU time', async () => {
    requireBpf();
    const BUDGET_MS = 200;
    const SLICE_MS = 10;
    const { thread, delta, done, stolenNs, stdout } = await measure(['slices', BUDGET_MS, SLICE_MS]);
    const slices = Number(done.split(' ')[2]);
    expect(slices).toBe(BUDGET_MS / SLICE_MS);
    const run = numbers(thread('slicer'), 'THREAD RUN STATISTICS')!;
    const readyNs = numbers(thread('slicer'), 'THREAD READY STATISTICS')?.[1] ?? 0;
    const ctx = stdout;
    // Every slice ends in a 2 ms sleep, so there are at least as many stretches as slices.
    expect(run[0], ctx).toBeGreaterThanOrEqual(slices);
    expectClose(onCpuNs(thread('slicer')), delta('slicer').runNs, 0.01, 2 * MS + stolenNs, `slicer on-CPU vs schedstat run\n${stdout}`);
    // Slices spin on the wall clock, so time on the CPU plus time preempted is the budget,
    // plus the waits to run again after each sleep. Those waits are as long as the rest of
    // the machine makes them: bound them by the kernel's own count of the thread's run-queue
    // wait, not by a guess, so a busy machine cannot fail the test.
    expect(run[1] + readyNs, ctx).toBeGreaterThanOrEqual(0.97 * BUDGET_MS * MS);
    expect(run[1] + readyNs, ctx).toBeLessThanOrEqual(1.5 * BUDGET_MS * MS + delta('slicer').waitNs);
    expect(run[3], ctx).toBeLessThanOrEqual(SLICE_MS * MS * 1.5);
  });

  it('SIGSTOP of the whole process: each thread shows one stop of at least the stopped time', async () => {
    requireBpf();
    const STOPPED_MS = 200;
    const { thread, stdout } = await measure(['park', 3], async (w) => {
      w.child.kill('SIGSTOP');
      // A stop begins when each thread has handled the signal, not when it was sent.
      await allThreadsStopped(w.pid);
      // At least STOPPED_MS of real time: a timer counts from libuv's cached loop time, which
      // can lag the moment it is set, so one setTimeout may end a fraction of a ms early.
      const stoppedAt = performance.now();
      for (let left = STOPPED_MS; left > 0; left = STOPPED_MS - (performance.now() - stoppedAt)) {
        await new Promise((r) => setTimeout(r, Math.ceil(left)));
      }
      w.child.kill('SIGCONT');
      await new Promise((r) => setTimeout(r, 50));
    });
    for (const name of ['parked-1', 'parked-2', 'parked-3', 'sched_workload']) {
      const stopped = numbers(thread(name), 'THREAD STOPPED STATISTICS');
      expect(stopped, `${name}\n${stdout}`).toBeDefined();
      expect(stopped![0], name).toBe(1);
      expect(stopped![1], name).toBeGreaterThanOrEqual(STOPPED_MS * MS);
      expect(stopped![2], name).toBe(stopped![1]);
    }
  });

  it('a thread on the CPU for the whole window shows up as one partial run the length of the window', async () => {
    requireBpf();
    // A lone spinner on CPU 0 is what a PMD thread looks like; kdelay runs on CPU 1 so as not to preempt it.
    workload = await startWorkload('sched_workload', ['slices', 5000, 5000]);
    workload.child.kill('SIGUSR1');
    await new Promise((r) => setTimeout(r, 100)); // let it get going before the window opens
    const result = await startKdelay(['-p', workload.pid, '--sample-time', 0.5, '--json', ...kdelayArgs], { cpu: 1 }).done;
    // The first line says the window opened (window_open); the sample follows.
    const sample = result.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .find((r) => r.type === 'sample').data;
    const slicer = sample.threads.find((t: { name: string }) => t.name === 'slicer').sections;
    const total = (section: string) => slicer[section]?.[0]?.total_ns ?? 0;
    const ctx = JSON.stringify(sample);
    // The reference shows nothing for such a thread; the stretches across the edges are kdelay's.
    expect(slicer.partial_run, ctx).toBeDefined();
    // Always on the CPU or waiting for it: the whole window, never more (waits across an edge are not counted).
    const accounted = total('run') + total('partial_run') + total('ready');
    expect(accounted, ctx).toBeLessThanOrEqual(sample.window_ns);
    expect(accounted, ctx).toBeGreaterThan(0.95 * sample.window_ns);
  });
});

describe.skipIf(skipWithoutBpf)('sched_stat_runtime, attached only while the probe warms up', () => {
  it('a thread on the CPU since before kdelay attached is one partial run the length of every window, also after the hook is gone', async () => {
    requireBpf();
    workload = await startWorkload('sched_workload', ['slices', 5000, 5000]);
    workload.child.kill('SIGUSR1');
    await new Promise((r) => setTimeout(r, 100)); // on the CPU before kdelay attaches
    // Detached 50 ms after attaching (a tick comes every 1-10 ms): the second and third windows open after that.
    const args = ['-p', workload.pid, '--sample-time', 0.3, '--sample-count', 3, '--json', '--probe-option', 'sched.runtime_warmup_ms=50'];
    const result = await startKdelay(args, { cpu: 1 }).done;
    const all = samples(result.stdout);
    expect(all).toHaveLength(3);
    for (const sample of all) {
      const ctx = JSON.stringify(sample);
      const slicer = sample.threads.find((t: { name: string }) => t.name === 'slicer')?.sections;
      expect(slicer, ctx).toBeDefined();
      const total = (section: string) => slicer[section]?.[0]?.total_ns ?? 0;
      expect(total('run') + total('partial_run') + total('ready'), ctx).toBeLessThanOrEqual(sample.window_ns);
      expect(total('run') + total('partial_run') + total('ready'), ctx).toBeGreaterThan(0.95 * sample.window_ns);
    }
  });
});

/** Every sample record of an NDJSON report. */
function samples(stdout: string) {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((r) => r.type === 'sample')
    .map((r) => r.data);
}

describe.skipIf(skipWithoutBpf).each([
  { path: 'slots', args: [] },
  { path: 'one slot, the rest in hash maps', args: ['--probe-option', 'sched.slots=1'] },
])('a thread that exits inside the window ($path)', ({ args }) => {
  // /proc forgets a thread when it exits; kdelay used to print <unknown:PID/TID> for it.
  for (const json of [false, true]) {
    it(`keeps the name it exited with and is marked exited (${json ? 'JSON' : 'text'})`, async () => {
      requireBpf();
      workload = await startWorkload('sched_workload', ['exit', 50]);
      const kdelay = startKdelay(['-p', workload.pid, '--sample-time', 60, ...(json ? ['--json'] : []), ...args]);
      await kdelay.waitForOutput(json ? /"window_open"/ : /^# Start sampling/m);
      workload.kill('SIGUSR1');
      const leaver = Number((await workload.waitFor(/^done leaver \d+$/)).split(' ')[2]);
      expect(readdirSync(`/proc/${workload.pid}/task`)).not.toContain(String(leaver)); // gone from /proc, its process alive
      kdelay.child.kill('SIGINT');
      const result = await kdelay.done;
      expect(result.code, result.stderr).toBe(0);
      if (json) {
        const [sample] = samples(result.stdout);
        const threads = sample.threads as { tid: number; name: string; exited: boolean }[];
        expect(
          threads.find((t) => t.tid === leaver),
          result.stdout,
        ).toMatchObject({ name: 'leaver', exited: true });
        // The threads still alive are not marked.
        expect(
          threads.find((t) => t.tid === workload!.pid),
          result.stdout,
        ).toMatchObject({ name: 'sched_workload', exited: false });
      } else {
        const threads = parseReport(result.stdout);
        expect(threads.find((t) => t.tid === leaver)?.name, result.stdout).toBe('leaver (exited)');
        // Its time on the CPU stays too: the leaver spins from before the window until it dies, so it
        // is a RUN if it was ever switched out inside the window, else one PARTIAL RUN; both end at its
        // last switch-out, which once forgot the stretch it ended.
        // (It spins 50 ms in the window; 10 ms leaves room for a loaded machine.)
        expect(onCpuNs(threads.find((t) => t.tid === leaver)), result.stdout).toBeGreaterThan(10_000_000);
        // A live thread keeps the reference's layout: the name padded to 16 columns, then the title.
        expect(result.stdout).toMatch(new RegExp(`^${String(workload.pid).padStart(10)} sched_workload   \\[`, 'm'));
      }
    });
  }
});

describe.skipIf(skipWithoutBpf)('many tiny windows', () => {
  // One sample in 2,000 of ~1 ms once showed a PARTIAL RUN of 18446744073709550000 ns: a
  // stretch seen ending just before the window's start, wrapped. Busy threads cross the
  // edges of nearly every window here; whatever the races at the edges, no section of a
  // thread can hold more time than the window.
  it('1,000 samples of --sample-time 0.001: every section of every thread fits its window', { timeout: 120_000 }, async () => {
    requireBpf();
    workload = await startWorkload('sched_workload', ['contend', 60_000]);
    workload.kill('SIGUSR1');
    const result = await startKdelay(['-p', workload.pid, '--sample-time', 0.001, '--sample-count', 1000, '--only', 'sched', '--json']).done;
    expect(result.code, result.stderr).toBe(0);
    const all = samples(result.stdout);
    expect(all).toHaveLength(1000);
    let partials = 0;
    for (const sample of all) {
      for (const thread of sample.threads as { name: string; sections: Record<string, { total_ns: number; max_ns?: number }[]> }[]) {
        for (const [section, rows] of Object.entries(thread.sections)) {
          for (const row of rows) {
            const ctx = `sample ${sample.sample}, ${thread.name} ${section}: ${JSON.stringify(row)}, window ${sample.window_ns} ns`;
            expect(Number(row.total_ns), ctx).toBeLessThanOrEqual(sample.window_ns);
            if (row.max_ns !== undefined) expect(Number(row.max_ns), ctx).toBeLessThanOrEqual(Number(row.total_ns));
          }
        }
        if (thread.sections.partial_run) partials++;
      }
    }
    expect(partials, 'windows with a stretch across an edge: the case under test').toBeGreaterThan(100);
  });
});
