// account probe, user half: turns account.bpf.c's maps into the rows the
// host's verdict and histograms read (sections "account", "delayers",
// "histogram"; hidden from the text tables, see manifest.json).

import { BpfObject, cstr, MapSnapshot, option, readGate, PercpuCounter, RowBatch, warn, warnIfMapsWereFull } from "../lib/kdelay";
import { wasm_bpf_map_operate } from "../lib/imports";
import { BPF_OBJECT, BPF_OBJECT_SIZE } from "./build/account.bpf";

const BPF_MAP_DELETE_ELEM = 3;
import {
  ACCOUNT_HIST_RUN_QUEUE, ACCOUNT_HIST_SLOTS, ACCOUNT_NO_SYSCALL, ACCOUNT_BLOCKED, 
  ACCOUNT_SYSCALL, ACCOUNT_USER,
  ACCOUNT_TAIL_KEY_SIZE, ACCOUNT_TAIL_VALUE_SIZE, ACCOUNT_THREAD_KEY_SIZE, ACCOUNT_THREAD_MAX_ENTRIES, ACCOUNT_THREAD_VALUE_SIZE,
  ACCOUNT_TIME_KEY_SIZE, ACCOUNT_TIME_VALUE_SIZE, ACCOUNT_HIST_KEY_SIZE, ACCOUNT_HIST_MAX_ENTRIES, ACCOUNT_HIST_VALUE_SIZE,
  accountKeyNr, accountKeyState, accountKeyTid, accountTailKey, accountTailNr, accountTailNs, accountTailState,
  ACCOUNT_STATES, ACCOUNT_THREAD_SUM_COUNT_OFFSET, ACCOUNT_THREAD_SUM_NS_OFFSET, accountThreadBlockedNr, accountThreadDead,
  accountThreadKey, accountThreadIrqNs, accountThreadNr, accountThreadSince, accountThreadState, accountThreadSyscallNr, accountThreadWindow,
  accountValueCount, accountValueTotalNs, DELAYER_VALUE_COMM_LENGTH, DELAYER_VALUE_COMM_OFFSET, DELAYERS_KEY_SIZE,
  DELAYERS_VALUE_SIZE, delayerKeyCulprit, delayerKeyTid, delayerValueCount, delayerValueTotalNs,
  HIST_VALUE_SLOTS_OFFSET, histKeyKind, histKeyNr, histKeyTid,
} from "./build/account.layout";

const DEFAULT_ENTRIES: u32 = <u32>ACCOUNT_THREAD_MAX_ENTRIES;

let obj!: BpfObject;
let time!: MapSnapshot;
let threads!: MapSnapshot;
let tails!: MapSnapshot;
let delayers!: MapSnapshot;
let hist: MapSnapshot | null = null;
let gateFd: i32 = -1;
let mapFullFd: i32 = -1;
let missedSwitches!: PercpuCounter;
let accountRows!: RowBatch;
let delayerRows!: RowBatch;
let histRows!: RowBatch;

// Labels: the state names the host's verdict reads (host/report/verdict.ts).
const STATE_NAMES: string[] = ["user", "syscall", "hardirq", "softirq", "runnable", "blocked", "stopped"];
const stateLabels = new Array<usize>();
const commLabels = new Map<string, usize>();
let runQueueLabel: usize = 0;
let syscallLabel: usize = 0;

export function kdelay_probe_init(): i32 {
  const entries = <u32>option("account.max_entries", DEFAULT_ENTRIES);
  const histOn = option("account.hist", 0) != 0;
  const cpus = <u32>option("possible_cpus", 1);
  obj = BpfObject.openProbe(BPF_OBJECT, BPF_OBJECT_SIZE);
  obj.setMaxEntries("account_thread", entries);
  obj.setMaxEntries("account_time", entries);
  obj.setMaxEntries("account_tail", entries);
  obj.setMaxEntries("delayers", entries);
  obj.setMaxEntries("waiters", cpus);
  // Without --hist the histogram map is never written: keep it minimal.
  obj.setMaxEntries("account_hist", histOn ? <u32>ACCOUNT_HIST_MAX_ENTRIES : 1);
  obj.setBool("hist_enabled", histOn);
  obj.load();
  obj.attach("account_wakeup");
  obj.attach("account_wakeup_new");
  obj.attach("account_switch");
  obj.attach("account_runtime");
  obj.attach("account_sys_enter");
  obj.attach("account_sys_exit");
  obj.attach("account_hardirq_entry");
  obj.attach("account_hardirq_exit");
  obj.attach("account_softirq_entry");
  obj.attach("account_softirq_exit");
  const timeFd = obj.mapFd("account_time");
  const threadFd = obj.mapFd("account_thread");
  const tailFd = obj.mapFd("account_tail");
  const delayerFd = obj.mapFd("delayers");
  const histFd = obj.mapFd("account_hist");
  gateFd = obj.mapFd("kdelay_gate");
  mapFullFd = obj.mapFd("kdelay_map_full");
  const missedFd = obj.mapFd("missed_switches");
  if (obj.error) return obj.result();
  missedSwitches = new PercpuCounter(missedFd);
  const n = <i32>entries;
  time = new MapSnapshot(timeFd, ACCOUNT_TIME_KEY_SIZE, ACCOUNT_TIME_VALUE_SIZE, n);
  threads = new MapSnapshot(threadFd, ACCOUNT_THREAD_KEY_SIZE, ACCOUNT_THREAD_VALUE_SIZE, n);
  tails = new MapSnapshot(tailFd, ACCOUNT_TAIL_KEY_SIZE, ACCOUNT_TAIL_VALUE_SIZE, n);
  delayers = new MapSnapshot(delayerFd, DELAYERS_KEY_SIZE, DELAYERS_VALUE_SIZE, n);
  if (histOn) hist = new MapSnapshot(histFd, ACCOUNT_HIST_KEY_SIZE, ACCOUNT_HIST_VALUE_SIZE, ACCOUNT_HIST_MAX_ENTRIES);
  accountRows = new RowBatch(cstr("account"), 3);
  delayerRows = new RowBatch(cstr("delayers"), 3);
  histRows = new RowBatch(cstr("histogram"), 3);
  for (let i = 0; i < STATE_NAMES.length; i++) stateLabels.push(cstr(STATE_NAMES[i]));
  runQueueLabel = cstr("run_queue");
  syscallLabel = cstr("syscall");
  return 0;
}

/** Only SYSCALL and BLOCKED carry a system call; 24 bits hold every real number. */
function rowKey(tid: u32, state: u32, nr: u32): u64 {
  return (<u64>tid << 32) | (<u64>state << 24) | <u64>(nr & 0xffffff);
}

function commLabel(p: usize): usize {
  const comm = String.UTF8.decodeUnsafe(p, DELAYER_VALUE_COMM_LENGTH, true);
  if (commLabels.has(comm)) return commLabels.get(comm);
  const label = cstr(comm);
  commLabels.set(comm, label);
  return label;
}

/** The account rows of one collect, summed per (tid, state, nr). */
class AccountRows {
  readonly index: Map<u64, i32> = new Map<u64, i32>();
  readonly tids: u32[] = [];
  readonly states: u32[] = [];
  readonly nrs: u32[] = [];
  readonly counts: u64[] = [];
  readonly totals: u64[] = [];

  add(tid: u32, state: u32, nr: u32, count: u64, ns: u64): void {
    const key = rowKey(tid, state, nr);
    if (this.index.has(key)) {
      const i = this.index.get(key);
      this.counts[i] += count;
      this.totals[i] += ns;
      return;
    }
    this.index.set(key, this.tids.length);
    this.tids.push(tid);
    this.states.push(state);
    this.nrs.push(nr);
    this.counts.push(count);
    this.totals.push(ns);
  }
}

/**
 * Rows (tid, state, nr) -> [nr, count, ns]: the kernel's sums, plus each
 * thread's tail, the segment it was in when the window closed, clipped to
 * the close: from account_tail if the kernel clipped it (the thread has
 * moved on since), else from account_thread. account_thread is read first,
 * so a thread moving on between the two reads is seen in at least one, and
 * a tail in account_tail wins.
 */
function reportAccount(): i32 {
  let err = threads.read();
  if (err < 0) return err;
  err = tails.read();
  if (err < 0) return err;
  err = time.read();
  if (err < 0) return err;
  const gate = readGate(gateFd);
  const start = gate.windowStartNs;
  const stop = gate.windowStopNs;

  const rows = new AccountRows();
  for (let i = 0; i < time.count; i++) {
    const k = time.key(i);
    const v = time.value(i);
    rows.add(accountKeyTid(k), accountKeyState(k), accountKeyNr(k), accountValueCount(v), accountValueTotalNs(v));
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
      rows.add(tid, s, nr, count, ns);
    }
  }
  const tailed = new Set<u32>();
  for (let i = 0; i < tails.count; i++) {
    const tid = accountTailKey(tails.key(i));
    const v = tails.value(i);
    tailed.add(tid);
    rows.add(tid, accountTailState(v), accountTailNr(v), 0, accountTailNs(v));
  }
  if (stop != 0) {
    for (let i = 0; i < threads.count; i++) {
      const tid = accountThreadKey(threads.key(i));
      const v = threads.value(i);
      const since = accountThreadSince(v);
      // An exited thread's last segment ended when it did (its sums hold it).
      if (tailed.has(tid) || since >= stop || accountThreadDead(v)) continue;
      const state = accountThreadState(v);
      const onCpu = state == ACCOUNT_USER || state == ACCOUNT_SYSCALL;
      const nr = state == ACCOUNT_SYSCALL || state == ACCOUNT_BLOCKED ? accountThreadNr(v) : ACCOUNT_NO_SYSCALL;
      let ns = stop - (since > start ? since : start);
      const irq = accountThreadIrqNs(v);
      if (onCpu) ns = ns > irq ? ns - irq : 0;
      // A wait, sleep or stop that began inside the window and is still going on counts once.
      const begun: u64 = !onCpu && since >= start ? 1 : 0;
      rows.add(tid, state, nr, begun, ns);
    }
  }
  for (let i = 0; i < rows.tids.length; i++) {
    accountRows.row(rows.tids[i], stateLabels[rows.states[i]]).add(rows.nrs[i]).add(rows.counts[i]).add(rows.totals[i]);
  }
  return accountRows.flush();
}

function reportDelayers(): i32 {
  const err = delayers.read();
  if (err < 0) return err;
  for (let i = 0; i < delayers.count; i++) {
    const k = delayers.key(i);
    const v = delayers.value(i);
    delayerRows.row(delayerKeyTid(k), commLabel(v + DELAYER_VALUE_COMM_OFFSET))
      .add(delayerKeyCulprit(k)).add(delayerValueCount(v)).add(delayerValueTotalNs(v));
  }
  return delayerRows.flush();
}

function reportHistograms(h: MapSnapshot): i32 {
  const err = h.read();
  if (err < 0) return err;
  for (let i = 0; i < h.count; i++) {
    const k = h.key(i);
    const slots = h.value(i) + <usize>HIST_VALUE_SLOTS_OFFSET;
    const label = histKeyKind(k) == ACCOUNT_HIST_RUN_QUEUE ? runQueueLabel : syscallLabel;
    // One row per non-empty bucket: slot s counts durations in [2^s, 2^(s+1)) ns.
    for (let s = 0; s < ACCOUNT_HIST_SLOTS; s++) {
      const count = load<u32>(slots + <usize>(s * 4));
      if (count) histRows.row(histKeyTid(k), label).add(histKeyNr(k)).add(s).add(count);
    }
  }
  return histRows.flush();
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
  warnIfMapsWereFull(mapFullFd, "account");
  const missed = missedSwitches.grew();
  if (missed > 0) {
    warn(missed.toString() + " context switches of the target were seen without the switch before them: the window accounting is off by their time");
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
