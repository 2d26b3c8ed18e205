/**
 * --thread-name on the real kernel: a workload whose threads are named
 * worker-0 .. worker-3 and other, thread i making exactly (i + 1) * GETPPIDS
 * getppid() calls, so each reported count also says whose it is.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { kernelLeftovers, requireBpf, skipWithoutBpf } from '../helpers/bpf.js';
import { runKdelay, sampleWorkload, startKdelay } from '../helpers/kdelay.js';
import { labelledRow, parseReport } from '../helpers/report.js';
import { type RunningWorkload, startWorkload } from '../helpers/workloads.js';

const GETPPIDS = 50;
const NAMES = ['worker-0', 'worker-1', 'worker-2', 'worker-3', 'other'];
const calls = (name: string) => (NAMES.indexOf(name) + 1) * GETPPIDS;

let workload: RunningWorkload | undefined;
afterEach(async () => {
  await workload?.stop();
  workload = undefined;
});

/** The workload's threads by name (all are named before it prints "ready"). */
function threadIds(pid: number): Map<string, number> {
  return new Map(readdirSync(`/proc/${pid}/task`).map((tid) => [readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim(), Number(tid)]));
}

/** Threads by name: the report orders them by what they did, which timing decides. */
const byName = <T extends { name: string }>(threads: T[]) => threads.sort((a, b) => a.name.localeCompare(b.name));

/** Each reported thread of a text report: name, tid and getppid count. */
function textThreads(stdout: string) {
  return byName(parseReport(stdout).map((t) => ({ name: t.name, tid: t.tid, getppid: labelledRow(t.sections.get('SYSCALL STATISTICS'), 'getppid')?.[1] })));
}

/** The same from NDJSON's sample record. */
function jsonThreads(stdout: string) {
  const sample = stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .find((r) => r.type === 'sample');
  return byName(
    (sample.data.threads as { tid: number; name: string; sections: { syscalls?: { name: string; count: number }[] } }[]).map((t) => ({
      name: t.name,
      tid: t.tid,
      getppid: t.sections.syscalls?.find((s) => s.name === 'getppid')?.count,
    })),
  );
}

/**
 * sampleWorkload for --json, which prints nothing as its window opens: the
 * window opens at the workload's go() (a start trigger), called after
 * SIGUSR1 and before any thread makes its calls.
 */
async function sampleJson(workload: RunningWorkload, args: (string | number)[]) {
  const kdelay = startKdelay(['-p', workload.pid, '--start-trigger', 'up:go', '--sample-time', 30, '--json', ...args]);
  await kdelay.waitForStderr(/waiting for up:go/);
  workload.kill('SIGUSR1');
  await workload.waitFor(/^done$/);
  kdelay.child.kill('SIGINT');
  const result = await kdelay.done;
  return { ...result, stderr: result.stderr.replace(/^kdelay: attached to PID \d+; waiting for up:go\n/, '') };
}

const expected = (tids: Map<string, number>, names: string[]) => names.map((name) => ({ name, tid: tids.get(name), getppid: calls(name) }));

describe.skipIf(skipWithoutBpf)('--thread-name', () => {
  it.each([
    ['text', textThreads],
    ['NDJSON', jsonThreads],
  ])("'^worker-[02]$' reports exactly worker-0 and worker-2, with their exact counts (%s)", async (format, threads) => {
    requireBpf();
    workload = await startWorkload('named_threads', [GETPPIDS, -1]);
    const tids = threadIds(workload.pid);
    const args = ['--thread-name', '^worker-[02]$', '--only', 'syscalls'];
    const { code, stdout, stderr } = format === 'NDJSON' ? await sampleJson(workload, args) : await sampleWorkload(workload, args);
    expect(code, stderr).toBe(0);
    expect(stderr).toBe('');
    expect(threads(stdout), stdout).toEqual(expected(tids, ['worker-0', 'worker-2']));
  });

  it('a search, as grep -E: worker matches every worker-N and not other', async () => {
    requireBpf();
    workload = await startWorkload('named_threads', [GETPPIDS, -1]);
    const tids = threadIds(workload.pid);
    const { code, stdout } = await sampleWorkload(workload, ['--thread-name', 'worker', '--only', 'syscalls']);
    expect(code).toBe(0);
    expect(textThreads(stdout), stdout).toEqual(expected(tids, ['worker-0', 'worker-1', 'worker-2', 'worker-3']));
  });

  it('a thread that exited before the report is selected by the name it had', async () => {
    requireBpf();
    workload = await startWorkload('named_threads', [GETPPIDS, 1]);
    const tids = threadIds(workload.pid);
    const kdelay = startKdelay(['-p', workload.pid, '--sample-time', 30, '--thread-name', '^worker-1$', '--only', 'syscalls']);
    await kdelay.waitForOutput(/^# Start sampling/m);
    workload.kill('SIGUSR1');
    await workload.waitFor(/^done$/);
    for (const deadline = Date.now() + 5000; readdirSync(`/proc/${workload.pid}/task`).includes(String(tids.get('worker-1'))); await new Promise((r) => setTimeout(r, 10))) {
      if (Date.now() > deadline) throw new Error('worker-1 did not exit');
    }
    kdelay.child.kill('SIGINT');
    const { code, stdout, stderr } = await kdelay.done;
    expect(code, stderr).toBe(0);
    // Named as the reference names a thread that is gone; selected by the name it had.
    expect(textThreads(stdout), stdout).toEqual([{ name: `<unknown:${workload.pid}/${tids.get('worker-1')}>`, tid: tids.get('worker-1'), getppid: calls('worker-1') }]);
  });

  it('with -t, both must hold: the thread is reported only if its name matches', async () => {
    requireBpf();
    workload = await startWorkload('named_threads', [GETPPIDS, -1]);
    const tids = threadIds(workload.pid);
    const matching = await sampleWorkload(workload, ['-t', tids.get('worker-2')!, '--thread-name', '^worker', '--only', 'syscalls']);
    expect(matching.code).toBe(0);
    expect(textThreads(matching.stdout), matching.stdout).toEqual(expected(tids, ['worker-2']));
    await workload.stop();

    workload = await startWorkload('named_threads', [GETPPIDS, -1]);
    const others = threadIds(workload.pid);
    const other = others.get('other')!;
    const missing = await sampleWorkload(workload, ['-t', other, '--thread-name', '^worker', '--only', 'syscalls']);
    expect(missing.code).toBe(0);
    expect(textThreads(missing.stdout), missing.stdout).toEqual([]);
    expect(missing.stderr).toBe(`kdelay: --thread-name /^worker/ does not match the name of thread ${other} (other): nothing is reported unless it is renamed\n`);
  });

  it('an invalid regular expression: one line, exit 2, nothing loaded', async () => {
    requireBpf();
    workload = await startWorkload('named_threads', [GETPPIDS, -1]);
    const result = await runKdelay(['-p', workload.pid, '--thread-name', 'worker-(']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      "kdelay: option '--thread-name <REGEX>' argument 'worker-(' is invalid. not a valid regular expression (Invalid regular expression: /worker-(/: Unterminated group)\n",
    );
    expect(await kernelLeftovers()).toEqual([]);
  });
});
