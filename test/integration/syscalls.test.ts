/**
 * The syscalls probe end to end on the real kernel: a workload whose
 * syscalls are known exactly, measured by the real CLI.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { requireBpf, skipWithoutBpf, waitUntilNoKdelayPrograms } from '../helpers/bpf.js';
import { sampleWorkload, startKdelay } from '../helpers/kdelay.js';
import { labelledRow, parseReport } from '../helpers/report.js';
import { type RunningWorkload, startWorkload } from '../helpers/workloads.js';

const THREADS = 3;
const GETPPIDS = 1000;
const NANOSLEEPS = 10;
const WRITES = 7;
const POLLS = 6;
const TEN_MS = 10_000_000;

let workload: RunningWorkload | undefined;
afterEach(async () => {
  await workload?.stop();
  workload = undefined;
});

/** Starts kdelay on the workload, lets it run once the window is open, ends the window with SIGINT. */
async function measure(polls: number, extraArgs: string[] = []) {
  workload = await startWorkload('syscall_workload', [THREADS, GETPPIDS, NANOSLEEPS, WRITES, polls]);
  const result = await sampleWorkload(workload, extraArgs);
  return { ...result, threads: parseReport(result.stdout) };
}

// Threads keep their entry stamp in an array slot when theirs is free, else in a hash map
// (syscalls.bpf.c); with one slot, one thread has it and the others take the hash path.
const STAMP_PATHS = [
  { path: 'slots', args: [] },
  { path: 'one slot, the rest in the hash map', args: ['--probe-option', 'syscalls.slots=1'] },
];

describe.skipIf(skipWithoutBpf)('syscall statistics on the real kernel', () => {
  it.each(STAMP_PATHS)('counts exactly the syscalls each worker made, with their durations ($path)', async ({ args }) => {
    requireBpf();
    const { code, stderr, threads, stdout } = await measure(0, args);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const workers = threads.filter((t) => t.name.startsWith('worker-'));
    expect(workers.map((w) => w.name).sort()).toEqual(['worker-1', 'worker-2', 'worker-3']);
    for (const worker of workers) {
      const syscalls = worker.sections.get('SYSCALL STATISTICS');
      const context = `${worker.name}\n${stdout}`;
      // getppid is 110 on x86_64, 173 on arm64: the number column must match the name.
      const [getppidNr, getppidCount] = labelledRow(syscalls, 'getppid')!;
      expect(getppidNr, context).toBe(process.arch === 'arm64' ? 173 : 110);
      expect(getppidCount, context).toBe(GETPPIDS);
      const [, sleeps, sleepTotal, sleepMax] = labelledRow(syscalls, 'nanosleep') ?? labelledRow(syscalls, 'clock_nanosleep')!;
      expect(sleeps, context).toBe(NANOSLEEPS);
      expect(sleepTotal, context).toBeGreaterThanOrEqual(NANOSLEEPS * TEN_MS);
      expect(sleepMax, context).toBeGreaterThanOrEqual(TEN_MS);
      expect(labelledRow(syscalls, 'write')![1], context).toBe(WRITES);
      // No poll() was made, so no long-poll section.
      expect(worker.sections.has('LONG POLL STATISTICS'), context).toBe(false);
      // TOTAL( - poll) is the sum of every row's count and total.
      const rows = syscalls!.rows.filter((r) => !r[0].startsWith('TOTAL'));
      const total = labelledRow(syscalls, 'TOTAL( - poll):')!;
      expect(total[0]).toBe(rows.reduce((sum, r) => sum + Number(r[2]), 0));
      expect(total[1]).toBe(rows.reduce((sum, r) => sum + Number(r[3]), 0));
    }
  });

  it.each(STAMP_PATHS)('measures each poll-to-poll interval as a long poll ($path)', async ({ args }) => {
    requireBpf();
    const { code, threads, stdout } = await measure(POLLS, args);
    expect(code).toBe(0);
    const workers = threads.filter((t) => t.name.startsWith('worker-'));
    expect(workers).toHaveLength(THREADS);
    for (const worker of workers) {
      const context = `${worker.name}\n${stdout}`;
      const longPoll = worker.sections.get('LONG POLL STATISTICS');
      expect(longPoll?.rows, context).toHaveLength(1);
      const [count, average, min, max] = longPoll!.rows[0].map(Number);
      // POLLS calls leave POLLS-1 gaps, each at least the 2 ms of busy work between them.
      expect(count, context).toBe(POLLS - 1);
      expect(min, context).toBeGreaterThanOrEqual(2_000_000);
      expect(average, context).toBeGreaterThanOrEqual(min);
      expect(max, context).toBeGreaterThanOrEqual(average);
      const pollName = process.arch === 'arm64' ? 'ppoll' : 'poll';
      expect(labelledRow(worker.sections.get('SYSCALL STATISTICS'), pollName)![1], context).toBe(POLLS);
    }
  });

  it.each(STAMP_PATHS)('counts the long poll that begins with the return of a poll() entered before the window ($path)', async ({ args }) => {
    requireBpf();
    // The poller sits in poll() when the window opens (an idle OVS thread does); inside the
    // window its poll() returns and it makes POLLS more: POLLS intervals, both ends inside.
    workload = await startWorkload('blocked_poll_workload', [POLLS]);
    const { code, stdout, stderr } = await sampleWorkload(workload, args);
    expect(code, stderr).toBe(0);
    const poller = parseReport(stdout).find((t) => t.name === 'poller');
    expect(poller, stdout).toBeDefined();
    const longPoll = poller!.sections.get('LONG POLL STATISTICS');
    expect(longPoll?.rows, stdout).toHaveLength(1);
    const [count, , min] = longPoll!.rows[0].map(Number);
    expect(count, stdout).toBe(POLLS);
    expect(min, stdout).toBeGreaterThanOrEqual(2_000_000);
    // The poll() that entered before the window is not a call of the window.
    const pollName = process.arch === 'arm64' ? 'ppoll' : 'poll';
    expect(labelledRow(poller!.sections.get('SYSCALL STATISTICS'), pollName)![1], stdout).toBe(POLLS);
  });

  it.each(STAMP_PATHS)(
    'frees the records of threads that exit: thousands of short-lived threads are all counted ($path)',
    async ({ args }) => {
      requireBpf();
      // More threads than the probe can hold at once (4096 slots and 4096 hash stamps by
      // default), CONCURRENT alive at a time, each making CALLS getppid() calls and exiting.
      const [MADE, CALLS, CONCURRENT] = [24_000, 5, 8];
      workload = await startWorkload('churn_workload', [MADE, CALLS, CONCURRENT]);
      // Room in the statistics map for every (thread, syscall) of the window: a thread makes a few kinds.
      const { code, stdout, stderr } = await sampleWorkload(workload, ['--only', 'syscalls', '--probe-option', 'syscalls.max_entries=262144', ...args]);
      expect(code, stderr).toBe(0);
      const threads = parseReport(stdout);
      const getppids = threads.reduce((sum, t) => sum + (labelledRow(t.sections.get('SYSCALL STATISTICS'), 'getppid')?.[1] ?? 0), 0);
      // Nothing dropped, nothing marked: the report is whole (its text is too long to quote).
      expect(stdout.match(/^# WARNING.*$/gm) ?? []).toEqual([]);
      expect(getppids).toBe(MADE * CALLS);
    },
    120_000,
  );

  it.each(STAMP_PATHS)('counts the calls of a thread that exits while its window is being reported ($path)', async ({ args }) => {
    requireBpf();
    // The thread's calls are still cached in its slot when the stop trigger closes the window
    // and it exits: the slot is left to the user half, which counts them, then frees it.
    const CALLS = 500;
    workload = await startWorkload('exiting_thread_workload', [CALLS]);
    const kdelay = startKdelay(['-p', workload.pid, '--only', 'syscalls', '--stop-trigger', 'up:window_end', ...args]);
    await kdelay.waitForOutput(/^# Start sampling/m);
    workload.kill('SIGUSR1');
    const tid = Number((await workload.waitFor(/^done \d+$/)).split(' ')[1]);
    const { code, stdout, stderr } = await kdelay.done;
    expect(code, stderr).toBe(0);
    const leaver = parseReport(stdout).find((t) => t.tid === tid);
    expect(labelledRow(leaver?.sections.get('SYSCALL STATISTICS'), 'getppid')?.[1], stdout).toBe(CALLS);
    expect(stdout).not.toMatch(/WARNING/);
  });

  it('leaves no BPF program behind, also after SIGINT mid-sample', async () => {
    requireBpf();
    await measure(0);
    expect(await waitUntilNoKdelayPrograms()).toEqual([]);
  });

  it('--probe-option syscalls.max_entries sizes the map; what did not fit is reported, not lost silently', async () => {
    requireBpf();
    const { code, stderr, threads, stdout } = await measure(0, ['--probe-option', 'syscalls.max_entries=4']);
    expect(code, stderr).toBe(0);
    // THREADS workers x 3 syscalls (plus the main thread's) need more than 4 (thread, syscall) slots.
    const rows = threads.flatMap((t) => (t.sections.get('SYSCALL STATISTICS')?.rows ?? []).filter((r) => !r[0].startsWith('TOTAL')));
    expect(rows, stdout).toHaveLength(4);
    const dropped = Number(/^# WARNING: (\d+) measurements were dropped because a syscalls map was full$/m.exec(stdout)?.[1]);
    // At least every call of the worker-syscalls that found no slot (each worker makes 3 kinds).
    expect(dropped, stdout).toBeGreaterThanOrEqual(Math.min(GETPPIDS, NANOSLEEPS, WRITES) * (THREADS * 3 - 4));
  });

  it('a full map: each sample says what its own window dropped, and the run their sum', async () => {
    requireBpf();
    // Per round the workload makes rt_sigreturn, getppid x A, getpid x B, gettid x C and one
    // write, in that order, all in the window. With room for two (thread, syscall) entries, the
    // first two fit and every call of the other three is dropped: B + C + 1 per window.
    const [A, B, C, SAMPLES] = [300, 200, 100, 3];
    workload = await startWorkload('map_full_workload', [A, B, C]);
    const kdelay = startKdelay(['-p', workload.pid, '--sample-time', 2, '--sample-count', SAMPLES, '--probe-option', 'syscalls.max_entries=2']);
    for (let round = 1; round <= SAMPLES; round++) {
      await kdelay.waitForOutput(new RegExp(`(?:# Start sampling[\\s\\S]*?){${round}}`));
      workload.kill('SIGUSR1');
      await workload.waitFor(new RegExp(`^done ${round}$`));
    }
    const { code, stdout, stderr } = await kdelay.done;
    expect(code, stderr).toBe(0);
    const samples = stdout.split(/^# Sample dump.*$/m).slice(1);
    expect(samples, stdout).toHaveLength(SAMPLES);
    for (const sample of samples) {
      const rows = parseReport(sample).flatMap((t) => (t.sections.get('SYSCALL STATISTICS')?.rows ?? []).filter((r) => !r[0].startsWith('TOTAL')));
      expect(rows.map((r) => r[0]).sort(), sample).toEqual(['getppid', 'rt_sigreturn']);
      const counted = rows.reduce((sum, r) => sum + Number(r[2]), 0);
      expect(counted, sample).toBe(1 + A);
      // The mark is this window's count: what the window's calls were, less what was counted.
      expect(sample, sample).toContain(`\n# WARNING: incomplete sample: ${2 + A + B + C - counted} measurements were dropped because a syscalls map was full\n`);
    }
    expect(stdout).toContain(`\n# WARNING: ${SAMPLES * (B + C + 1)} measurements were dropped because a syscalls map was full\n`);
  });

  it('--probe-option refuses names no running probe declares (exit 2, one line)', async () => {
    const kdelay = startKdelay(['-p', process.pid, '--probe-option', 'syscalls.max_entrys=4']);
    const { code, stderr } = await kdelay.done;
    expect(code).toBe(2);
    expect(stderr).toMatch(/^kdelay: --probe-option syscalls\.max_entrys: no running probe declares it \(known: .*syscalls\.max_entries.*\)\n$/);
  });
});
