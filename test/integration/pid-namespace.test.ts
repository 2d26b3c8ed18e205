/**
 * kdelay inside a PID namespace of its own, as in a container without
 * --pid=host: a PID means the process as the namespace numbers it, and the
 * report's thread ids are the namespace's too, while the probes compare the
 * kernel's numbers (host/system/procfs.ts).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { requireBpf, skipWithoutBpf, waitUntilNoKdelayPrograms } from '../helpers/bpf.js';
import { createPidNamespace, type PidNamespace, sampleInNamespace } from '../helpers/pid-namespace.js';
import { labelledRow, parseReport } from '../helpers/report.js';
import { type RunningWorkload, startWorkload } from '../helpers/workloads.js';

const THREADS = 2;
const GETPPIDS = 300;
const WRITES = 5;

let namespace: PidNamespace | undefined;
let workload: RunningWorkload | undefined;
afterEach(async () => {
  await workload?.stop();
  await namespace?.close();
  workload = namespace = undefined;
});

/** The namespace's numbers of a host process's threads, by thread name (NSpid's last entry is the innermost). */
function namespaceTids(hostPid: number): Map<string, number> {
  const tids = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${hostPid}/task`)) {
    const status = readFileSync(`/proc/${hostPid}/task/${tid}/status`, 'utf8');
    tids.set(/^Name:\s*(.*)$/m.exec(status)![1], Number(/^NSpid:\s*(.*)$/m.exec(status)![1].split(/\s+/).at(-1)));
  }
  return tids;
}

describe.skipIf(skipWithoutBpf)('kdelay in a PID namespace of its own, on the real kernel', () => {
  it("measures the namespace's PID: exact counts, thread ids as the namespace numbers them", async () => {
    requireBpf();
    namespace = await createPidNamespace({ bindHostProc: true });
    workload = await startWorkload('syscall_workload', [THREADS, GETPPIDS, 0, WRITES, 0], { wrapper: namespace.enter });
    // Inside, the workload is a small number (nsenter's child), not its host PID.
    expect(workload.pid).toBeLessThan(10);
    expect(workload.hostPid).not.toBe(workload.pid);
    const { code, stdout, stderr } = await sampleInNamespace(namespace, workload, { env: { ...process.env, KDELAY_HOST_PROC: namespace.hostProc } });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const expectedTids = namespaceTids(workload.hostPid);
    const workers = parseReport(stdout).filter((t) => t.name.startsWith('worker-'));
    expect(workers.map((w) => w.name).sort(), stdout).toEqual(['worker-1', 'worker-2']);
    for (const worker of workers) {
      expect(worker.tid, stdout).toBe(expectedTids.get(worker.name));
      const syscalls = worker.sections.get('SYSCALL STATISTICS');
      expect(labelledRow(syscalls, 'getppid')![1], stdout).toBe(GETPPIDS);
      expect(labelledRow(syscalls, 'write')![1], stdout).toBe(WRITES);
    }
    expect(await waitUntilNoKdelayPrograms()).toEqual([]);
  });

  it("with no host /proc at all (unshare -p -f --mount-proc): the kernel's task iterator translates; exact counts, the namespace's tids, -t by the namespace's tid", async () => {
    requireBpf();
    namespace = await createPidNamespace();
    // No view of the host's numbers inside: no /host/proc, no $KDELAY_HOST_PROC, kthreadd not PID 2, not the initial namespace.
    const env = { ...process.env };
    delete env.KDELAY_HOST_PROC;
    const inside = spawnSync(
      namespace.enter[0],
      [...namespace.enter.slice(1), 'sh', '-c', 'test ! -e /host/proc && ! grep -qs kthreadd /proc/2/comm && readlink /proc/self/ns/pid'],
      { encoding: 'utf8' },
    );
    expect(inside.status, inside.stderr).toBe(0);
    expect(inside.stdout.trim()).not.toBe('pid:[4026531836]');
    for (const mode of ['-p', '-t'] as const) {
      workload = await startWorkload('syscall_workload', [THREADS, GETPPIDS, 0, WRITES, 0], { wrapper: namespace.enter });
      expect(workload.hostPid).not.toBe(workload.pid);
      // Each worker names itself as it starts: wait until both have.
      let expectedTids = namespaceTids(workload.hostPid);
      for (const deadline = Date.now() + 5000; !expectedTids.has('worker-1') || !expectedTids.has('worker-2'); expectedTids = namespaceTids(workload.hostPid)) {
        if (Date.now() > deadline) throw new Error(`the workers did not name themselves: ${[...expectedTids.keys()]}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      // -t picks one worker by the namespace's tid: only it is reported, under that number.
      const only = expectedTids.get('worker-2')!;
      const { code, stdout, stderr } = await sampleInNamespace(namespace, workload, { env }, [mode, mode === '-p' ? workload.pid : only]);
      expect(stderr).toBe('');
      expect(code).toBe(0);
      const threads = parseReport(stdout);
      const workers = threads.filter((t) => t.name.startsWith('worker-'));
      expect(workers.map((w) => w.name).sort(), stdout).toEqual(mode === '-t' ? ['worker-2'] : ['worker-1', 'worker-2']);
      if (mode === '-t')
        expect(
          threads.map((t) => t.tid),
          stdout,
        ).toEqual([only]);
      for (const worker of workers) {
        expect(worker.tid, stdout).toBe(expectedTids.get(worker.name));
        const syscalls = worker.sections.get('SYSCALL STATISTICS');
        expect(labelledRow(syscalls, 'getppid')![1], stdout).toBe(GETPPIDS);
        expect(labelledRow(syscalls, 'write')![1], stdout).toBe(WRITES);
      }
      await workload.stop();
      workload = undefined;
    }
    expect(await waitUntilNoKdelayPrograms()).toEqual([]);
  });
});
