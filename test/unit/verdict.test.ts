/** The verdict's arithmetic and wording, table-tested on hand-made account rows and histograms (report/accounts.ts, verdict.ts, histograms.ts). */
import { describe, expect, it } from 'vitest';
import { AccountHist, AccountLife, AccountState } from '../../host/bundle/accounting-contract.js';
import { accountThreads, type AccountingInput, HIST_SLOTS } from '../../host/report/accounts.js';
import type { ThreadHistogram } from '../../host/model/sample.js';
import { histogramLines, percentileNs } from '../../host/report/histograms.js';
import { SectionTable, type SampleTables } from '../../host/model/section-table.js';
import { humanNs, verdictLine, verdictLines } from '../../host/report/verdict.js';

const MS = 1_000_000;
const NO_SYSCALL = 0xffffffff;
const names: Record<number, string> = { 202: 'futex', 230: 'clock_nanosleep', 0: 'read' };
/** The rows below name states as words; the probe reports the accounting contract's numbers. */
const STATE: Record<string, number> = {
  user: AccountState.ACCOUNT_USER,
  syscall: AccountState.ACCOUNT_SYSCALL,
  hardirq: AccountState.ACCOUNT_HARDIRQ,
  softirq: AccountState.ACCOUNT_SOFTIRQ,
  runnable: AccountState.ACCOUNT_RUNNABLE,
  blocked: AccountState.ACCOUNT_BLOCKED,
  stopped: AccountState.ACCOUNT_STOPPED,
  unknown: AccountState.ACCOUNT_UNKNOWN,
  born: AccountLife.ACCOUNT_BEFORE_BIRTH,
  exited: AccountLife.ACCOUNT_AFTER_EXIT,
};
const HIST_KIND: Record<string, number> = { run_queue: AccountHist.ACCOUNT_HIST_RUN_QUEUE, syscall: AccountHist.ACCOUNT_HIST_SYSCALL };

function tables(
  rows: [number, string, number, number, number][],
  delayers: [number, string, number, number, number][] = [],
  hist: [number, string, number, number, number][] = [],
): AccountingInput {
  const t: SampleTables = new Map();
  const account = new SectionTable('account', 4);
  for (const [tid, state, nr, count, ns] of rows) account.add(tid, undefined, [STATE[state], nr, count, ns]);
  t.set('account', account);
  const d = new SectionTable('delayers', 3);
  for (const [tid, comm, pid, count, ns] of delayers) d.add(tid, comm, [pid, count, ns]);
  t.set('delayers', d);
  // Bucket rows (tid, kind, nr, slot, count) -> one histogram per (tid, kind, nr), as report_histograms hands them over.
  const histograms: ThreadHistogram[] = [];
  for (const [tid, kind, nr, slot, count] of hist) {
    let h = histograms.find((x) => x.tid === tid && x.kind === HIST_KIND[kind] && x.nr === nr);
    if (!h) histograms.push((h = { tid, kind: HIST_KIND[kind], nr, slots: new Uint32Array(HIST_SLOTS) }));
    (h.slots as Uint32Array)[slot] += count;
  }
  return { tables: t, histograms };
}
const accounts = (t: AccountingInput, windowNs = 1000 * MS) =>
  accountThreads(
    t,
    windowNs,
    (tid) => `t${tid}`,
    (nr) => names[nr] ?? `[unknown: ${nr}]`,
  )!;

describe('the verdict', () => {
  it("splits kernel delay from the thread's own choice, and sorts by kernel delay", () => {
    const [first, second] = accounts(
      tables(
        [
          [1, 'user', NO_SYSCALL, 0, 100 * MS],
          [1, 'blocked', 202, 3, 880 * MS],
          [1, 'runnable', NO_SYSCALL, 2, 20 * MS],
          [2, 'user', NO_SYSCALL, 0, 500 * MS],
          [2, 'runnable', NO_SYSCALL, 40, 240 * MS],
          [2, 'hardirq', NO_SYSCALL, 9, 40 * MS],
          [2, 'blocked', NO_SYSCALL, 30, 30 * MS],
          [2, 'stopped', NO_SYSCALL, 1, 100 * MS],
          [2, 'syscall', 0, 0, 90 * MS],
        ],
        [
          [2, 'noisy', 77, 30, 200 * MS],
          [2, 'swapper/0', 0, 10, 40 * MS],
        ],
      ),
    );
    expect(first.tid).toBe(2);
    expect(first.kernelDelayNs).toBe(240 * MS + 40 * MS + 30 * MS + 100 * MS);
    expect(first.unaccountedNs).toBe(0);
    expect(verdictLine(first)).toBe(
      't2 [2]  kernel delay 41.0% of 1.00 s: waiting for CPU 24.0% (40 waits; behind: noisy [77] 83%, the idle CPU waking up 17%), hard IRQ 4.0%, page faults 3.0% (30 sleeps), stopped 10.0%; its own choice: on CPU 59.0% (user 50.0%, in syscalls 9.0%, most in read)',
    );
    expect(second.kernelDelayNs).toBe(20 * MS);
    expect(verdictLine(second)).toBe('t1 [1]  kernel delay 2.0% of 1.00 s: waiting for CPU 2.0% (2 waits); its own choice: blocked in futex 88.0%, on CPU 10.0%');
  });

  it('shows what the window could not place, and leaves threads under 1% (or 1 ms) to one line', () => {
    const list = accounts(
      tables([
        [5, 'blocked', 230, 1, 995 * MS],
        [5, 'runnable', NO_SYSCALL, 1, 4 * MS],
        [6, 'user', NO_SYSCALL, 0, 1000 * MS],
      ]),
    );
    expect(list.map((t) => [t.tid, t.unaccountedNs])).toEqual([
      [5, MS],
      [6, 0],
    ]);
    expect(verdictLines(list, 1000 * MS)).toEqual([
      '',
      '# VERDICT: kernel delay = waiting for a CPU + IRQs + page faults + stopped, per thread, of the 1.00 s window:',
      '  No thread was delayed by the kernel for 1% of the window or more: if it is slow, it is slow on its own.',
      '  2 other threads: kernel delay under 1% (or 1.00 ms) each',
    ]);
  });

  it('derives percentiles from log2 buckets and prints them as runqlat does', () => {
    const [t] = accounts(
      tables(
        [
          [3, 'runnable', NO_SYSCALL, 100, 50 * MS],
          [3, 'user', NO_SYSCALL, 0, 950 * MS],
        ],
        [],
        [
          [3, 'run_queue', NO_SYSCALL, 10, 98],
          [3, 'run_queue', NO_SYSCALL, 20, 2],
          [3, 'syscall', 230, 24, 10],
        ],
      ),
    );
    expect(t.runQueueHist![10]).toBe(98);
    expect(percentileNs(t.runQueueHist!, 0.5)).toBe(2048);
    expect(percentileNs(t.runQueueHist!, 0.99)).toBe(2 ** 21);
    expect(percentileNs([0, 0], 0.5)).toBeUndefined();
    expect(t.syscallHists).toEqual([{ syscall: 'clock_nanosleep', nr: 230, slots: expect.any(Array) }]);
    expect(histogramLines('nsecs', [0, 3, 0, 6])).toEqual([
      '     nsecs               : count     distribution',
      '         2 -> 3          : 3        |********************                    |',
      '         4 -> 7          : 0        |                                        |',
      '         8 -> 15         : 6        |****************************************|',
    ]);
    expect(verdictLine(t)).toContain('waiting for CPU 5.0% (100 waits, p50 < 2.05 us, p99 < 2.10 ms)');
  });

  it('formats durations with three significant digits', () => {
    expect([999, 1000, 15_500, 2_100_000, 12_345_678_901].map(humanNs)).toEqual(['999 ns', '1.00 us', '15.5 us', '2.10 ms', '12.3 s']);
  });

  it('closes the account of a thread born or exited inside the window at its birth and exit, and says so', () => {
    const [t] = accounts(
      tables([
        [7, 'born', NO_SYSCALL, 1, 200 * MS],
        [7, 'exited', NO_SYSCALL, 1, 300 * MS],
        [7, 'user', NO_SYSCALL, 0, 400 * MS],
        [7, 'runnable', NO_SYSCALL, 5, 100 * MS],
      ]),
    );
    expect([t.aliveNs, t.unaccountedNs, t.exited, t.complete]).toEqual([500 * MS, 0, true, true]);
    expect(verdictLine(t)).toBe(
      't7 [7] (started 200 ms, exited 700 ms into the window)  kernel delay 20.0% of 500 ms: waiting for CPU 20.0% (5 waits); its own choice: on CPU 80.0%',
    );
  });

  it('shows time it cannot place as not known, never as a system call (-1 or "since before kdelay")', () => {
    const [t] = accounts(
      tables([
        [8, 'user', NO_SYSCALL, 0, 600 * MS],
        [8, 'syscall', NO_SYSCALL, 0, 100 * MS],
        [8, 'syscall', NO_SYSCALL - 1, 0, 100 * MS],
        [8, 'unknown', NO_SYSCALL, 0, 200 * MS],
      ]),
    );
    expect(t.syscalls).toEqual([]);
    expect(t.unknown.ns).toBe(400 * MS);
    expect(verdictLine(t)).toBe('t8 [8]  kernel delay 0.0% of 1.00 s; its own choice: on CPU 60.0%; not known 40.0%');
  });

  it('gives a thread whose states do not add up (lost events) no verdict, and says why', () => {
    const list = accounts(
      tables([
        [9, 'runnable', NO_SYSCALL, 3, 300 * MS],
        [9, 'user', NO_SYSCALL, 0, 600 * MS],
        [10, 'user', NO_SYSCALL, 0, 989 * MS],
      ]),
    );
    const [nine, ten] = [list.find((t) => t.tid === 9)!, list.find((t) => t.tid === 10)!];
    // 100 ms missing is more than 1% + 1 ms; 11 ms is not.
    expect([nine.complete, ten.complete]).toEqual([false, true]);
    expect(verdictLine(nine)).toBe('t9 [9]  account incomplete: 100 ms of its 1.00 s not seen (kdelay lost some of its events); no verdict');
    expect(verdictLines(list, 1000 * MS).slice(2)).toEqual([
      '  t9 [9]  account incomplete: 100 ms of its 1.00 s not seen (kdelay lost some of its events); no verdict',
      '  No thread was delayed by the kernel for 1% of the window or more: if it is slow, it is slow on its own.',
      '  1 other thread: kernel delay under 1% (or 1.00 ms) each',
    ]);
    const many = accounts(tables(Array.from({ length: 6 }, (_, i) => [20 + i, 'user', NO_SYSCALL, 0, 10 * MS] as [number, string, number, number, number])));
    expect(verdictLines(many, 1000 * MS)[2]).toBe('  6 threads: account incomplete (kdelay lost some of their events: see the warnings); no verdict for them');
  });
});
