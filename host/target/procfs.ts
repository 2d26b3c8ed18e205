/** What kdelay reads from /proc about the target. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { ExitCode, UserError } from '../cli/exit-codes.js';

const DEFAULT_TARGET = 'ovs-vswitchd';

function readComm(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').replace(/\n$/, '');
  } catch {
    return undefined;
  }
}

/** PIDs whose process name contains `name` (as psutil's name() test in the reference). */
export function findProcesses(name: string, procRoot = '/proc'): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync(procRoot)) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const comm = readComm(`${procRoot}/${entry}/comm`);
    if (comm?.includes(name)) pids.push(pid);
  }
  return pids.sort((a, b) => a - b);
}

/** The target: --pid if given (it must exist), else the single ovs-vswitchd. */
export function resolveTarget(pid: number | undefined, procRoot = '/proc'): number {
  if (pid !== undefined) {
    if (!existsSync(`${procRoot}/${pid}`)) throw new UserError(`no process with PID ${pid}`, ExitCode.UNAVAILABLE);
    return pid;
  }
  const candidates = findProcesses(DEFAULT_TARGET, procRoot);
  if (candidates.length === 0) {
    throw new UserError(`failed to find ${DEFAULT_TARGET}'s PID; is it running? Use -p PID for another process`, ExitCode.UNAVAILABLE);
  }
  if (candidates.length > 1) {
    throw new UserError(`multiple ${DEFAULT_TARGET} daemons running (${candidates.join(', ')}); use the -p option`, ExitCode.NOINPUT);
  }
  return candidates[0];
}

/** The thread's name as the reference shows it, `<unknown:PID/TID>` once it is gone. */
export function threadName(pid: number, tid: number, procRoot = '/proc'): string {
  return readComm(`${procRoot}/${pid}/task/${tid}/comm`) ?? `<unknown:${pid}/${tid}>`;
}

export function processExists(pid: number, procRoot = '/proc'): boolean {
  return existsSync(`${procRoot}/${pid}`);
}
