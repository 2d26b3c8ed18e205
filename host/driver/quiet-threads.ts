/**
 * Threads the accounting probe never saw: a thread asleep (or stopped) since
 * before kdelay attached, and all through the window, passes no hook, so its
 * window has no rows at all. /proc still says where it is, which is where it
 * was the whole window: its account is the window, in that one state.
 */
import { type SampleTables, tableFor } from '../report/section-table.js';
import type { ThreadWhereabouts } from '../target/procfs.js';

/** probes/account/account.bpf.c: ACCOUNT_NO_SYSCALL, the nr of a sleep outside system calls. */
const NO_SYSCALL = 0xffffffff;

/**
 * Call only when the accounting probe ran (its table may be missing: no rows).
 * Adds a whole-window row to the "account" table for each thread in
 * `threads` (kernel numbers) that has none. A running thread with no
 * row gets none: it would have passed a scheduler hook.
 */
export function accountQuietThreads(tables: SampleTables, threads: readonly ThreadWhereabouts[], windowNs: number): void {
  if (windowNs <= 0) return;
  const account = tableFor(tables, 'account', 3);
  const seen = new Set<number>();
  for (let row = 0; row < account.count; row++) seen.add(account.tid(row));
  for (const t of threads) {
    if (seen.has(t.tid)) continue;
    if (t.state === 'T' || t.state === 't') account.add(t.tid, 'stopped', [NO_SYSCALL, 0, windowNs]);
    else if (t.state === 'S' || t.state === 'D' || t.state === 'I') {
      // Asleep in system call t.syscall, or (null) outside one: the probe's BLOCKED, with its nr.
      if (t.syscall !== undefined) account.add(t.tid, 'blocked', [t.syscall ?? NO_SYSCALL, 0, windowNs]);
    }
  }
}
