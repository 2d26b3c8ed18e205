// The AssemblyScript half every probe shares: opening its BPF object wired to
// the capture gate, reading whole maps, and reporting rows. Probes should need
// nothing else from the host.
//
// AssemblyScript has no exceptions, so BpfObject keeps the first error and
// skips later steps: write the happy path, check `error` once at the end.

import {
  bpf_map_clear, bpf_map_lookup_all, bpf_object_load, bpf_object_open, bpf_object_set_attach_target,
  bpf_object_set_autoload, bpf_object_set_global, bpf_object_set_max_entries, bpf_object_share_map,
  bpf_program_attach_kprobe, bpf_program_attach_raw_tracepoint, bpf_program_attach_tracepoint,
  bpf_program_attach_uprobe, bpf_program_attach_usdt, option_i64, option_string, report_rows,
  report_warning, wasm_attach_bpf_program, wasm_bpf_map_fd_by_name, wasm_bpf_map_operate,
} from "./imports";


const BPF_MAP_LOOKUP_ELEM = 1;

/** A NUL-terminated UTF-8 copy of s, for the host ABI. Allocate once, reuse. */
export function cstr(s: string): usize {
  return changetype<usize>(String.UTF8.encode(s, true));
}

/** An option the host passes (see host/cli/options.ts), or fallback. */
export function option(name: string, fallback: i64): i64 {
  return option_i64(cstr(name), fallback);
}

/** A string option the host passes, or "" when unset. */
export function optionString(name: string): string {
  const buf = new ArrayBuffer(4096);
  const len = option_string(cstr(name), changetype<usize>(buf), buf.byteLength);
  return len < 0 ? "" : String.UTF8.decodeUnsafe(changetype<usize>(buf), len);
}

export function warn(text: string): void {
  report_warning(cstr(text));
}

/** The process being measured. */
export function targetTgid(): u32 {
  return <u32>option("target_tgid", 0);
}

export class BpfObject {
  handle: i64 = 0;
  /** The first failure (negative errno), or 0. */
  error: i32 = 0;
  private step: string = "";
  private loaded: bool = false;

  /**
   * Opens an embedded object and wires it to kdelay: the target tgid is set
   * and the capture gate shared with every other probe.
   */
  static openProbe(image: usize, size: i32): BpfObject {
    const obj = new BpfObject();
    obj.handle = bpf_object_open(image, size);
    if (obj.handle < 0) {
      obj.fail(<i32>obj.handle, "open");
      return obj;
    }
    obj.setU32("kdelay_target_tgid", targetTgid());
    obj.shareMap("kdelay_gate");
    return obj;
  }

  private fail(err: i32, step: string): void {
    if (this.error == 0 && err < 0) {
      this.error = err;
      this.step = step;
    }
  }

  /** Where the first failure happened, for a warning. */
  get failedStep(): string {
    return this.step;
  }

  /**
   * The end of kdelay_probe_init: 0, or the first error after telling the
   * host (in a warning) which step failed.
   */
  result(): i32 {
    if (this.error) warn("could not " + this.step);
    return this.error;
  }

  setU32(name: string, value: u32): void {
    if (this.error) return;
    const buf = new ArrayBuffer(4);
    store<u32>(changetype<usize>(buf), value);
    this.fail(bpf_object_set_global(this.handle, cstr(name), changetype<usize>(buf), 4), "set " + name);
  }

  setI32(name: string, value: i32): void {
    this.setU32(name, <u32>value);
  }

  setU64(name: string, value: u64): void {
    if (this.error) return;
    const buf = new ArrayBuffer(8);
    store<u64>(changetype<usize>(buf), value);
    this.fail(bpf_object_set_global(this.handle, cstr(name), changetype<usize>(buf), 8), "set " + name);
  }

  /** A C `bool` global (one byte). */
  setBool(name: string, value: bool): void {
    if (this.error) return;
    const buf = new ArrayBuffer(1);
    store<u8>(changetype<usize>(buf), value ? 1 : 0);
    this.fail(bpf_object_set_global(this.handle, cstr(name), changetype<usize>(buf), 1), "set " + name);
  }

  setMaxEntries(map: string, entries: u32): void {
    if (this.error) return;
    this.fail(bpf_object_set_max_entries(this.handle, cstr(map), entries), "resize " + map);
  }

  shareMap(map: string): void {
    if (this.error) return;
    this.fail(bpf_object_share_map(this.handle, cstr(map)), "share " + map);
  }

  setAutoload(program: string, on: bool): void {
    if (this.error) return;
    this.fail(bpf_object_set_autoload(this.handle, cstr(program), on ? 1 : 0), "configure " + program);
  }

  /** fentry/fexit: the kernel function to attach to, before load. */
  setAttachTarget(program: string, fn: string): void {
    if (this.error) return;
    this.fail(bpf_object_set_attach_target(this.handle, cstr(program), cstr(fn)), "target " + program + " at " + fn);
  }

  load(): void {
    if (this.error) return;
    this.fail(bpf_object_load(this.handle), "load");
    this.loaded = this.error == 0;
  }

  attach(program: string): void {
    if (this.error) return;
    this.fail(wasm_attach_bpf_program(this.handle, cstr(program), 0), "attach " + program);
  }

  /** USDT probe provider:name in the target's executable. */
  attachUsdt(program: string, provider: string, name: string): void {
    if (this.error) return;
    this.fail(bpf_program_attach_usdt(this.handle, cstr(program), cstr(provider), cstr(name)), "attach " + program + " to USDT " + provider + ":" + name);
  }

  /** Entry (or return) of a function of the target's executable. */
  attachUprobe(program: string, retprobe: bool, fn: string): void {
    if (this.error) return;
    this.fail(bpf_program_attach_uprobe(this.handle, cstr(program), retprobe ? 1 : 0, cstr(fn)), "attach " + program + " to " + fn);
  }

  attachTracepoint(program: string, category: string, name: string): void {
    if (this.error) return;
    this.fail(bpf_program_attach_tracepoint(this.handle, cstr(program), cstr(category), cstr(name)), "attach " + program + " to tracepoint " + category + ":" + name);
  }

  /** Returns the (negative) error instead of keeping it: callers may fall back. */
  tryAttachRawTracepoint(program: string, name: string): i32 {
    if (this.error) return this.error;
    return bpf_program_attach_raw_tracepoint(this.handle, cstr(program), cstr(name));
  }

  attachKprobe(program: string, retprobe: bool, fn: string): void {
    if (this.error) return;
    this.fail(bpf_program_attach_kprobe(this.handle, cstr(program), retprobe ? 1 : 0, cstr(fn)), "attach " + program + " to kernel function " + fn);
  }

  mapFd(map: string): i32 {
    if (this.error) return -1;
    const fd = wasm_bpf_map_fd_by_name(this.handle, cstr(map));
    this.fail(fd, "map " + map);
    return fd;
  }
}

/** A whole-map read buffer, sized once for the map's capacity. */
export class MapSnapshot {
  readonly keys: usize;
  readonly values: usize;
  count: i32 = 0;

  constructor(
    readonly fd: i32,
    readonly keySize: i32,
    readonly valueSize: i32,
    readonly capacity: i32,
  ) {
    this.keys = changetype<usize>(new ArrayBuffer(keySize * capacity));
    this.values = changetype<usize>(new ArrayBuffer(valueSize * capacity));
  }

  /** Reads every entry; returns the count or a negative errno. */
  read(): i32 {
    const n = bpf_map_lookup_all(this.fd, this.keys, this.keySize * this.capacity, this.values, this.valueSize * this.capacity);
    this.count = n < 0 ? 0 : n;
    return n;
  }

  key(i: i32): usize {
    return this.keys + <usize>(i * this.keySize);
  }

  value(i: i32): usize {
    return this.values + <usize>(i * this.valueSize);
  }

  clear(): i32 {
    return bpf_map_clear(this.fd);
  }
}

/** The capture gate as the host left it after closing the window (probes/include/kdelay_gate.bpf.h). */
export class GateSnapshot {
  state: u64 = 0;
  windowStartNs: u64 = 0;
  windowStopNs: u64 = 0;
}

/** Reads the shared gate through this object's `kdelay_gate` map fd. */
export function readGate(gateFd: i32): GateSnapshot {
  const key = memory.data(4);
  const value = memory.data(32);
  store<u32>(key, 0);
  const gate = new GateSnapshot();
  if (wasm_bpf_map_operate(gateFd, BPF_MAP_LOOKUP_ELEM, key, value, 0, 0) == 0) {
    gate.state = load<u64>(value, 0);
    gate.windowStartNs = load<u64>(value, 8);
    gate.windowStopNs = load<u64>(value, 16);
  }
  return gate;
}

/** Sums the u64 slots of all CPUs at `key` of a per-CPU array (option possible_cpus from the host). */
export function readPercpuSum(fd: i32, key: u32): u64 {
  const cpus = <i32>option("possible_cpus", 1);
  const keyBuf = memory.data(4);
  const values = new ArrayBuffer(8 * cpus);
  store<u32>(keyBuf, key);
  if (wasm_bpf_map_operate(fd, BPF_MAP_LOOKUP_ELEM, keyBuf, changetype<usize>(values), 0, 0) != 0) return 0;
  let sum: u64 = 0;
  for (let i = 0; i < cpus; i++) sum += load<u64>(changetype<usize>(values) + <usize>(i * 8));
  return sum;
}

/** Reads the u64 at key 0 of an array map (e.g. kdelay_map_full). */
export function readCounter(fd: i32): u64 {
  const key = memory.data(4);
  const value = memory.data(8);
  store<u32>(key, 0);
  if (wasm_bpf_map_operate(fd, BPF_MAP_LOOKUP_ELEM, key, value, 0, 0) != 0) return 0;
  return load<u64>(value);
}

/** Warns when inserts into this probe's maps failed because a map was full. */
export function warnIfMapsWereFull(counterFd: i32, probe: string): void {
  const lost = readCounter(counterFd);
  if (lost > 0) {
    warn(lost.toString() + " measurements were dropped because a " + probe + " map was full");
  }
}

/**
 * Collects the rows of one report section and hands them to the host in
 * batches (one import call per ROW_BATCH rows, not one per row). Usage:
 *   rows.row(tid, label).add(a).add(b); ... rows.flush();
 * Labels are NUL-terminated strings that must stay unchanged until flush().
 */
export class RowBatch {
  private readonly tids: StaticArray<u32>;
  private readonly labels: StaticArray<u32>;
  private readonly values: StaticArray<u64>;
  private rows: i32 = 0;
  private filled: i32 = 0;
  /** The first failure (negative errno), or 0. */
  error: i32 = 0;

  constructor(readonly section: usize, readonly width: i32, readonly capacity: i32 = 1024) {
    this.tids = new StaticArray<u32>(capacity);
    this.labels = new StaticArray<u32>(capacity);
    this.values = new StaticArray<u64>(capacity * width);
  }

  /** Starts a row; label 0 means none. */
  row(tid: u32, label: usize): RowBatch {
    if (this.rows == this.capacity) this.flush();
    unchecked((this.tids[this.rows] = tid));
    unchecked((this.labels[this.rows] = <u32>label));
    this.filled = 0;
    this.rows++;
    return this;
  }

  add(value: u64): RowBatch {
    assert(this.filled < this.width, "RowBatch: more values than columns");
    unchecked((this.values[(this.rows - 1) * this.width + this.filled++] = value));
    return this;
  }

  /** Sends the pending rows; returns the first error seen (negative errno) or 0. */
  flush(): i32 {
    if (this.rows > 0) {
      const err = report_rows(this.section, this.rows, changetype<usize>(this.tids), changetype<usize>(this.labels),
        changetype<usize>(this.values), this.width);
      if (err < 0 && this.error == 0) this.error = err;
      this.rows = 0;
    }
    return this.error;
  }
}
