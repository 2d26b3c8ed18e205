/**
 * Targets that are not a plain process: a thread id given as -p, -t for one
 * thread, zombies and kernel threads (host/system/procfs.ts: resolveTarget).
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { requireBpf, skipWithoutBpf } from '../helpers/bpf.js';
import { runKdelay, sampleWorkload, startKdelay } from '../helpers/kdelay.js';
import { labelledRow, parseReport } from '../helpers/report.js';
import { type RunningWorkload, startWorkload } from '../helpers/workloads.js';

const THREADS = 3;
const GETPPIDS = 200;

let workload: RunningWorkload | undefined;
const others: ReturnType<typeof spawn>[] = [];
afterEach(async () => {
  await workload?.stop();
  workload = undefined;
  for (const c of others.splice(0)) c.kill('SIGKILL');
});

function expectOneLineError(result: { code: number | null; stdout: string; stderr: string }, code: number, line: string) {
  expect(result.code).toBe(code);
  expect(result.stdout).toBe('');
  expect(result.stderr).toBe(`kdelay: ${line}\n`);
}

/** A worker thread's id by name (each worker names itself worker-N as it starts, so wait for it). */
async function workerTid(pid: number, name: string): Promise<number> {
  for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) {
    const tid = readdirSync(`/proc/${pid}/task`).find((t) => readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim() === name);
    if (tid) return Number(tid);
  }
  throw new Error(`no thread ${name} in ${pid}`);
}

describe('targets that are not a process', () => {
  it('a zombie: one line, exit 69', async () => {
    // The shell's child exits at once; the shell, now sleep(1), never reaps it.
    const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'] });
    others.push(parent);
    const zombie = Number(await new Promise<string>((resolve) => createInterface({ input: parent.stdout! }).once('line', resolve)));
    for (const deadline = Date.now() + 5000; !/\) Z /.test(readFileSync(`/proc/${zombie}/stat`, 'utf8'));) {
      if (Date.now() > deadline) throw new Error(`${zombie} did not become a zombie`);
      await new Promise((r) => setTimeout(r, 20));
    }
    expectOneLineError(await runKdelay(['-p', zombie]), 69, `PID ${zombie} is a zombie (it has exited; its parent has not reaped it): nothing left to measure`);
  });

  it('a kernel thread: one line, exit 69', async () => {
    // kthreadd is PID 2 wherever kernel threads are visible.
    expect(readFileSync('/proc/2/comm', 'utf8').trim()).toBe('kthreadd');
    expectOneLineError(await runKdelay(['-p', 2]), 69, 'PID 2 is a kernel thread (kthreadd): kdelay measures user processes');
    expectOneLineError(await runKdelay(['-t', 2]), 69, 'PID 2 is a kernel thread (kthreadd): kdelay measures user processes');
  });

  it('-t of a thread that is not in -p: one line, exit 69', async () => {
    workload = await startWorkload('syscall_workload', [THREADS, GETPPIDS, 0, 0, 0]);
    const tid = await workerTid(workload.pid, 'worker-1');
    expectOneLineError(await runKdelay(['-p', process.pid, '-t', tid]), 69, `thread ${tid} belongs to process ${workload.pid}, not ${process.pid}`);
    expectOneLineError(await runKdelay(['-t', 999999999]), 69, 'no thread with TID 999999999');
  });
});

describe.skipIf(skipWithoutBpf)('targets that are not a process, on the real kernel', () => {
  it('-p with a thread id measures its whole process, saying so', async () => {
    requireBpf();
    workload = await startWorkload('syscall_workload', [THREADS, GETPPIDS, 0, 0, 0]);
    const tid = await workerTid(workload.pid, 'worker-2');
    const kdelay = startKdelay(['-p', tid, '--sample-time', 30]);
    await kdelay.waitForOutput(/^# Start sampling/m);
    workload.kill('SIGUSR1');
    await workload.waitFor(/^done$/);
    kdelay.child.kill('SIGINT');
    const { code, stdout, stderr } = await kdelay.done;
    expect(code).toBe(0);
    expect(stderr).toBe(`kdelay: measuring process ${workload.pid}, thread ${tid} given (-t ${tid} reports that thread only)\n`);
    const workers = parseReport(stdout).filter((t) => t.name.startsWith('worker-'));
    expect(workers.map((w) => w.name).sort(), stdout).toEqual(['worker-1', 'worker-2', 'worker-3']);
    for (const w of workers) expect(labelledRow(w.sections.get('SYSCALL STATISTICS'), 'getppid')![1], stdout).toBe(GETPPIDS);
  });

  it('-t reports that one thread only, with its exact counts', async () => {
    requireBpf();
    workload = await startWorkload('syscall_workload', [THREADS, GETPPIDS, 0, 0, 0]);
    const tid = await workerTid(workload.pid, 'worker-3');
    const { code, stdout, stderr } = await sampleWorkload(workload, ['-t', tid]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const threads = parseReport(stdout);
    expect(
      threads.map((t) => [t.tid, t.name]),
      stdout,
    ).toEqual([[tid, 'worker-3']]);
    expect(labelledRow(threads[0].sections.get('SYSCALL STATISTICS'), 'getppid')![1], stdout).toBe(GETPPIDS);
  });
});
