/** The text report's "# SYSCALL EVENTS:" table (with -s), in the reference's layout. Pure. */
import type { EventLine } from '../model/sample.js';
import { withThousands } from './integers.js';

/**
 * The reference's "# SYSCALL EVENTS:" table: one line per event in arrival
 * order, then (when stacks are on) its kernel frames and its user frames.
 * A call that blocked shows, instead of the kernel's syscall-exit path (the
 * same few frames for every call, kept in JSON and recordings), the kernel
 * stack where it waited longest, under a line that says so: with the user
 * frames after it, one stack from the wait down to main(). A call that never
 * left the CPU blocked keeps the reference's layout.
 * Returns the lines and how many events had no stack to show.
 */
export function formatSyscallEvents(events: EventLine[], threadName: (tid: number) => string, stacks: boolean): { lines: string[]; lostStacks: number } {
  const lines = [
    '',
    '',
    '# SYSCALL EVENTS:',
    `  ${'ENTRY (ns)'.padStart(19)} ${'EXIT (ns)'.padStart(19)} ${'TID'.padStart(10)} ${'COMM'.padEnd(16)} ${'DELTA (us)'.padStart(10)}  SYSCALL`,
    `  ${'-'.repeat(19)} ${'-'.repeat(19)} ${'-'.repeat(10)} ${'-'.repeat(16)} ${'-'.repeat(10)}  ${'-'.repeat(16)}`,
  ];
  let lostStacks = 0;
  const frame = ' '.repeat(10);
  for (const e of events) {
    const deltaUs = (e.exitNs - e.entryNs) / 1000n; // int() truncation, as the reference
    lines.push(
      `  ${e.entryNs.toString().padStart(19)} ${e.exitNs.toString().padStart(19)} ${String(e.tid).padStart(10)} ` +
        `${threadName(e.tid).padEnd(16)} ${withThousands(deltaUs).padStart(10)}  ${e.name}`,
    );
    if (!stacks) continue;
    const blocked = e.blocked;
    if (!e.kernelFrames || !e.userFrames || (blocked && !blocked.kernelFrames)) lostStacks++;
    if (blocked?.kernelFrames) {
      const times = blocked.count === 1 ? 'once' : `longest of ${blocked.count} times`;
      lines.push(`${frame}-- blocked ${withThousands(blocked.ns / 1000n)} us off the CPU (${times}), kernel stack at its switch-out:`);
    }
    for (const f of blocked?.kernelFrames ?? e.kernelFrames ?? []) lines.push(frame + f);
    for (const f of e.userFrames ?? []) lines.push(frame + f);
  }
  return { lines, lostStacks };
}

/** The reference's note after the events table when stacks were missing. */
export function lostStacksNote(count: number): string[] {
  return [
    '',
    `#WARNING: We were not able to display ${count} stack traces!`,
    '#         Consider increasing the stack trace size using',
    "#         the '--stack-trace-size' option.",
    '#         Note that this can also happen due to a stack id',
    '#         collision.',
  ];
}
