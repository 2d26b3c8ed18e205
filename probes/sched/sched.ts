// sched probe, user half: THREAD RUN, THREAD PARTIAL RUN, THREAD READY and
// THREAD STOPPED rows from sched.bpf.c's maps.

import { BpfObject, cstr, MapSnapshot, readGate, RowBatch, warnIfMapsWereFull } from "../lib/kdelay";
import { statCount, statMax, statMin, statTotal } from "../lib/stats";
import { BPF_OBJECT, BPF_OBJECT_SIZE } from "./build/sched.bpf";
import {
  PARTIAL_RUN_STATS_KEY_SIZE, PARTIAL_RUN_STATS_MAX_ENTRIES, PARTIAL_RUN_STATS_VALUE_SIZE, partialRunStatsKey,
  READY_STATS_KEY_SIZE, READY_STATS_MAX_ENTRIES, READY_STATS_VALUE_SIZE, readyStatsKey,
  RUN_STATS_KEY_SIZE, RUN_STATS_MAX_ENTRIES, RUN_STATS_VALUE_SIZE, runStatsKey,
  STOPPED_STATS_KEY_SIZE, STOPPED_STATS_MAX_ENTRIES, STOPPED_STATS_VALUE_SIZE, stoppedStatsKey,
  TAIL_CLIP_KEY_SIZE, TAIL_CLIP_MAX_ENTRIES, TAIL_CLIP_VALUE_SIZE, tailClipKey, tailClipValue,
  THREAD_STATE_KEY_SIZE, THREAD_STATE_MAX_ENTRIES, THREAD_STATE_VALUE_SIZE, threadStateInNs, threadStateKey, threadStateOutNs,
} from "./build/sched.layout";

let obj!: BpfObject;
let run!: MapSnapshot;
let partialRun!: MapSnapshot;
let ready!: MapSnapshot;
let stopped!: MapSnapshot;
let threadState!: MapSnapshot;
let tailClips!: MapSnapshot;
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
  obj.attach("sched_stat_runtime");
  const runFd = obj.mapFd("run_stats");
  const partialFd = obj.mapFd("partial_run_stats");
  const readyFd = obj.mapFd("ready_stats");
  const stoppedFd = obj.mapFd("stopped_stats");
  const threadStateFd = obj.mapFd("thread_state");
  const tailClipFd = obj.mapFd("tail_clip");
  gateFd = obj.mapFd("kdelay_gate");
  mapFullFd = obj.mapFd("kdelay_map_full");
  if (obj.error) return obj.result();
  run = new MapSnapshot(runFd, RUN_STATS_KEY_SIZE, RUN_STATS_VALUE_SIZE, RUN_STATS_MAX_ENTRIES);
  partialRun = new MapSnapshot(partialFd, PARTIAL_RUN_STATS_KEY_SIZE, PARTIAL_RUN_STATS_VALUE_SIZE, PARTIAL_RUN_STATS_MAX_ENTRIES);
  ready = new MapSnapshot(readyFd, READY_STATS_KEY_SIZE, READY_STATS_VALUE_SIZE, READY_STATS_MAX_ENTRIES);
  stopped = new MapSnapshot(stoppedFd, STOPPED_STATS_KEY_SIZE, STOPPED_STATS_VALUE_SIZE, STOPPED_STATS_MAX_ENTRIES);
  threadState = new MapSnapshot(threadStateFd, THREAD_STATE_KEY_SIZE, THREAD_STATE_VALUE_SIZE, THREAD_STATE_MAX_ENTRIES);
  tailClips = new MapSnapshot(tailClipFd, TAIL_CLIP_KEY_SIZE, TAIL_CLIP_VALUE_SIZE, TAIL_CLIP_MAX_ENTRIES);
  runRows = new RowBatch(cstr("run"), 4);
  partialRows = new RowBatch(cstr("partial_run"), 2);
  readyRows = new RowBatch(cstr("ready"), 3);
  stoppedRows = new RowBatch(cstr("stopped"), 3);
  return 0;
}

/** count, total, max rows (READY, STOPPED); tidOf reads the map's key. */
function reportCountTotalMax(stats: MapSnapshot, rows: RowBatch, tidOf: (key: usize) => u32): i32 {
  const err = stats.read();
  if (err < 0) return err;
  for (let i = 0; i < stats.count; i++) {
    const stat = stats.value(i);
    rows.row(tidOf(stats.key(i)), 0).add(statCount(stat)).add(statTotal(stat)).add(statMax(stat));
  }
  return rows.flush();
}

function addTo(counts: Map<u32, u64>, totals: Map<u32, u64>, tid: u32, count: u64, total: u64): void {
  counts.set(tid, (counts.has(tid) ? counts.get(tid) : 0) + count);
  totals.set(tid, (totals.has(tid) ? totals.get(tid) : 0) + total);
}

/**
 * PARTIAL RUN: the kernel recorded the stretches that began before the window
 * and ended inside it. The stretch running when the window closed (its
 * "tail") is added here, once per thread: the kernel clipped it into
 * tail_clip if the thread has left the CPU since; otherwise thread_state
 * shows it still on the CPU. thread_state is read first, so a thread leaving
 * the CPU between the two reads is seen in at least one of them.
 */
function reportPartialRuns(): i32 {
  let err = partialRun.read();
  if (err < 0) return err;
  err = threadState.read();
  if (err < 0) return err;
  err = tailClips.read();
  if (err < 0) return err;
  const gate = readGate(gateFd);
  const start = gate.windowStartNs;
  const stop = gate.windowStopNs;
  const counts = new Map<u32, u64>();
  const totals = new Map<u32, u64>();
  for (let i = 0; i < partialRun.count; i++) {
    addTo(counts, totals, partialRunStatsKey(partialRun.key(i)), statCount(partialRun.value(i)), statTotal(partialRun.value(i)));
  }
  const tails = new Map<u32, u64>();
  for (let i = 0; i < tailClips.count; i++) tails.set(tailClipKey(tailClips.key(i)), tailClipValue(tailClips.value(i)));
  for (let i = 0; i < threadState.count; i++) {
    const tid = threadStateKey(threadState.key(i));
    const inNs = threadStateInNs(threadState.value(i));
    const outNs = threadStateOutNs(threadState.value(i));
    // On the CPU since before the close and not off it since: the same tail the kernel would clip.
    if (stop == 0 || inNs == 0 || inNs >= stop || outNs > inNs || tails.has(tid)) continue;
    tails.set(tid, stop - (inNs > start ? inNs : start));
  }
  const tailTids = tails.keys();
  for (let i = 0; i < tailTids.length; i++) addTo(counts, totals, tailTids[i], 1, tails.get(tailTids[i]));

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
    runRows.row(runStatsKey(run.key(i)), 0).add(statCount(stat)).add(statTotal(stat)).add(statMin(stat)).add(statMax(stat));
  }
  err = runRows.flush();
  if (err < 0) return err;
  err = reportPartialRuns();
  if (err < 0) return err;
  err = reportCountTotalMax(ready, readyRows, readyStatsKey);
  if (err < 0) return err;
  err = reportCountTotalMax(stopped, stoppedRows, stoppedStatsKey);
  if (err < 0) return err;
  warnIfMapsWereFull(mapFullFd, "sched");
  return 0;
}

export function kdelay_probe_reset(): i32 {
  // thread_state stays: it describes what each thread is doing now, which
  // the next window needs.
  let err = run.clear();
  if (err == 0) err = partialRun.clear();
  if (err == 0) err = ready.clear();
  if (err == 0) err = stopped.clear();
  if (err == 0) err = tailClips.clear();
  return err;
}
