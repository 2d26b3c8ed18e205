/**
 * When is the target gone? kdelay knows it by its start time and its
 * threads (host/system/procfs.ts: TargetProcess), not by /proc/PID
 * existing: a main thread that called pthread_exit() is a zombie while the
 * others work (still a target), a process that exited but is not reaped
 * keeps /proc/PID (gone), and so does a PID handed to a new process (gone).
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { requireBpf, skipWithoutBpf } from '../helpers/bpf.js';
import { sampleWorkload, startKdelay } from '../helpers/kdelay.js';
import { childPids, createPidNamespace, type PidNamespace } from '../helpers/pid-namespace.js';
import { labelledRow, parseReport } from '../helpers/report.js';
import { buildWorkload, type RunningWorkload, startWorkload } from '../helpers/workloads.js';

const GETPPIDS = 250;

let workload: RunningWorkload | undefined;
let namespace: PidNamespace | undefined;
afterEach(async () => {
  await workload?.stop();
  await namespace?.close();
  workload = namespace = undefined;
});

async function until(what: string, condition: () => boolean, timeoutMs = 5000) {
  for (const deadline = Date.now() + timeoutMs; !condition(); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
  }
}

const stateOf = (hostPid: number) => /\) (\S) /.exec(readFileSync(`/proc/${hostPid}/stat`, 'utf8'))?.[1];

/** The JSON records of kdelay's stdout of one type. */
function records(stdout: string, type: string) {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line))
    .filter((record) => record.type === type);
}

/** Keeps a workload unreaped once it exits: its parent becomes a sleep that never waits. */
const NEVER_REAPED = ['sh', '-c', '"$0" "$@" & exec sleep 3600'];

describe.skipIf(skipWithoutBpf)('a target that exits, or only its main thread', () => {
  it('main thread gone with pthread_exit(), two threads working: measured, each thread exactly', async () => {
    requireBpf();
    workload = await startWorkload('leader_exit_workload', [2, GETPPIDS]);
    await until('the main thread did not become a zombie', () => stateOf(workload!.hostPid) === 'Z');
    const { code, stdout, stderr } = await sampleWorkload(workload, []);
    expect(code, stderr).toBe(0);
    const threads = parseReport(stdout);
    for (const name of ['worker-1', 'worker-2']) {
      const thread = threads.find((t) => t.name === name);
      expect(labelledRow(thread?.sections.get('SYSCALL STATISTICS'), 'getppid')?.[1], stdout).toBe(GETPPIDS);
    }
  });

  it('windows shorter than the target watcher (20 ms): the run ends when the target exits, not after every sample', async () => {
    requireBpf();
    workload = await startWorkload('syscall_workload', [1, 0, 0, 0, 0]); // waits for SIGUSR1, making no call
    const kdelay = startKdelay(['-p', workload.pid, '--sample-time', 0.02, '--sample-count', 100_000, '--only', 'syscalls', '--json']);
    await kdelay.waitForOutput(/"window_open"/);
    workload.kill('SIGKILL');
    // 100,000 windows of 20 ms would take over half an hour; the exit must end the run at once.
    const { code, stdout, stderr } = await kdelay.done;
    expect(code, stderr).toBe(0);
    const samples = records(stdout, 'sample');
    expect(samples.at(-1).data.target_exited, stdout.slice(-2000)).toBe(true);
    expect(samples.filter((s) => s.data.target_exited)).toHaveLength(1);
  }, 20_000);

  it('a target that turns zombie mid-window with a stop trigger: the report, target_exited, no endless wait', async () => {
    requireBpf();
    workload = await startWorkload('trigger_workload', [1, 1, 10, 0, 0], { wrapper: NEVER_REAPED });
    const kdelay = startKdelay(['-p', workload.pid, '--stop-trigger', 'u:kdelay_test:stop', '--json']);
    await kdelay.waitForOutput(/"type":"window_open"/);
    const exitedAt = Date.now();
    workload.kill('SIGTERM'); // before it ever fires kdelay_test:stop
    await until('the workload did not become a zombie', () => stateOf(workload!.hostPid) === 'Z');
    const { code, stdout, stderr } = await kdelay.done;
    expect(code, stderr).toBe(0);
    expect(Date.now() - exitedAt).toBeLessThan(5000);
    expect(stateOf(workload.hostPid)).toBe('Z'); // still there, not reaped: noticed all the same
    const samples = records(stdout, 'sample');
    expect(samples, stdout).toHaveLength(1);
    expect(samples[0].data.target_exited).toBe(true);
    expect(samples[0].data.interrupted).toBe(false);
  });

  it('a target whose PID is taken by a new process as it exits (its own PID namespace): noticed, target_exited', async () => {
    requireBpf();
    namespace = await createPidNamespace();
    // reuse_pid reaps the workload and at once starts it again under the same PID.
    workload = await startWorkload('trigger_workload', [1, 1, 10, 0, 0], { wrapper: [...namespace.enter, buildWorkload('reuse_pid')] });
    const [firstHostPid] = childPids(workload.hostPid);
    const kdelay = startKdelay(['-p', workload.pid, '--sample-time', 20, '--json'], { wrapper: namespace.enter });
    await kdelay.waitForOutput(/"type":"window_open"/);
    const exitedAt = Date.now();
    process.kill(firstHostPid, 'SIGTERM');
    expect(await workload.waitFor(/^ready \d+$/)).toBe(`ready ${workload.pid}`); // the same PID, another process
    expect(childPids(workload.hostPid)).not.toContain(firstHostPid);
    const { code, stdout, stderr } = await kdelay.done;
    expect(code, stderr).toBe(0);
    expect(Date.now() - exitedAt).toBeLessThan(5000);
    const samples = records(stdout, 'sample');
    expect(samples, stdout).toHaveLength(1);
    expect(samples[0].data.target_exited).toBe(true);
  });
});
