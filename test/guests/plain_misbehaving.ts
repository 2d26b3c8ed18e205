// A plain wasm-bpf guest (standard imports + WASI only) that misbehaves on
// purpose, one way per mode, after loading and attaching the object of
// examples/wasm-bpf-getppid (so there is something in the kernel to release):
//
//   plain_misbehaving.wasm MODE [PID]
//     trap           passes a key pointer past the end of its memory
//     exit           calls proc_exit(3) with everything still attached
//     policy         loads the object with its program section renamed to "xdp"
//     callback-exit  PID: calls proc_exit(4) from inside the ring callback
//     bad-callback   PID: polls with a callback index outside its table
//     reenter        PID: polls again from inside the ring callback
//     truncate       PID: polls with max_size 4; prints what it was given
//     flood          N: loads nothing; writes N numbered lines to stdout
//     grow           loads nothing; grows its memory 1 MiB at a time until refused, prints how far it got
//
// Modes with a PID print "attached" once the program is attached, then wait
// (up to 10 s) for one getppid() event of that process.

import { BPF_OBJECT, BPF_OBJECT_SIZE } from '../../examples/wasm-bpf-getppid/build/wasm-bpf-getppid.bpf';

import {
  args_get,
  args_sizes_get,
  proc_exit,
  wasm_attach_bpf_program,
  wasm_bpf_buffer_poll,
  wasm_bpf_map_fd_by_name,
  wasm_bpf_map_operate,
  wasm_load_bpf_object,
} from '../../examples/wasm-bpf-getppid/abi';
import { endLine, put, putNumber } from '../../examples/wasm-bpf-getppid/line-output';

function say(text: string): void {
  put(text);
  endLine(1);
}

function cstr(text: string): usize {
  const bytes = heap.alloc(text.length + 1);
  for (let i = 0; i < text.length; i++) store<u8>(bytes + i, <u8>text.charCodeAt(i));
  store<u8>(bytes + text.length, 0);
  return bytes;
}

/** argv[index] compared with an ASCII word. */
function argIs(argv: usize, argc: u32, index: u32, word: string): bool {
  if (index >= argc) return false;
  const text = load<u32>(argv + 4 * index);
  for (let i = 0; i < word.length; i++) if (load<u8>(text + i) != <u8>word.charCodeAt(i)) return false;
  return load<u8>(text + word.length) == 0;
}

function argNumber(argv: usize, argc: u32, index: u32): u32 {
  if (index >= argc) return 0;
  const text = load<u32>(argv + 4 * index);
  let value: u32 = 0;
  for (let i = 0; load<u8>(text + i); i++) value = value * 10 + (load<u8>(text + i) - 0x30);
  return value;
}

/** Overwrites every copy of `from` in the embedded object with `to`, NUL-padded. */
function renameInObject(from: string, to: string): void {
  for (let at = 0; at + from.length <= BPF_OBJECT_SIZE; at++) {
    let match = true;
    for (let i = 0; i < from.length && match; i++) match = load<u8>(BPF_OBJECT + at + i) == <u8>from.charCodeAt(i);
    if (!match) continue;
    for (let i = 0; i < from.length; i++) store<u8>(BPF_OBJECT + at + i, i < to.length ? <u8>to.charCodeAt(i) : 0);
  }
}

let obj: i64 = 0;
let eventsFd: i32 = -1;
let data: usize = 0;

function loadAndAttach(pid: u32): void {
  obj = wasm_load_bpf_object(BPF_OBJECT, BPF_OBJECT_SIZE);
  if (obj == 0) {
    say('load failed');
    proc_exit(1);
  }
  const key = memory.data(4);
  const value = memory.data(4);
  store<u32>(key, 0);
  store<u32>(value, pid);
  if (wasm_bpf_map_operate(wasm_bpf_map_fd_by_name(obj, cstr('config')), 2, key, value, 0, 0) != 0) proc_exit(1);
  if (wasm_attach_bpf_program(obj, cstr('getppid_sys_enter'), 0) != 0) proc_exit(1);
  eventsFd = wasm_bpf_map_fd_by_name(obj, cstr('events'));
  data = heap.alloc(16);
  say('attached');
}

function exitInside(ctx: usize, data: usize, size: i32): i32 {
  proc_exit(4);
  return 0;
}

function pollAgain(ctx: usize, data: usize, size: i32): i32 {
  return wasm_bpf_buffer_poll(obj, eventsFd, pollAgain.index, 0, data, 16, 0);
}

function showTruncated(ctx: usize, data: usize, size: i32): i32 {
  put('size=');
  putNumber(<u64>size);
  put(' tid=');
  putNumber(<u64>load<u32>(data));
  put(' after=');
  putNumber(<u64>load<u8>(data, 4));
  endLine(1);
  return 1;
}

/** Polls until one record was delivered, for up to 10 s. */
function pollOnce(callback: i32, maxSize: i32): void {
  for (let i = 0; i < 100; i++) {
    const n = wasm_bpf_buffer_poll(obj, eventsFd, callback, 0, data, maxSize, 100);
    if (n != 0) {
      put('poll=');
      putNumber(<u64>n);
      endLine(1);
      return;
    }
  }
  say('no event');
}

export function _start(): void {
  const sizes = memory.data(8);
  args_sizes_get(sizes, sizes + 4);
  const argc = load<u32>(sizes);
  const argv = heap.alloc(4 * argc);
  args_get(argv, heap.alloc(load<u32>(sizes, 4)));
  const pid = argNumber(argv, argc, 2);

  if (argIs(argv, argc, 1, 'flood')) {
    for (let i: u32 = 0; i < pid; i++) {
      put('line ');
      putNumber(<u64>i);
      endLine(1);
    }
    return;
  }
  if (argIs(argv, argc, 1, 'grow')) {
    while (memory.grow(16) >= 0);
    put('grow refused at ');
    putNumber(<u64>memory.size());
    put(' pages');
    endLine(1);
    return;
  }
  if (argIs(argv, argc, 1, 'policy')) renameInObject('tp_btf/sys_enter', 'xdp');
  loadAndAttach(pid);
  if (argIs(argv, argc, 1, 'trap')) {
    const pastTheEnd = (<usize>memory.size()) << 16;
    wasm_bpf_map_operate(wasm_bpf_map_fd_by_name(obj, cstr('counts')), 1, pastTheEnd, data, 0, 0);
  } else if (argIs(argv, argc, 1, 'exit')) {
    proc_exit(3);
  } else if (argIs(argv, argc, 1, 'callback-exit')) {
    pollOnce(exitInside.index, 16);
  } else if (argIs(argv, argc, 1, 'bad-callback')) {
    pollOnce(9999, 16);
  } else if (argIs(argv, argc, 1, 'reenter')) {
    pollOnce(pollAgain.index, 16);
  } else if (argIs(argv, argc, 1, 'truncate')) {
    memory.fill(data, 0xee, 16);
    pollOnce(showTruncated.index, 4);
  } else {
    say('unknown mode');
    proc_exit(2);
  }
}
