// syscalls probe, user half: configures and attaches syscalls.bpf.c, then
// turns its maps into SYSCALL STATISTICS and LONG POLL STATISTICS rows.

import { BpfObject, carryAccountWork, cstr, MapSnapshot, option, readCounter, readGate, PercpuCounter, RowBatch, threadRows, warn, warnIfMapsWereFull } from '../lib/kdelay';
import { syscall_name, syscall_number } from '../lib/imports';
import { wasm_bpf_map_operate } from '../lib/wasm_bpf';
import { STAT_SIZE, statCount, statMax, statMin, statTotal } from '../lib/stats';
import { KDELAY_GATE_OPEN, KDELAY_STAT_COUNT_OFFSET, KDELAY_STAT_MAX_NS_OFFSET, KDELAY_STAT_MIN_NS_OFFSET, KDELAY_STAT_TOTAL_NS_OFFSET } from '../lib/build/shared.layout';
import { BPF_OBJECT, BPF_OBJECT_SIZE } from './build/syscalls.bpf';
import {
  attachAll,
  Maps,
  STAMP_SLOT_CACHED_OFFSET,
  STAMP_SLOT_STAMP_OFFSET,
  STAMP_SLOTS_MAX_ENTRIES,
  STAMP_SLOTS_VALUE_SIZE,
  stampSlotCachedNr,
  stampSlotExitedTid,
  stampSlotWindow,
  syscallStartTid,
  longPollStatsKey,
  syscallKeyNr,
  syscallKeyTid,
} from './build/syscalls.layout';

let obj!: BpfObject;
let maps!: Maps;
let stats!: MapSnapshot;
let longPolls!: MapSnapshot;
let slots!: MapSnapshot;
let eventDrops!: PercpuCounter;
let syscallRows!: RowBatch;
let longPollRows!: RowBatch;
/**
 * NUL-terminated names by syscall number, fetched from the host once each.
 * Looked up once per row, so the usual small numbers index an array; the
 * map holds anything else the kernel reports.
 */
const NAME_SLOTS: u32 = 1024;
const nameSlots = new StaticArray<usize>(NAME_SLOTS);
const names = new Map<u32, usize>();
const nameBuf = new ArrayBuffer(64);
/**
 * Rows per report_rows call. The host decodes each distinct label once per
 * call, and a call's rows are spread over all the syscalls in use, so big
 * batches save most of that work on 100k-row samples.
 */
const SYSCALL_ROWS_PER_CALL = 16384;

/** poll() on this architecture; arm64 has only ppoll(), which glibc's poll() uses. */
function pollNumber(): i32 {
  const nr = syscall_number(cstr('poll'));
  return nr >= 0 ? nr : syscall_number(cstr('ppoll'));
}

// The host runs every probe's kdelay_probe_load, loads their objects one
// after another (host/libbpf/libbpf-backend.ts: load), then runs every
// kdelay_probe_attach; kdelay_probe_init is the two in a row, for a host
// that knows only it.
export function kdelay_probe_load(): i32 {
  obj = BpfObject.openProbe(BPF_OBJECT, BPF_OBJECT_SIZE);
  // With the account probe loaded too, the *_account programs, which do its work at each entry and exit, load instead of the plain ones (kdelay_account.bpf.h).
  const withAccount = carryAccountWork(obj, 'syscalls.account', 'syscalls.account_hist');
  obj.setAutoload('syscalls_enter', !withAccount);
  obj.setAutoload('syscalls_exit', !withAccount);
  obj.setAutoload('syscalls_enter_account', withAccount);
  obj.setAutoload('syscalls_exit_account', withAccount);
  obj.setI32('poll_syscall_nr', pollNumber());
  // Sized from the target's threads at start (threadRows): 4 rows a thread in the statistics, a thread makes a few distinct calls in a window.
  obj.setMaxEntries('syscall_stats', threadRows('syscalls.max_entries', 'syscalls.target_threads', 4));
  const threads = threadRows('', 'syscalls.target_threads', 1);
  obj.setMaxEntries('syscall_start', threads);
  obj.setMaxEntries('long_poll_stats', threads);
  obj.setSlots('stamp_slots', <u32>option('syscalls.slots', STAMP_SLOTS_MAX_ENTRIES));
  if (option('syscalls.events', 0)) {
    // --syscall-events: the host created the event ring and the stack table; use them.
    const stackEntries = <u32>option('syscalls.stack_trace_size', 0);
    obj.setBool('events_enabled', true);
    obj.setU64('events_min_ns', <u64>option('syscalls.events_min_ns', 0));
    obj.setBool('events_skip_poll', option('syscalls.events_skip_poll', 0) != 0);
    obj.setBool('events_stacks', stackEntries > 0);
    const ringBytes = <u32>option('syscalls.events_ring_bytes', 4096);
    obj.setU64('events_wakeup_bytes', ringBytes / 4);
    obj.setMaxEntries('kdelay_syscall_events', ringBytes);
    obj.shareMap('kdelay_syscall_events');
    if (stackEntries > 0) {
      obj.setMaxEntries('kdelay_stack_traces', stackEntries);
      obj.shareMap('kdelay_stack_traces');
    }
  }
  const catchLongPollNs = <u64>option('syscalls.catch_long_poll_ns', 0);
  const catchSyscallNs = <u64>option('syscalls.catch_syscall_ns', 0);
  if (catchLongPollNs || catchSyscallNs) {
    // Catch mode: the host created the catch ring; long intervals and calls go there.
    obj.setU64('catch_long_poll_ns', catchLongPollNs);
    obj.setU64('catch_syscall_ns', catchSyscallNs);
    obj.setMaxEntries('kdelay_catch_events', <u32>option('syscalls.catch_ring_bytes', 4096));
    obj.shareMap('kdelay_catch_events');
  }
  // Where a slow call blocked (a sched_switch program and a per-thread map): only with stacks.
  if (!option('syscalls.events', 0) || !option('syscalls.stack_trace_size', 0)) {
    obj.setAutoload('syscalls_switch', false);
    obj.setMaxEntries('syscall_blocked', 1);
  } else {
    obj.setMaxEntries('syscall_blocked', threads);
  }
  obj.load();
  return obj.result();
}

export function kdelay_probe_attach(): i32 {
  maps = attachAll(obj);
  if (obj.error) return obj.result();
  stats = maps.syscallStats.snapshot();
  slots = maps.stampSlots.snapshot();
  longPolls = maps.longPollStats.snapshot();
  syscallRows = new RowBatch(cstr('syscalls'), 4, SYSCALL_ROWS_PER_CALL);
  longPollRows = new RowBatch(cstr('long_poll'), 4);
  eventDrops = new PercpuCounter(maps.syscallEventLosses.fd);
  return 0;
}

export function kdelay_probe_init(): i32 {
  const err = kdelay_probe_load();
  return err < 0 ? err : kdelay_probe_attach();
}

/** The syscall's name, or "[unknown: N]" as BCC's table prints it. */
function nameOf(nr: u32): usize {
  if (nr < NAME_SLOTS) {
    const cached = unchecked(nameSlots[nr]);
    if (cached) return cached;
  } else if (names.has(nr)) {
    return names.get(nr);
  }
  const buf = changetype<usize>(nameBuf);
  const len = syscall_name(nr, buf, nameBuf.byteLength);
  const name = len >= 0 ? cstr(String.UTF8.decodeUnsafe(buf, len)) : cstr('[unknown: ' + nr.toString() + ']');
  if (nr < NAME_SLOTS) unchecked((nameSlots[nr] = name));
  else names.set(nr, name);
  return name;
}

const BPF_MAP_LOOKUP_ELEM = 1;
const BPF_MAP_UPDATE_ELEM = 2;
const BPF_MAP_DELETE_ELEM = 3;

/**
 * Frees the slot at `index` of a thread that exited while its window was
 * reported (syscalls.bpf.c: syscalls_thread_exit): its contents, then its
 * owner entry. The gate is closed, and only a claim in a syscall of an
 * open window could touch a slot no thread owns.
 */
function freeExitedSlot(index: u32): void {
  const key = memory.data(4);
  const zero = memory.data(STAMP_SLOTS_VALUE_SIZE);
  memory.fill(zero, 0, STAMP_SLOTS_VALUE_SIZE);
  store<u32>(key, index);
  wasm_bpf_map_operate(maps.stampSlots.fd, BPF_MAP_UPDATE_ELEM, key, zero, 0, 0);
  wasm_bpf_map_operate(maps.slotOwner.fd, BPF_MAP_DELETE_ELEM, key, 0, 0, 0);
}

/**
 * Adds what the slots still cache for the window that just closed (the
 * calls of each thread's latest syscall number; see stamp_slot in
 * syscalls.bpf.c) to syscall_stats, so its rows are whole, and frees the
 * slots of threads that exited meanwhile. The gate is closed: the kernel
 * adds nothing meanwhile. Calls that find the map full are counted with
 * the kernel's own, in kdelay_map_full.
 */
function foldSlotCaches(): i32 {
  const err = slots.read();
  if (err < 0) return err;
  const windowStart = readGate(maps.kdelayGate.fd).windowStartNs;
  const key = memory.data(8);
  const value = memory.data(STAT_SIZE);
  let dropped: u64 = 0;
  for (let i = 0; i < slots.count; i++) {
    const slot = slots.value(i);
    const cached = slot + <usize>STAMP_SLOT_CACHED_OFFSET;
    const exited = stampSlotExitedTid(slot);
    const tid = exited ? exited : syscallStartTid(slot + <usize>STAMP_SLOT_STAMP_OFFSET);
    const count = statCount(cached);
    if (exited) freeExitedSlot(load<u32>(slots.key(i)));
    if (tid == 0 || stampSlotWindow(slot) != windowStart || count == 0) continue;
    store<u32>(key, tid);
    store<u32>(key, stampSlotCachedNr(slot), 4);
    if (wasm_bpf_map_operate(maps.syscallStats.fd, BPF_MAP_LOOKUP_ELEM, key, value, 0, 0) == 0 && statCount(value) > 0) {
      store<u64>(value + <usize>KDELAY_STAT_COUNT_OFFSET, statCount(value) + count);
      store<u64>(value + <usize>KDELAY_STAT_TOTAL_NS_OFFSET, statTotal(value) + statTotal(cached));
      if (statMin(cached) < statMin(value)) store<u64>(value + <usize>KDELAY_STAT_MIN_NS_OFFSET, statMin(cached));
      if (statMax(cached) > statMax(value)) store<u64>(value + <usize>KDELAY_STAT_MAX_NS_OFFSET, statMax(cached));
    } else {
      memory.copy(value, cached, STAT_SIZE);
    }
    if (wasm_bpf_map_operate(maps.syscallStats.fd, BPF_MAP_UPDATE_ELEM, key, value, 0, 0) != 0) dropped += count;
  }
  if (dropped > 0) {
    store<u32>(key, 0);
    store<u64>(value, readCounter(maps.kdelayMapFull.fd) + dropped);
    wasm_bpf_map_operate(maps.kdelayMapFull.fd, BPF_MAP_UPDATE_ELEM, key, value, 0, 0);
  }
  return 0;
}

/**
 * What the slots cache of the open window, as rows of their own beside
 * syscall_stats' (lib/kdelay.ts: GateSnapshot). With the gate open - catch
 * mode's snapshots, kdelay serve's reads of the counts so far - the kernel
 * still counts and owns the slots: nothing is folded into syscall_stats or
 * written back, and the host adds the rows up by the manifest's merge rules
 * (a thread's syscall may then come in two rows). syscall_stats is read
 * first, so a cache the kernel flushes between the two reads is counted by
 * the next read, never twice.
 */
function cachedRows(windowStart: u64): i32 {
  const err = slots.read();
  if (err < 0) return err;
  for (let i = 0; i < slots.count; i++) {
    const slot = slots.value(i);
    const cached = slot + <usize>STAMP_SLOT_CACHED_OFFSET;
    const tid = stampSlotExitedTid(slot) ? 0 : syscallStartTid(slot + <usize>STAMP_SLOT_STAMP_OFFSET);
    if (tid == 0 || stampSlotWindow(slot) != windowStart || statCount(cached) == 0) continue;
    const nr = stampSlotCachedNr(slot);
    syscallRows.row(tid, nameOf(nr)).add(nr).add(statCount(cached)).add(statTotal(cached)).add(statMax(cached));
  }
  return 0;
}

export function kdelay_probe_collect(): i32 {
  // An open gate (a catch snapshot, or kdelay serve's read): the counts so far, read without touching the kernel's state (cachedRows).
  const gate = readGate(maps.kdelayGate.fd);
  const open = gate.state == <u64>KDELAY_GATE_OPEN;
  let err = open ? 0 : foldSlotCaches();
  if (err < 0) return err;
  err = stats.read();
  if (err < 0) return err;
  for (let i = 0; i < stats.count; i++) {
    const key = stats.key(i);
    const stat = stats.value(i);
    const nr = syscallKeyNr(key);
    syscallRows.row(syscallKeyTid(key), nameOf(nr)).add(nr).add(statCount(stat)).add(statTotal(stat)).add(statMax(stat));
  }
  if (open) {
    err = cachedRows(gate.windowStartNs);
    if (err < 0) return err;
  }
  err = syscallRows.flush();
  if (err < 0) return err;

  err = longPolls.read();
  if (err < 0) return err;
  for (let i = 0; i < longPolls.count; i++) {
    const stat = longPolls.value(i);
    const count = statCount(stat);
    longPollRows
      .row(longPollStatsKey(longPolls.key(i)), 0)
      .add(count)
      .add(count ? statTotal(stat) / count : 0)
      .add(statMin(stat))
      .add(statMax(stat));
  }
  err = longPollRows.flush();
  if (err < 0) return err;

  warnIfMapsWereFull(maps.kdelayMapFull.fd, 'syscalls');
  // Ring-buffer reservations that failed (cumulative in the kernel: report what is new).
  const drops = eventDrops.grew();
  if (drops > 0) {
    warn('Not all events were captured, ' + drops.toString() + ' were dropped!\nIncrease the BPF ring buffer size with the --buffer-page-count option.');
  }
  return 0;
}

export function kdelay_probe_reset(): i32 {
  // Per-thread start stamps are left alone: the BPF side ignores stamps
  // older than the current window, so they cannot leak into the next sample.
  const err = stats.clear();
  return err < 0 ? err : longPolls.clear();
}
