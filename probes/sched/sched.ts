// sched probe, user half: THREAD RUN, THREAD PARTIAL RUN, THREAD READY and
// THREAD STOPPED rows from sched.bpf.c's maps.

import { BpfObject, carryAccountWork, cstr, detachRuntimeAfterWarmup, MapSnapshot, option, readGate, RowBatch, threadRows, TidSums, warnIfMapsWereFull } from '../lib/kdelay';
import { statCount, statMax, statMin, statTotal } from '../lib/stats';
import { KDELAY_GATE_OPEN } from '../lib/build/shared.layout';
import { BPF_OBJECT, BPF_OBJECT_SIZE } from './build/sched.bpf';
import {
  attachAll,
  Maps,
  partialRunStatsKey,
  readyStatsKey,
  runStatsKey,
  STATE_SLOT_PARTIAL_RUN_OFFSET,
  STATE_SLOT_READY_OFFSET,
  STATE_SLOT_RUN_OFFSET,
  STATE_SLOT_STATE_OFFSET,
  STATE_SLOT_STOPPED_OFFSET,
  STATE_SLOTS_MAX_ENTRIES,
  stateSlotTid,
  stateSlotWindow,
  stoppedStatsKey,
  tailClipKey,
  tailNs,
  tailWindow,
  threadStateInNs,
  threadStateKey,
  threadStateOutNs,
} from './build/sched.layout';

let obj!: BpfObject;
/** The *_account programs load instead of the plain ones (kdelay_probe_load). */
let withAccount = false;
let slotCount: u32 = 0;
/** Rows of each map keyed by thread (threadRows: for 4 times the target's threads at start, at least 4096). */
let rows: u32 = 0;
let maps!: Maps;
let partialSums!: TidSums;
let tails!: TidSums;
let run!: MapSnapshot;
let partialRun!: MapSnapshot;
let ready!: MapSnapshot;
let stopped!: MapSnapshot;
let threadState!: MapSnapshot;
let slots!: MapSnapshot;
let tailClips!: MapSnapshot;
let runRows!: RowBatch;
let partialRows!: RowBatch;
let readyRows!: RowBatch;
let stoppedRows!: RowBatch;

// The host runs every probe's kdelay_probe_load, loads their objects one
// after another (host/libbpf/libbpf-backend.ts: load), then runs every
// kdelay_probe_attach; kdelay_probe_init is the two in a row, for a host
// that knows only it.
export function kdelay_probe_load(): i32 {
  obj = BpfObject.openProbe(BPF_OBJECT, BPF_OBJECT_SIZE);
  // With the account probe loaded too, the *_account programs, which do its work at these hooks, load instead of the plain ones (kdelay_account.bpf.h).
  withAccount = carryAccountWork(obj, 'sched.account', 'sched.account_hist');
  obj.setAutoload('sched_wakeup', !withAccount);
  obj.setAutoload('sched_wakeup_new', !withAccount);
  obj.setAutoload('sched_switch', !withAccount);
  obj.setAutoload('sched_stat_runtime', !withAccount);
  obj.setAutoload('sched_wakeup_account', withAccount);
  obj.setAutoload('sched_wakeup_new_account', withAccount);
  obj.setAutoload('sched_switch_account', withAccount);
  obj.setAutoload('sched_stat_runtime_account', withAccount);
  slotCount = obj.setSlots('state_slots', <u32>option('sched.slots', STATE_SLOTS_MAX_ENTRIES));
  rows = threadRows('sched.max_entries', 'sched.target_threads', 1);
  obj.setMaxEntries('thread_state', rows);
  obj.setMaxEntries('run_stats', rows);
  obj.setMaxEntries('partial_run_stats', rows);
  obj.setMaxEntries('ready_stats', rows);
  obj.setMaxEntries('stopped_stats', rows);
  obj.setMaxEntries('tail_clip', rows);
  obj.shareMap('kdelay_exited_threads');
  obj.load();
  return obj.result();
}

export function kdelay_probe_attach(): i32 {
  maps = attachAll(obj);
  detachRuntimeAfterWarmup(obj, withAccount ? 'sched_stat_runtime_account' : 'sched_stat_runtime', 'sched.runtime_warmup_ms');
  if (obj.error) return obj.result();
  run = maps.runStats.snapshot();
  partialRun = maps.partialRunStats.snapshot();
  ready = maps.readyStats.snapshot();
  stopped = maps.stoppedStats.snapshot();
  threadState = maps.threadState.snapshot();
  slots = maps.stateSlots.snapshot();
  tailClips = maps.tailClip.snapshot();
  runRows = new RowBatch(cstr('run'), 4);
  partialRows = new RowBatch(cstr('partial_run'), 2);
  readyRows = new RowBatch(cstr('ready'), 3);
  stoppedRows = new RowBatch(cstr('stopped'), 3);
  // Made once: the stub runtime never frees what a sample would allocate.
  partialSums = new TidSums(3 * <i32>rows + <i32>slotCount);
  tails = new TidSums(2 * <i32>rows + <i32>slotCount);
  return 0;
}

export function kdelay_probe_init(): i32 {
  const err = kdelay_probe_load();
  return err < 0 ? err : kdelay_probe_attach();
}

/**
 * Threads that own a slot of state_slots (sched.bpf.c) have their state and
 * this window's statistics there instead of in the hash maps: slot i, if
 * it has an owner, and its statistics if they belong to the window that
 * just closed. A thread is in one place or the other for the whole run.
 */
function slotStat(i: i32, offset: i32, windowStart: u64): usize {
  const slot = slots.value(i);
  if (stateSlotTid(slot) == 0 || stateSlotWindow(slot) != windowStart) return 0;
  const stat = slot + <usize>offset;
  return statCount(stat) > 0 ? stat : 0;
}

/** count, total, max rows (READY, STOPPED); tidOf reads the map's key. Totals at most the window (atMostWindow). */
function reportCountTotalMax(stats: MapSnapshot, rows: RowBatch, tidOf: (key: usize) => u32, slotOffset: i32, windowStart: u64, windowNs: u64): i32 {
  const err = stats.read();
  if (err < 0) return err;
  for (let i = 0; i < stats.count; i++) {
    const stat = stats.value(i);
    rows
      .row(tidOf(stats.key(i)), 0)
      .add(statCount(stat))
      .add(atMostWindow(statTotal(stat), windowNs))
      .add(atMostWindow(statMax(stat), windowNs));
  }
  for (let i = 0; i < slots.count; i++) {
    const stat = slotStat(i, slotOffset, windowStart);
    if (stat)
      rows
        .row(stateSlotTid(slots.value(i)), 0)
        .add(statCount(stat))
        .add(atMostWindow(statTotal(stat), windowNs))
        .add(atMostWindow(statMax(stat), windowNs));
  }
  return rows.flush();
}

/** The tail of a stretch still on the CPU when the window [start, stop) closed, if the state shows one. */
function addTail(tid: u32, state: usize, start: u64, stop: u64): void {
  const inNs = threadStateInNs(state);
  const outNs = threadStateOutNs(state);
  const from = inNs > start ? inNs : start;
  // On the CPU since before the close and not off it since: the same tail the kernel would clip.
  // (in_ns = 0: off the CPU, or back on it through a switch-in kdelay missed: no start to count from.)
  if (stop == 0 || inNs == 0 || from >= stop || outNs > inNs || tails.has(tid)) return;
  tails.add(tid, 1, stop - from);
}

/**
 * At most the window: a thread is in one place at a time. The kernel clips
 * to the window it sees, and the host stamps a window's stop only once the
 * probes see the gate closed (driver/gate.ts), but a stop trigger and a
 * program on another CPU still race: saturate at the window.
 */
function atMostWindow(ns: u64, windowNs: u64): u64 {
  return ns < windowNs ? ns : windowNs;
}

/**
 * PARTIAL RUN: the kernel recorded the stretches that began before the window
 * and ended inside it. The stretch running when the window closed (its
 * "tail") is added here, once per thread: the kernel clipped it into
 * tail_clip if the thread has left the CPU since; otherwise its state
 * shows it still on the CPU. The states (thread_state and the slots) were
 * read first, so a thread leaving the CPU between the reads is seen in at
 * least one of them.
 */
function reportPartialRuns(start: u64, stop: u64, windowNs: u64): i32 {
  let err = partialRun.read();
  if (err < 0) return err;
  err = threadState.read();
  if (err < 0) return err;
  err = tailClips.read();
  if (err < 0) return err;
  partialSums.clear();
  for (let i = 0; i < partialRun.count; i++) {
    partialSums.add(partialRunStatsKey(partialRun.key(i)), statCount(partialRun.value(i)), statTotal(partialRun.value(i)));
  }
  for (let i = 0; i < slots.count; i++) {
    const stat = slotStat(i, STATE_SLOT_PARTIAL_RUN_OFFSET, start);
    if (stat) partialSums.add(stateSlotTid(slots.value(i)), statCount(stat), statTotal(stat));
  }
  tails.clear();
  for (let i = 0; i < tailClips.count; i++) {
    // A tail clipped after the last reset ended the window reported before: not this one's.
    if (tailWindow(tailClips.value(i)) == start) tails.add(tailClipKey(tailClips.key(i)), 1, tailNs(tailClips.value(i)));
  }
  for (let i = 0; i < threadState.count; i++) addTail(threadStateKey(threadState.key(i)), threadState.value(i), start, stop);
  for (let i = 0; i < slots.count; i++) {
    const slot = slots.value(i);
    if (stateSlotTid(slot) != 0) addTail(stateSlotTid(slot), slot + <usize>STATE_SLOT_STATE_OFFSET, start, stop);
  }
  for (let i = 0; i < tails.size; i++) partialSums.add(tails.tid(i), 1, tails.second(i));

  for (let i = 0; i < partialSums.size; i++) {
    partialRows
      .row(partialSums.tid(i), 0)
      .add(partialSums.first(i))
      .add(atMostWindow(partialSums.second(i), windowNs));
  }
  return partialRows.flush();
}

function addRunRow(tid: u32, stat: usize, windowNs: u64): void {
  runRows
    .row(tid, 0)
    .add(statCount(stat))
    .add(atMostWindow(statTotal(stat), windowNs))
    .add(atMostWindow(statMin(stat), windowNs))
    .add(atMostWindow(statMax(stat), windowNs));
}

export function kdelay_probe_collect(): i32 {
  // The slots first: with thread_state, before tail_clip (see reportPartialRuns).
  let err = slots.read();
  if (err < 0) return err;
  const gate = readGate(maps.kdelayGate.fd);
  const start = gate.windowStartNs;
  // Still open (kdelay serve reads the counts so far): nothing to clip to, and no tails (a stretch counts when it ends).
  const windowNs = gate.windowStopNs > start ? gate.windowStopNs - start : gate.state == <u64>KDELAY_GATE_OPEN ? U64.MAX_VALUE : 0;
  err = run.read();
  if (err < 0) return err;
  for (let i = 0; i < run.count; i++) addRunRow(runStatsKey(run.key(i)), run.value(i), windowNs);
  for (let i = 0; i < slots.count; i++) {
    const stat = slotStat(i, STATE_SLOT_RUN_OFFSET, start);
    if (stat) addRunRow(stateSlotTid(slots.value(i)), stat, windowNs);
  }
  err = runRows.flush();
  if (err < 0) return err;
  err = reportPartialRuns(start, gate.windowStopNs, windowNs);
  if (err < 0) return err;
  err = reportCountTotalMax(ready, readyRows, readyStatsKey, STATE_SLOT_READY_OFFSET, start, windowNs);
  if (err < 0) return err;
  err = reportCountTotalMax(stopped, stoppedRows, stoppedStatsKey, STATE_SLOT_STOPPED_OFFSET, start, windowNs);
  if (err < 0) return err;
  warnIfMapsWereFull(maps.kdelayMapFull.fd, 'sched');
  return 0;
}

export function kdelay_probe_reset(): i32 {
  // thread_state and the slots stay: they describe what each thread is
  // doing now, which the next window needs (slot statistics are zeroed by
  // the kernel when it first records into them in a new window).
  let err = run.clear();
  if (err == 0) err = partialRun.clear();
  if (err == 0) err = ready.clear();
  if (err == 0) err = stopped.clear();
  if (err == 0) err = tailClips.clear();
  return err;
}
