// sched probe, user half: THREAD RUN, THREAD PARTIAL RUN, THREAD READY and
// THREAD STOPPED rows from sched.bpf.c's maps.

import { BpfObject, cstr, MapSnapshot, readGate, RowBatch, warn, warnIfMapsWereFull } from "../lib/kdelay";
import { STAT_SIZE, statCount, statMax, statMin, statTotal } from "../lib/stats";
import { BPF_OBJECT, BPF_OBJECT_SIZE } from "./build/sched.bpf";

const ENTRIES = 16384;
const TID_SIZE = 4;
const RUN_STATE_SIZE = 16; // struct run_state { u64 in_ns; u64 out_ns; }

let obj!: BpfObject;
let run!: MapSnapshot;
let partialRun!: MapSnapshot;
let ready!: MapSnapshot;
let stopped!: MapSnapshot;
let runState!: MapSnapshot;
let gateFd: i32 = -1;
let mapFullFd: i32 = -1;
let runRows!: RowBatch;
let partialRows!: RowBatch;
let readyRows!: RowBatch;
let stoppedRows!: RowBatch;

export function kdelay_probe_init(): i32 {
  obj = BpfObject.openProbe(BPF_OBJECT, BPF_OBJECT_SIZE);
  obj.load();
  obj.attach("sched_wakeup");
  obj.attach("sched_wakeup_new");
  obj.attach("sched_switch");
  const runFd = obj.mapFd("run_stats");
  const partialFd = obj.mapFd("partial_run_stats");
  const readyFd = obj.mapFd("ready_stats");
  const stoppedFd = obj.mapFd("stopped_stats");
  const runStateFd = obj.mapFd("run_state");
  gateFd = obj.mapFd("kdelay_gate");
  mapFullFd = obj.mapFd("kdelay_map_full");
  if (obj.error) {
    warn("could not " + obj.failedStep);
    return obj.error;
  }
  run = new MapSnapshot(runFd, TID_SIZE, STAT_SIZE, ENTRIES);
  partialRun = new MapSnapshot(partialFd, TID_SIZE, STAT_SIZE, ENTRIES);
  ready = new MapSnapshot(readyFd, TID_SIZE, STAT_SIZE, ENTRIES);
  stopped = new MapSnapshot(stoppedFd, TID_SIZE, STAT_SIZE, ENTRIES);
  runState = new MapSnapshot(runStateFd, TID_SIZE, RUN_STATE_SIZE, ENTRIES);
  runRows = new RowBatch(cstr("run"), 4);
  partialRows = new RowBatch(cstr("partial_run"), 2);
  readyRows = new RowBatch(cstr("ready"), 3);
  stoppedRows = new RowBatch(cstr("stopped"), 3);
  return 0;
}

/** count, total, max rows (READY, STOPPED). */
function reportCountTotalMax(stats: MapSnapshot, rows: RowBatch): i32 {
  const err = stats.read();
  if (err < 0) return err;
  for (let i = 0; i < stats.count; i++) {
    const stat = stats.value(i);
    rows.row(load<u32>(stats.key(i)), 0).add(statCount(stat)).add(statTotal(stat)).add(statMax(stat));
  }
  return rows.flush();
}

/**
 * PARTIAL RUN: the kernel recorded stretches that crossed an edge of the
 * window and have ended; stretches still on the CPU now are added here,
 * clipped to the window. The partial map is read before run_state: a thread
 * switching out between the two reads is then missed (a microseconds-wide
 * race), never counted twice.
 */
function reportPartialRuns(): i32 {
  let err = partialRun.read();
  if (err < 0) return err;
  err = runState.read();
  if (err < 0) return err;
  const gate = readGate(gateFd);
  const start = gate.windowStartNs;
  const stop = gate.windowStopNs;
  const counts = new Map<u32, u64>();
  const totals = new Map<u32, u64>();
  for (let i = 0; i < partialRun.count; i++) {
    const tid = load<u32>(partialRun.key(i));
    counts.set(tid, statCount(partialRun.value(i)));
    totals.set(tid, statTotal(partialRun.value(i)));
  }
  for (let i = 0; i < runState.count; i++) {
    const tid = load<u32>(runState.key(i));
    const inNs = load<u64>(runState.value(i), 0);
    const outNs = load<u64>(runState.value(i), 8);
    // Still on the CPU since before the close (a switch-out since then was clipped by the kernel).
    if (stop == 0 || inNs == 0 || inNs >= stop || outNs > inNs) continue;
    const from = inNs > start ? inNs : start;
    counts.set(tid, (counts.has(tid) ? counts.get(tid) : 0) + 1);
    totals.set(tid, (totals.has(tid) ? totals.get(tid) : 0) + (stop - from));
  }
  const tids = counts.keys();
  for (let i = 0; i < tids.length; i++) {
    const tid = tids[i];
    partialRows.row(tid, 0).add(counts.get(tid)).add(totals.get(tid));
  }
  return partialRows.flush();
}

export function kdelay_probe_collect(): i32 {
  let err = run.read();
  if (err < 0) return err;
  for (let i = 0; i < run.count; i++) {
    const stat = run.value(i);
    runRows.row(load<u32>(run.key(i)), 0).add(statCount(stat)).add(statTotal(stat)).add(statMin(stat)).add(statMax(stat));
  }
  err = runRows.flush();
  if (err < 0) return err;
  err = reportPartialRuns();
  if (err < 0) return err;
  err = reportCountTotalMax(ready, readyRows);
  if (err < 0) return err;
  err = reportCountTotalMax(stopped, stoppedRows);
  if (err < 0) return err;
  warnIfMapsWereFull(mapFullFd, "sched");
  return 0;
}

export function kdelay_probe_reset(): i32 {
  // run_state, ready_since and stopped_since stay: they describe what each
  // thread is doing now, which the next window needs.
  let err = run.clear();
  if (err == 0) err = partialRun.clear();
  if (err == 0) err = ready.clear();
  if (err == 0) err = stopped.clear();
  return err;
}
