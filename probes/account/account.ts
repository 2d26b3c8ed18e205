// account probe, user half: turns account.bpf.c's maps into the rows the
// host's verdict reads (sections "account" and "delayers", hidden from the
// text tables, see manifest.json) and, with --hist, histograms
// (report_histograms). The states, markers and histogram kinds are the
// accounting contract, declared once in probes/include/kdelay_records.bpf.h.

import { ACCOUNT_MAPS, BpfObject, cstr, detachRuntimeAfterWarmup, MapSnapshot, option, readGate, PercpuCounter, RowBatch, TidSet, warn, warnIfMapsWereFull } from '../lib/kdelay';
import { HistogramBatch } from '../lib/histograms';
import { wasm_bpf_map_operate } from '../lib/imports';
import {
  ACCOUNT_AFTER_EXIT,
  ACCOUNT_BEFORE_BIRTH,
  ACCOUNT_BLOCKED,
  ACCOUNT_HIST_SLOTS,
  ACCOUNT_NO_SYSCALL,
  ACCOUNT_STATES,
  ACCOUNT_SYSCALL,
  ACCOUNT_UNKNOWN,
  ACCOUNT_UNKNOWN_SYSCALL,
  ACCOUNT_USER,
} from '../lib/build/shared.layout';
import { BPF_OBJECT, BPF_OBJECT_SIZE } from './build/account.bpf';

const BPF_MAP_DELETE_ELEM = 3;
import {
  attachAll,
  Maps,
  ACCOUNT_THREAD_MAX_ENTRIES,
  ACCOUNT_HIST_MAX_ENTRIES,
  accountKeyNr,
  accountKeyState,
  accountKeyTid,
  accountTailKey,
  accountTailNr,
  accountTailNs,
  accountTailState,
  ACCOUNT_THREAD_SUM_COUNT_OFFSET,
  ACCOUNT_THREAD_SUM_NS_OFFSET,
  accountThreadBlockedNr,
  accountThreadDead,
  accountThreadBornNs,
  accountThreadExitNs,
  accountThreadKey,
  accountThreadIrqNs,
  accountThreadNr,
  accountThreadSince,
  accountThreadState,
  accountThreadSyscallNr,
  accountThreadSyscall2Count,
  accountThreadSyscall2Nr,
  accountThreadSyscall2Ns,
  accountThreadWindow,
  accountValueCount,
  accountValueTotalNs,
  DELAYER_VALUE_COMM_LENGTH,
  DELAYER_VALUE_COMM_OFFSET,
  delayerKeyCulprit,
  delayerKeyTid,
  delayerValueCount,
  delayerValueTotalNs,
  ACCOUNT_HISTOGRAM_VALUE_SLOTS_OFFSET,
  accountHistogramKeyKind,
  accountHistogramKeyNr,
  accountHistogramKeyTid,
} from './build/account.layout';

const DEFAULT_ENTRIES: u32 = <u32>ACCOUNT_THREAD_MAX_ENTRIES;

let obj!: BpfObject;
let entries: u32 = 0;
let rowEntries: u32 = 0;
let histOn = false;
let maps!: Maps;
let time!: MapSnapshot;
let threads!: MapSnapshot;
let tails!: MapSnapshot;
let delayers!: MapSnapshot;
let hist: MapSnapshot | null = null;
let missedSwitches!: PercpuCounter;
let accountRows!: RowBatch;
let delayerRows!: RowBatch;
let histograms!: HistogramBatch;
let tailed!: TidSet;
// Each delayer row's comm as a NUL-terminated label, one slot per entry of
// the delayers map: rewritten every collect, never reallocated.
let commLabels: usize = 0;
const COMM_LABEL_SIZE: i32 = DELAYER_VALUE_COMM_LENGTH + 1;

/** Threads sized for by default: 4 times the target's threads when kdelay starts, at least DEFAULT_ENTRIES, at most this. */
const MAX_DEFAULT_ENTRIES: u32 = 1 << 20;
/** Rows per thread in the maps keyed by (thread, something): states and system calls, delayers, histograms. */
const ROWS_PER_THREAD: u32 = 4;
const MAX_ROWS: u32 = 1 << 22;

/**
 * The per-thread maps hold every thread seen in a window (those that exited
 * in it too, until the reset after its report): sized for 4 times the
 * target's threads at start (at least 16384: thread churn), or
 * account.max_entries. Threads that do not fit are counted as dropped
 * measurements, and a thread whose account lost events is reported
 * incomplete by the verdict, never with made-up sums.
 */
function threadEntries(): u32 {
  const chosen = <u32>option('account.max_entries', 0);
  if (chosen > 0) return chosen;
  const threads = <u64>option('account.target_threads', 0) * 4;
  const entries = threads > <u64>DEFAULT_ENTRIES ? threads : <u64>DEFAULT_ENTRIES;
  return entries > <u64>MAX_DEFAULT_ENTRIES ? MAX_DEFAULT_ENTRIES : <u32>entries;
}

// The host runs every probe's kdelay_probe_load, loads their objects one
// after another (host/libbpf/libbpf-backend.ts: load), then runs every
// kdelay_probe_attach; kdelay_probe_init is the two in a row, for a host
// that knows only it.
export function kdelay_probe_load(): i32 {
  entries = threadEntries();
  rowEntries = <u64>entries * ROWS_PER_THREAD > <u64>MAX_ROWS ? MAX_ROWS : entries * ROWS_PER_THREAD;
  histOn = option('account.hist', 0) != 0;
  const cpus = <u32>option('possible_cpus', 1);
  obj = BpfObject.openProbe(BPF_OBJECT, BPF_OBJECT_SIZE);
  // The maps the sched and syscalls probes' programs update too (kdelay_account.bpf.h): made here, at these sizes (account.wasm loads first).
  for (let i = 0; i < ACCOUNT_MAPS.length; i++) obj.shareMap(ACCOUNT_MAPS[i]);
  if (option('account.sched_probe', 0)) {
    // The sched probe's programs do this probe's work at its hooks: four programs fewer there.
    obj.setAutoload('account_switch', false);
    obj.setAutoload('account_runtime', false);
    obj.setAutoload('account_wakeup', false);
    obj.setAutoload('account_wakeup_new', false);
  }
  if (option('account.syscalls_probe', 0)) {
    // The syscalls probe's sys_enter and sys_exit do this probe's work there: two programs fewer per system call.
    obj.setAutoload('account_sys_exit', false);
    obj.setAutoload('account_sys_enter', false);
  }
  obj.setMaxEntries('account_thread', entries);
  obj.setMaxEntries('account_time', rowEntries);
  obj.setMaxEntries('account_tail', entries);
  obj.setMaxEntries('delayers', rowEntries);
  obj.setMaxEntries('waiters', cpus);
  // Without --hist the histogram map is never written: keep it minimal.
  const histEntries = histOn ? (rowEntries / 2 > <u32>ACCOUNT_HIST_MAX_ENTRIES ? rowEntries / 2 : <u32>ACCOUNT_HIST_MAX_ENTRIES) : 1;
  obj.setMaxEntries('account_hist', histEntries);
  obj.setBool('account_hist_enabled', histOn);
  obj.load();
  return obj.result();
}

export function kdelay_probe_attach(): i32 {
  // In account.bpf.c's order: context switches first (a wake-up seen before them would leave its thread waiting through a switch-in not seen).
  maps = attachAll(obj);
  // Without the sched probe, whose programs do this work then, its own sched_stat_runtime.
  if (!option('account.sched_probe', 0)) detachRuntimeAfterWarmup(obj, 'account_runtime', 'account.runtime_warmup_ms');
  if (obj.error) return obj.result();
  missedSwitches = new PercpuCounter(maps.missedSwitches.fd);
  const n = <i32>entries;
  const rowsN = <i32>rowEntries;
  time = maps.accountTime.snapshot();
  threads = maps.accountThread.snapshot();
  tails = maps.accountTail.snapshot();
  delayers = maps.delayers.snapshot();
  if (histOn) hist = maps.accountHist.snapshot();
  accountRows = new RowBatch(cstr('account'), 4);
  delayerRows = new RowBatch(cstr('delayers'), 3);
  histograms = new HistogramBatch(ACCOUNT_HIST_SLOTS);
  tailed = new TidSet(n);
  commLabels = changetype<usize>(new ArrayBuffer(rowsN * COMM_LABEL_SIZE));
  return 0;
}

export function kdelay_probe_init(): i32 {
  const err = kdelay_probe_load();
  return err < 0 ? err : kdelay_probe_attach();
}

/** Delayer row i's comm, as a label that stays unchanged until the next collect. */
function commLabel(i: i32, comm: usize): usize {
  const label = commLabels + <usize>(i * COMM_LABEL_SIZE);
  memory.copy(label, comm, DELAYER_VALUE_COMM_LENGTH);
  store<u8>(label + <usize>DELAYER_VALUE_COMM_LENGTH, 0);
  return label;
}

/** One row of the "account" section: (tid; state, nr, count, ns), state an enum account_state or account_life. */
function accountRow(tid: u32, state: u32, nr: u32, count: u64, ns: u64): void {
  accountRows.row(tid, 0).add(state).add(nr).add(count).add(ns);
}

/**
 * Rows (tid, state, nr) -> [nr, count, ns]: the kernel's sums, plus each
 * thread's tail, the segment it was in when the window closed, clipped to
 * the close: from account_tail if the kernel clipped it (the thread has
 * moved on since), else from account_thread. account_thread is read before
 * account_tail, so a thread moving on between the two reads is seen in at
 * least one, and a tail in account_tail wins. account_time is read before
 * both: with the gate open (catch mode's snapshots, serve) the kernel moves
 * a record's held sum into account_time when the thread's system call
 * changes, and a move between the reads is then in neither (it arrives in
 * the next snapshot, which differences never see below zero), where the
 * other order had it in both (a sum counted twice, and the next snapshot's
 * difference clamped). A (tid, state, nr) may come in more than one
 * row (the kernel's moved sums, the record's, the tail): the host adds them
 * up. A thread born or exited inside the window has an ACCOUNT_BEFORE_BIRTH
 * or ACCOUNT_AFTER_EXIT row for the part of the window it did not live. Nothing is allocated:
 * rows go to the RowBatch as they are read.
 */
function reportAccount(): i32 {
  let err = time.read();
  if (err < 0) return err;
  err = threads.read();
  if (err < 0) return err;
  err = tails.read();
  if (err < 0) return err;
  const gate = readGate(maps.kdelayGate.fd);
  const start = gate.windowStartNs;
  const stop = gate.windowStopNs;

  for (let i = 0; i < time.count; i++) {
    const k = time.key(i);
    const v = time.value(i);
    accountRow(accountKeyTid(k), accountKeyState(k), accountKeyNr(k), accountValueCount(v), accountValueTotalNs(v));
  }
  // The sums each thread's record holds for this window.
  for (let i = 0; i < threads.count; i++) {
    const v = threads.value(i);
    if (accountThreadWindow(v) != start || stop == 0) continue;
    const tid = accountThreadKey(threads.key(i));
    for (let s: u32 = 0; s < <u32>ACCOUNT_STATES; s++) {
      const ns = load<u64>(v + <usize>(ACCOUNT_THREAD_SUM_NS_OFFSET + s * 8));
      const count = load<u64>(v + <usize>(ACCOUNT_THREAD_SUM_COUNT_OFFSET + s * 8));
      if (ns == 0 && count == 0) continue;
      const nr = s == ACCOUNT_SYSCALL ? accountThreadSyscallNr(v) : s == ACCOUNT_BLOCKED ? accountThreadBlockedNr(v) : ACCOUNT_NO_SYSCALL;
      accountRow(tid, s, nr, count, ns);
    }
    if (accountThreadSyscall2Ns(v) != 0 || accountThreadSyscall2Count(v) != 0)
      accountRow(tid, ACCOUNT_SYSCALL, accountThreadSyscall2Nr(v), accountThreadSyscall2Count(v), accountThreadSyscall2Ns(v));
  }
  tailed.clear();
  for (let i = 0; i < tails.count; i++) {
    const tid = accountTailKey(tails.key(i));
    const v = tails.value(i);
    tailed.add(tid);
    accountRow(tid, accountTailState(v), accountTailNr(v), 0, accountTailNs(v));
  }
  if (stop == 0) return accountRows.flush();
  for (let i = 0; i < threads.count; i++) {
    const tid = accountThreadKey(threads.key(i));
    const v = threads.value(i);
    const since = accountThreadSince(v);
    const born = accountThreadBornNs(v);
    const exited = accountThreadExitNs(v);
    // Its life in the window: what lies outside it is reported as such, so that every thread's rows add up to the window.
    if (born > start && born < stop) accountRow(tid, ACCOUNT_BEFORE_BIRTH, ACCOUNT_NO_SYSCALL, 1, born - start);
    if (exited > start && exited < stop) accountRow(tid, ACCOUNT_AFTER_EXIT, ACCOUNT_NO_SYSCALL, 1, stop - exited);
    // An exited thread's last segment ended when it did (its sums hold it).
    if (tailed.has(tid) || since >= stop || accountThreadDead(v)) continue;
    const state = accountThreadState(v);
    const onCpu = state == ACCOUNT_USER || state == ACCOUNT_SYSCALL || state == ACCOUNT_UNKNOWN;
    const nr = state == ACCOUNT_SYSCALL || state == ACCOUNT_BLOCKED ? accountThreadNr(v) : ACCOUNT_NO_SYSCALL;
    let ns = stop - (since > start ? since : start);
    const irq = accountThreadIrqNs(v);
    ns = ns > irq ? ns - irq : 0;
    // A wait, sleep or stop that began inside the window and is still going on counts once.
    const begun: u64 = !onCpu && since >= start ? 1 : 0;
    // On a CPU in a system call it cannot name: the kernel's rule (transition()), not known.
    if (state == ACCOUNT_SYSCALL && nr >= <u32>ACCOUNT_UNKNOWN_SYSCALL) accountRow(tid, <u32>ACCOUNT_UNKNOWN, <u32>ACCOUNT_NO_SYSCALL, begun, ns);
    else accountRow(tid, state, nr, begun, ns);
  }
  return accountRows.flush();
}

function reportDelayers(): i32 {
  const err = delayers.read();
  if (err < 0) return err;
  for (let i = 0; i < delayers.count; i++) {
    const k = delayers.key(i);
    const v = delayers.value(i);
    delayerRows
      .row(delayerKeyTid(k), commLabel(i, v + DELAYER_VALUE_COMM_OFFSET))
      .add(delayerKeyCulprit(k))
      .add(delayerValueCount(v))
      .add(delayerValueTotalNs(v));
  }
  return delayerRows.flush();
}

/** Each (thread, kind, nr) histogram as it is: ACCOUNT_HIST_SLOTS buckets, slot s for [2^s, 2^(s+1)) ns. */
function reportHistograms(h: MapSnapshot): i32 {
  const err = h.read();
  if (err < 0) return err;
  for (let i = 0; i < h.count; i++) {
    const k = h.key(i);
    histograms.add(accountHistogramKeyTid(k), accountHistogramKeyKind(k), accountHistogramKeyNr(k), h.value(i) + <usize>ACCOUNT_HISTOGRAM_VALUE_SLOTS_OFFSET);
  }
  return histograms.flush();
}

export function kdelay_probe_collect(): i32 {
  let err = reportAccount();
  if (err < 0) return err;
  err = reportDelayers();
  if (err < 0) return err;
  const h = hist;
  if (h) {
    err = reportHistograms(h);
    if (err < 0) return err;
  }
  warnIfMapsWereFull(maps.kdelayMapFull.fd, 'account');
  const missed = missedSwitches.grew();
  if (missed > 0) {
    warn(missed.toString() + ' context switches of the target were not seen: the time around them is in the verdict as not known');
  }
  return 0;
}

/** Deletes the records of threads that exited: their sums were reported by the last collect. */
function forgetExitedThreads(): i32 {
  const err = threads.read();
  if (err < 0) return err;
  for (let i = 0; i < threads.count; i++) {
    if (!accountThreadDead(threads.value(i))) continue;
    const deleted = wasm_bpf_map_operate(threads.fd, BPF_MAP_DELETE_ELEM, threads.key(i), 0, 0, 0);
    if (deleted < 0 && deleted != -2 /* ENOENT: already gone */) return deleted;
  }
  return 0;
}

export function kdelay_probe_reset(): i32 {
  // Other account_thread records and waiters stay: they describe what each
  // thread and run queue is doing now, which the next window starts from;
  // their sums start afresh when the kernel first adds to them in the next.
  let err = forgetExitedThreads();
  if (err == 0) err = time.clear();
  if (err == 0) err = tails.clear();
  if (err == 0) err = delayers.clear();
  const h = hist;
  if (err == 0 && h) err = h.clear();
  return err;
}
