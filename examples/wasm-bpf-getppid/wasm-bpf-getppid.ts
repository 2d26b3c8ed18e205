// wasm-bpf-getppid, user half: a plain wasm-bpf guest (a WASI command).
//
//   wasm-bpf-getppid.wasm PID COUNT [TIMEOUT_MS]
//
// Watches process PID, prints one line per getppid() call it makes
// (`getppid tid=... ts=...`), and stops after COUNT events or TIMEOUT_MS
// milliseconds (default: no limit), then prints the kernel's count.
//
// It is written against the standard ABI only: the six `wasm_bpf` imports
// and a few WASI preview1 functions, declared by hand below. It imports
// nothing from kdelay, so any wasm-bpf runtime can run it.

import { BPF_OBJECT, BPF_OBJECT_SIZE } from "./build/wasm-bpf-getppid.bpf";

import {
  args_get, args_sizes_get, BPF_ANY, BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, clock_time_get, EINTR, proc_exit,
  wasm_attach_bpf_program, wasm_bpf_buffer_poll, wasm_bpf_map_fd_by_name, wasm_bpf_map_operate, wasm_close_bpf_object, wasm_load_bpf_object,
} from "./abi";
import { endLine, put, putNumber, putSigned } from "./line-output";

const STDOUT: u32 = 1;
const STDERR: u32 = 2;
const CLOCK_MONOTONIC: u32 = 1;

function fail(what: string, code: i64): void {
  put("wasm-bpf-getppid: ");
  put(what);
  put(" (");
  putSigned(code);
  put(")");
  endLine(STDERR);
  proc_exit(1);
}

function usage(): void {
  put("usage: wasm-bpf-getppid.wasm PID COUNT [TIMEOUT_MS]");
  endLine(STDERR);
  proc_exit(2);
}

function monotonicMs(): u64 {
  const time = memory.data(8);
  clock_time_get(CLOCK_MONOTONIC, 1000000, time);
  return load<u64>(time) / 1000000;
}

/** A NUL-terminated copy of an ASCII string, for the imports' name arguments. */
function cstr(text: string): usize {
  const bytes = heap.alloc(text.length + 1);
  for (let i = 0; i < text.length; i++) store<u8>(bytes + i, <u8>text.charCodeAt(i));
  store<u8>(bytes + text.length, 0);
  return bytes;
}

// ---- argv -------------------------------------------------------------------

/** argv[index] as an unsigned decimal, or -1 if it is missing or not a number. */
function argNumber(argv: usize, argc: u32, index: u32): i64 {
  if (index >= argc) return -1;
  const text = load<u32>(argv + 4 * index);
  let value: i64 = 0;
  let i: u32 = 0;
  for (; load<u8>(text + i); i++) {
    const c = <i32>load<u8>(text + i) - 0x30;
    if (c < 0 || c > 9 || value > 0xffffffff) return -1;
    value = value * 10 + c;
  }
  return i ? value : -1;
}

// ---- events -----------------------------------------------------------------

// Keep in sync with struct event in wasm-bpf-getppid.bpf.c (same layout in BPF and wasm32).
const EVENT_SIZE = 16;
const EVENT_TID = 0;
const EVENT_TIMESTAMP = 8;

// Slots of the counts map (see wasm-bpf-getppid.bpf.c).
const COUNT_CALLS: u32 = 0;
const COUNT_RING_FULL: u32 = 1;

let wanted: u32 = 0;
let seen: u32 = 0;

/** Called by the host for each ring record; non-zero stops this poll. */
function onEvent(ctx: usize, data: usize, size: i32): i32 {
  if (size < EVENT_SIZE) return 0; // not one of ours
  put("getppid tid=");
  putNumber(load<u32>(data, EVENT_TID));
  put(" ts=");
  putNumber(load<u64>(data, EVENT_TIMESTAMP));
  endLine(STDOUT);
  seen++;
  return seen >= wanted ? 1 : 0;
}

export function _start(): void {
  const sizes = memory.data(8);
  args_sizes_get(sizes, sizes + 4);
  const argc = load<u32>(sizes);
  const argv = heap.alloc(4 * argc);
  args_get(argv, heap.alloc(load<u32>(sizes, 4)));
  const pid = argNumber(argv, argc, 1);
  const count = argNumber(argv, argc, 2);
  const timeoutMs = argc > 3 ? argNumber(argv, argc, 3) : 0;
  if (argc < 3 || argc > 4 || pid <= 0 || count <= 0 || timeoutMs < 0) usage();
  wanted = <u32>count;

  const obj = wasm_load_bpf_object(BPF_OBJECT, BPF_OBJECT_SIZE);
  if (obj == 0) fail("cannot load the BPF object", 0);

  const configFd = wasm_bpf_map_fd_by_name(obj, cstr("config"));
  const countsFd = wasm_bpf_map_fd_by_name(obj, cstr("counts"));
  const eventsFd = wasm_bpf_map_fd_by_name(obj, cstr("events"));
  if (configFd < 0) fail("no map config", configFd);
  if (countsFd < 0) fail("no map counts", countsFd);
  if (eventsFd < 0) fail("no map events", eventsFd);

  const key = memory.data(4);
  const value = memory.data(8);
  store<u32>(key, 0);
  store<u32>(value, <u32>pid);
  let err = wasm_bpf_map_operate(configFd, BPF_MAP_UPDATE_ELEM, key, value, 0, BPF_ANY);
  if (err) fail("cannot set the target", err);
  err = wasm_attach_bpf_program(obj, cstr("getppid_sys_enter"), 0);
  if (err) fail("cannot attach getppid_sys_enter", err);

  put("attached: watching getppid() in PID ");
  putNumber(<u64>pid);
  endLine(STDOUT);

  // Poll in slices of at most 100 ms so the timeout is honoured even when nothing happens.
  const data = heap.alloc(EVENT_SIZE);
  const deadline = timeoutMs ? monotonicMs() + <u64>timeoutMs : u64.MAX_VALUE;
  while (seen < wanted) {
    const now = monotonicMs();
    if (now >= deadline) break;
    const slice = <i32>min<u64>(deadline - now, 100);
    const n = wasm_bpf_buffer_poll(obj, eventsFd, onEvent.index, 0, data, EVENT_SIZE, slice);
    if (n == -EINTR) break;
    if (n < 0) fail("polling the ring buffer failed", n);
  }

  store<u32>(key, COUNT_CALLS);
  err = wasm_bpf_map_operate(countsFd, BPF_MAP_LOOKUP_ELEM, key, value, 0, 0);
  if (err) fail("cannot read the call count", err);
  const calls = load<u64>(value);
  store<u32>(key, COUNT_RING_FULL);
  err = wasm_bpf_map_operate(countsFd, BPF_MAP_LOOKUP_ELEM, key, value, 0, 0);
  if (err) fail("cannot read the lost-event count", err);
  put("total: calls=");
  putNumber(calls);
  put(" events=");
  putNumber(seen);
  put(" lost=");
  putNumber(load<u64>(value));
  endLine(STDOUT);

  wasm_close_bpf_object(obj);
}
