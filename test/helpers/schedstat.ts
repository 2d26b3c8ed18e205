/** The kernel's own per-thread scheduler accounting, to check kdelay against. */
import { readdirSync, readFileSync } from 'node:fs';

export interface SchedStat {
  runNs: number;
  waitNs: number;
  timeslices: number;
}

/** /proc/PID/task/TID/schedstat: time on CPU, time waiting on a run queue, timeslices run. */
export function schedstat(pid: number, tid: number): SchedStat {
  const [runNs, waitNs, timeslices] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
  return { runNs, waitNs, timeslices };
}

/** Thread ids of a process by thread name. */
export function threadsByName(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    out.set(readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim(), Number(tid));
  }
  return out;
}

export function schedstatsByName(pid: number): Map<string, SchedStat> {
  return new Map([...threadsByName(pid)].map(([name, tid]) => [name, schedstat(pid, tid)]));
}

/**
 * Time the hypervisor stole from a CPU so far (/proc/stat, USER_HZ ticks of
 * 10 ms). With CONFIG_PARAVIRT_TIME_ACCOUNTING a task's schedstat run time
 * excludes it, while an on-CPU stretch measured from switch-in to switch-out
 * includes it: comparisons of the two must allow for it.
 */
export function stealNs(cpu: number): number {
  const line = readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`cpu${cpu} `))!;
  return Number(line.trim().split(/\s+/)[8]) * 10_000_000;
}
