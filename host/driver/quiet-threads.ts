/**
 * Threads the accounting probe never saw: a thread asleep (or stopped) since
 * before kdelay attached, and all through the window, passes no hook, so its
 * window has no rows at all. /proc still says where it is, which is where it
 * was the whole window: its account is the window, in that one state.
 */
import { AccountState, AccountSyscallNr } from '../bundle/accounting-contract.js';
import { type SampleTables, tableFor } from '../model/section-table.js';
import type { ThreadWhereabouts } from '../system/procfs.js';

/** The nr of a sleep outside system calls. */
const { ACCOUNT_NO_SYSCALL } = AccountSyscallNr;

/** A thread of the target, by the kernel's number, and how to ask /proc where it is (read only when needed). */
export interface QuietCandidate {
  tid: number;
  whereabouts(): ThreadWhereabouts | undefined;
}

/**
 * Call only when the accounting probe ran (its table may be missing: no rows).
 * Adds a whole-window row to the "account" table for each candidate that
 * has none; /proc is read for those alone. A running thread with no row
 * gets none: it would have passed a scheduler hook.
 */
export function accountQuietThreads(tables: SampleTables, candidates: readonly QuietCandidate[], windowNs: number): void {
  if (windowNs <= 0) return;
  // Rows (tid; state, nr, count, ns), as the probe reports them (report/accounts.ts).
  const account = tableFor(tables, 'account', 4);
  const seen = new Set<number>();
  for (let row = 0; row < account.count; row++) seen.add(account.tid(row));
  for (const candidate of candidates) {
    if (seen.has(candidate.tid)) continue;
    const t = candidate.whereabouts();
    if (!t) continue;
    if (t.state === 'T' || t.state === 't') account.add(candidate.tid, undefined, [AccountState.ACCOUNT_STOPPED, ACCOUNT_NO_SYSCALL, 0, windowNs]);
    else if (t.state === 'S' || t.state === 'D' || t.state === 'I') {
      // Asleep in system call t.syscall, or (null) outside one: the probe's BLOCKED, with its nr.
      if (t.syscall !== undefined) account.add(candidate.tid, undefined, [AccountState.ACCOUNT_BLOCKED, t.syscall ?? ACCOUNT_NO_SYSCALL, 0, windowNs]);
    }
  }
}
