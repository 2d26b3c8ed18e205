/**
 * A PID namespace of the test's own, as `unshare -p -f --mount-proc` makes
 * it: its own /proc (in its own mount namespace, so the machine's mounts are
 * untouched), where the first process is PID 1. Tests start processes in it
 * with nsenter; nothing on the host (a real ovs-vswitchd, say) is visible.
 *
 * Optionally the host's /proc stays visible at `hostProc` inside, bound
 * before the namespace's own /proc is mounted: a container's `-v
 * /proc:/host/proc:ro`, which kdelay needs to learn the kernel's PIDs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KdelayStartOptions, startKdelay } from './kdelay.js';
import type { RunningWorkload } from './workloads.js';

export interface PidNamespace {
  /** The namespace's PID 1 (a sleep), as the host numbers it. */
  holderPid: number;
  /** Where the host's /proc is inside (undefined when it was not bound). */
  hostProc?: string;
  /** The command prefix that runs a program inside (nsenter into its PID and mount namespaces). */
  enter: string[];
  close(): Promise<void>;
}

/** The host PIDs of a process's children. */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Waits until `pid` has a child; returns its host PID. */
export async function firstChild(pid: number, timeoutMs = 5000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [child] = childPids(pid);
    if (child) return child;
    if (Date.now() > deadline) throw new Error(`process ${pid} started no child within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function createPidNamespace({ bindHostProc = false } = {}): Promise<PidNamespace> {
  const hostProc = bindHostProc ? mkdtempSync(join(tmpdir(), 'kdelay-host-proc-')) : undefined;
  // What --mount-proc does (a private mount namespace, a new proc on /proc), with the host's bound first.
  const setup = [hostProc && `mount --bind /proc ${hostProc}`, 'mount -t proc -o nosuid,nodev,noexec proc /proc', 'exec sleep 3600'].filter(Boolean).join(' && ');
  const unshare: ChildProcess = spawn('unshare', ['--mount', '--propagation', 'private', '--pid', '--fork', 'sh', '-c', setup], { stdio: 'ignore' });
  const holderPid = await firstChild(unshare.pid!);
  // The mounts are made once the holder is sleep (exec'd): wait for that.
  for (const deadline = Date.now() + 5000; readFileSync(`/proc/${holderPid}/comm`, 'utf8').trim() !== 'sleep';) {
    if (Date.now() > deadline) throw new Error('the PID namespace did not come up');
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    holderPid,
    hostProc,
    enter: ['nsenter', `--target=${holderPid}`, '--pid', '--mount', '--'],
    close: () =>
      new Promise((resolve) => {
        // The bind mount was made in the namespace's private mount table: out here the folder is empty (rmdir: never recursive).
        const done = () => {
          if (hostProc) rmdirSync(hostProc);
          resolve();
        };
        if (unshare.exitCode !== null) return done();
        unshare.once('exit', done);
        process.kill(holderPid, 'SIGKILL'); // PID 1 gone: the kernel ends everything else inside
      }),
  };
}

/**
 * One window over a workload started inside `namespace`, with kdelay run
 * inside too: the window opens, the workload does its work (SIGUSR1, then
 * "done"), and Ctrl-C ends the window. `target` selects what to measure
 * (default: the workload's process). Returns kdelay's exit and output.
 */
export async function sampleInNamespace(
  namespace: PidNamespace,
  workload: RunningWorkload,
  options: Omit<KdelayStartOptions, 'wrapper'> = {},
  target: (string | number)[] = ['-p', workload.pid],
) {
  const kdelay = startKdelay([...target, '--sample-time', 30], { ...options, wrapper: namespace.enter });
  await kdelay.waitForOutput(/^# Start sampling/m);
  workload.kill('SIGUSR1');
  await workload.waitFor(/^done$/);
  process.kill(await firstChild(kdelay.child.pid!), 'SIGINT'); // kdelay itself: nsenter forwards no signals
  return kdelay.done;
}
