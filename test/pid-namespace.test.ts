/**
 * kdelay inside a PID namespace of its own, as in a container without
 * --pid=host: a PID means the process as the namespace numbers it, and the
 * report's thread ids are the namespace's too, while the probes compare the
 * kernel's numbers (host/target/procfs.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { requireBpf, skipWithoutBpf, waitUntilNoKdelayPrograms } from './helpers/bpf.js';
import { runKdelay, startKdelay } from './helpers/kdelay.js';
import { createPidNamespace, firstChild, type PidNamespace } from './helpers/pid-namespace.js';
import { labelledRow, parseReport } from './helpers/report.js';
import { type RunningWorkload, startWorkload } from './helpers/workloads.js';

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

describe.skipIf(process.geteuid?.() !== 0)('kdelay in a PID namespace of its own', () => {
  it('without a view of the host /proc: one line saying how to give it one, exit 69', async () => {
    namespace = await createPidNamespace();
    const result = await runKdelay(['-p', 1], undefined, { wrapper: namespace.enter });
    expect(result.code).toBe(69);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      "kdelay: kdelay runs in a PID namespace of its own and cannot see the host's PIDs, which the kernel probes compare; run it in the host's PID namespace (--pid=host) or mount the host's /proc at /host/proc or $KDELAY_HOST_PROC\n",
    );
  });
});

describe.skipIf(skipWithoutBpf)('kdelay in a PID namespace of its own, on the real kernel', () => {
  it("measures the namespace's PID: exact counts, thread ids as the namespace numbers them", async () => {
    requireBpf();
    namespace = await createPidNamespace({ bindHostProc: true });
    workload = await startWorkload('syscall_workload', [THREADS, GETPPIDS, 0, WRITES, 0], { wrapper: namespace.enter });
    // Inside, the workload is a small number (nsenter's child), not its host PID.
    expect(workload.pid).toBeLessThan(10);
    expect(workload.hostPid).not.toBe(workload.pid);
    const kdelay = startKdelay(['-p', workload.pid, '--sample-time', 30], { wrapper: namespace.enter, env: { ...process.env, KDELAY_HOST_PROC: namespace.hostProc } });
    await kdelay.waitForOutput(/^# Start sampling/m);
    workload.kill('SIGUSR1');
    await workload.waitFor(/^done$/);
    process.kill(await firstChild(kdelay.child.pid!), 'SIGINT'); // kdelay itself: nsenter forwards no signals
    const { code, stdout, stderr } = await kdelay.done;
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
});
