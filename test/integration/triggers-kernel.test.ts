/**
 * Start/stop triggers on the real kernel, against a workload whose windows
 * are known exactly: each round fires USDT start, calls measured_work()
 * (GETPPIDS getppid calls), makes one getcpu() call, fires USDT stop.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { requireBpf, skipWithoutBpf, waitUntilNoKdelayPrograms } from '../helpers/bpf.js';
import { runKdelay, startKdelay } from '../helpers/kdelay.js';
import { labelledRow, parseReport } from '../helpers/report.js';
import { type RunningWorkload, startWorkload } from '../helpers/workloads.js';

const GETPPIDS = 7;
let workload: RunningWorkload | undefined;
afterEach(async () => {
  await workload?.stop();
  workload = undefined;
});

/** Runs kdelay with triggers while the workload does `rounds` rounds; returns its output split per sample. */
async function triggered(args: (string | number)[], rounds: number, longEvery = 0, longMs = 0) {
  workload = await startWorkload('trigger_workload', [rounds, GETPPIDS, 60, longEvery, longMs]);
  const kdelay = startKdelay(['-p', workload.pid, ...args]);
  // With a start trigger kdelay says when it is ready; without one the window opens at once.
  if (args.includes('--start-trigger')) await kdelay.waitForStderr(/waiting for/);
  else await kdelay.waitForOutput(/^# Start sampling/m);
  workload.child.kill('SIGUSR1');
  const result = await kdelay.done;
  const samples = result.stdout.split(/^(?=# Start sampling)/m).filter((s) => s.startsWith('#'));
  return { ...result, samples };
}

function workerGetppids(sampleText: string): number | undefined {
  const worker = parseReport(sampleText).find((t) => t.name === 'worker');
  return labelledRow(worker?.sections.get('SYSCALL STATISTICS'), 'getppid')?.[1];
}

describe.skipIf(skipWithoutBpf)('triggers on the real kernel', () => {
  it('USDT start and stop: each window holds exactly the round, with the reference header lines', async () => {
    requireBpf();
    const { code, samples, stdout, stderr } = await triggered(['--start-trigger', 'u:kdelay_test:start', '--stop-trigger', 'u:kdelay_test:stop', '--sample-count', 3], 5);
    expect(code, stderr).toBe(0);
    expect(samples, stdout).toHaveLength(3);
    for (const sample of samples) {
      const start = /^# Start sampling \(trigger@(\d+)\) @\S+ \(\d\d:\d\d:\d\d UTC\)$/m.exec(sample);
      const stop = /^# Stop sampling \(trigger@(\d+)\) @/m.exec(sample);
      const dump = /^# Triggered sample dump, stop-start delta ([\d,]+) ns @/m.exec(sample);
      expect(start && stop && dump, sample).toBeTruthy();
      expect(BigInt(dump![1].replace(/,/g, ''))).toBe(BigInt(stop![1]) - BigInt(start![1]));
      expect(workerGetppids(sample), sample).toBe(GETPPIDS);
    }
  });

  it('uprobe and uretprobe on a function: the window is exactly its body', async () => {
    requireBpf();
    const { code, samples, stdout } = await triggered(['--start-trigger', 'up:measured_work', '--stop-trigger', 'upr:measured_work', '--sample-count', 2], 4);
    expect(code).toBe(0);
    expect(samples, stdout).toHaveLength(2);
    for (const sample of samples) expect(workerGetppids(sample), sample).toBe(GETPPIDS);
  });

  it('a kernel tracepoint as stop trigger (syscalls:* has no raw tracepoint: the classic one is used)', async () => {
    requireBpf();
    const { code, samples, stdout } = await triggered(['--start-trigger', 'u:kdelay_test:start', '--stop-trigger', 't:syscalls:sys_enter_getcpu', '--sample-count', 2], 4);
    expect(code).toBe(0);
    expect(samples, stdout).toHaveLength(2);
    for (const sample of samples) expect(workerGetppids(sample), sample).toBe(GETPPIDS);
  });

  it('--trigger-delta skips short windows, and --sample-count counts only reported ones', async () => {
    requireBpf();
    // Every 2nd round sleeps 30 ms inside its window; the others take microseconds.
    const { code, stdout, samples } = await triggered(
      ['--start-trigger', 'u:kdelay_test:start', '--stop-trigger', 'u:kdelay_test:stop', '--sample-count', 2, '--trigger-delta', 20_000_000],
      6,
      2,
      30,
    );
    expect(code).toBe(0);
    const skipped = [...stdout.matchAll(/^# Sample dump skipped, delta ([\d,]+) ns @/gm)].map((m) => Number(m[1].replace(/,/g, '')));
    expect(skipped.length, stdout).toBeGreaterThanOrEqual(2);
    for (const delta of skipped) expect(delta).toBeLessThan(20_000_000);
    const reported = samples.filter((s) => /^# Triggered sample dump/m.test(s));
    expect(reported, stdout).toHaveLength(2);
    for (const sample of reported) {
      const delta = Number(/stop-start delta ([\d,]+) ns/.exec(sample)![1].replace(/,/g, ''));
      expect(delta).toBeGreaterThanOrEqual(30_000_000);
      const worker = parseReport(sample).find((t) => t.name === 'worker');
      expect(
        labelledRow(worker?.sections.get('SYSCALL STATISTICS'), 'clock_nanosleep')?.[1] ?? labelledRow(worker?.sections.get('SYSCALL STATISTICS'), 'nanosleep')?.[1],
        sample,
      ).toBe(1);
    }
  });

  it('start trigger only: the window lasts --sample-time from the hit', async () => {
    requireBpf();
    const { code, stdout } = await triggered(['--start-trigger', 'u:kdelay_test:start', '--sample-time', 0.1, '--json'], 3);
    expect(code).toBe(0);
    const record = JSON.parse(stdout.split('\n')[0]);
    expect(record.type).toBe('sample');
    // Closed by a timer armed from the hit's own timestamp: 100 ms plus timer latency.
    expect(record.data.window_ns).toBeGreaterThanOrEqual(100_000_000);
    expect(record.data.window_ns).toBeLessThan(120_000_000);
  });

  it('stop trigger only: the window opens at once and closes at the hit', async () => {
    requireBpf();
    const { code, stdout, samples } = await triggered(['--stop-trigger', 'u:kdelay_test:stop'], 3);
    expect(code).toBe(0);
    expect(samples, stdout).toHaveLength(1);
    expect(samples[0]).toMatch(/^# Start sampling @/m);
    expect(samples[0]).toMatch(/^# Stop sampling \(trigger@\d+\) @/m);
    expect(samples[0]).toMatch(/^# Sample dump @/m); // only one trigger: no delta
    expect(workerGetppids(samples[0]), samples[0]).toBe(GETPPIDS);
  });

  it('USDT probes guarded by semaphores: raised while attached, so each window holds exactly the round; 0 again after', async () => {
    requireBpf();
    // Its probes run only while their semaphores are non-zero, as a dtrace-generated header (or Python's) has them.
    workload = await startWorkload('semaphore_workload', [6, GETPPIDS, 60]);
    await workload.waitFor(/^semaphores 0 0$/);
    const kdelay = startKdelay(['-p', workload.pid, '--start-trigger', 'u:kdelay_sem:start', '--stop-trigger', 'u:kdelay_sem:stop', '--sample-count', 2]);
    await kdelay.waitForStderr(/waiting for u:kdelay_sem:start/);
    // Both raised before the workload goes (the kernel's uprobe reference counter, at attach).
    await workload.waitFor(/^semaphores 1 1$/);
    workload.kill('SIGUSR1');
    const { code, stdout, stderr } = await kdelay.done;
    expect(code, stderr).toBe(0);
    const samples = stdout.split(/^(?=# Start sampling)/m).filter((s) => s.startsWith('#'));
    expect(samples, stdout).toHaveLength(2);
    for (const sample of samples) {
      expect(sample).toMatch(/^# Triggered sample dump, stop-start delta [\d,]+ ns @/m);
      expect(workerGetppids(sample), sample).toBe(GETPPIDS);
    }
    // kdelay detached: nothing holds them any more.
    await workload.waitFor(/^semaphores 0 0$/);
    const listed = await runKdelay(['-p', workload.pid, '--list-probes']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^u:kdelay_sem:start {2}\(semaphore at 0x[0-9a-f]+, now 0\)$/m);
  });

  it('Ctrl-C while waiting for the start trigger: the stop and dump lines and an empty table, as the reference (--format reference)', async () => {
    requireBpf();
    workload = await startWorkload('trigger_workload', [1, GETPPIDS, 60, 0, 0]);
    const kdelay = startKdelay(['-p', workload.pid, '--format', 'reference', '--start-trigger', 'u:kdelay_test:start']);
    await kdelay.waitForStderr(/waiting for u:kdelay_test:start/);
    kdelay.child.kill('SIGINT');
    const result = await kdelay.done;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^# Stop sampling @.*\n# Sample dump @.*\nTID {8}THREAD {11}<RESOURCE SPECIFIC>\n-{10} -{16} -{76}\n/);
    expect(result.stdout).not.toMatch(/SYSCALL STATISTICS/);
    expect(await waitUntilNoKdelayPrograms()).toEqual([]);
  });

  describe('bad triggers: one line naming the trigger, nothing attached', () => {
    async function rejected(args: string[]) {
      workload = await startWorkload('trigger_workload', [1, GETPPIDS, 60, 0, 0]);
      return runKdelay(['-p', String(workload.pid), ...args]);
    }
    it.each([
      // As the reference: a USDT probe is checked when the trigger is parsed (EX_CONFIG), a function when attached (EX_OSERR).
      [
        ['--start-trigger', 'u:kdelay_test:nope'],
        78,
        /^kdelay: invalid start trigger \[u:kdelay_test:nope\]; the target's executable \(\/proc\/\d+\/exe\) has no USDT probe kdelay_test:nope/,
      ],
      [['--start-trigger', 'up:no_such_function'], 71, /^kdelay: invalid start trigger \[up:no_such_function\]; no function no_such_function in the target's executable/],
      [['--stop-trigger', 't:sched:no_such_event'], 78, /^kdelay: invalid stop trigger \[t:sched:no_such_event\]; there is no tracepoint sched:no_such_event/],
      [['--start-trigger', 'k:no_such_kernel_function'], 78, /^kdelay: invalid start trigger \[k:no_such_kernel_function\]; there is no kernel function/],
      [['--start-trigger', 'x:foo'], 78, /^kdelay: invalid start trigger \[x:foo\]; invalid probe type 'x'/],
      [['--start-trigger', 'u:only_provider'], 78, /^kdelay: invalid start trigger \[u:only_provider\]; invalid number of arguments for USDT/],
    ])('%j', async (args, exitCode, message) => {
      requireBpf();
      const result = await rejected(args);
      expect(result.code).toBe(exitCode);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(result.stdout).toBe('');
    });

    it('a kprobe trigger on a kernel without kprobes and without fentry: exit 71 saying exactly that', async () => {
      requireBpf();
      const result = await rejected(['--start-trigger', 'k:do_sys_openat2']);
      expect(result.code).toBe(71);
      expect(result.stderr).toMatch(/^kdelay: trigger \[k:do_sys_openat2\]: this kernel supports neither kprobes \(no kprobe PMU: CONFIG_KPROBES is off\) nor fentry\/fexit/);
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(await waitUntilNoKdelayPrograms()).toEqual([]);
    });
  });
});
