/**
 * Thread ids in a report as the user's PID namespace numbers them, and -t's
 * one thread: the probes count by the kernel's numbers (see
 * target/procfs.ts), the user reads kdelay's /proc.
 */
import type { PidNamespaces, Target } from '../target/procfs.js';
import type { CollectedSample } from './probe-set.js';

/** Renumbers (and with -t filters) a sample's rows and events in place; system-scope rows (tid 0) stay. */
export function inUserNumbers(sample: CollectedSample, target: Target, namespaces: PidNamespaces): CollectedSample {
  const only = target.kernelTid;
  if (!namespaces.translates && only === undefined) return sample;
  // A thread that exited before the report has no number left in the namespace: it keeps the kernel's.
  const userTid = (tid: number) => (tid === 0 ? 0 : only !== undefined && tid !== only ? undefined : (namespaces.userTid(target.kernelTgid, tid) ?? tid));
  for (const table of sample.tables.values()) table.mapTids(userTid);
  if (sample.events) {
    sample.events = sample.events.flatMap((event) => {
      const tid = userTid(event.tid);
      return tid === undefined ? [] : [{ ...event, tid }];
    });
  }
  return sample;
}
