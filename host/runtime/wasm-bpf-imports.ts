/**
 * The six standard imports of module `wasm_bpf`, with the meaning the
 * upstream wasm-bpf runtimes give them (ARCHITECTURE.md, "Choices where
 * the upstream wasm-bpf runtimes disagree", says where we choose between
 * their divergent behaviours):
 *
 *   wasm_load_bpf_object(buf i32, size i32) -> i64   open + load; handle, 0 on failure
 *   wasm_close_bpf_object(obj i64) -> i32             detach and close
 *   wasm_attach_bpf_program(obj i64, name i32, target i32) -> i32
 *   wasm_bpf_buffer_poll(obj i64, fd i32, sample_func i32, ctx i32, data i32, max_size i32, timeout_ms i32) -> i32
 *   wasm_bpf_map_fd_by_name(obj i64, name i32) -> i32
 *   wasm_bpf_map_operate(fd i32, cmd i32, key i32, value i32, next_key i32, flags i64) -> i32
 *
 * wasm_bpf_buffer_poll: every available record is delivered (not just the
 * last, as wasm-bpf-rs does); each is copied to `data` truncated to
 * max_size, and the callback gets the record's full size, so a guest can
 * tell it was cut (as the C++ and WasmEdge runtimes do). A non-zero return
 * from the callback stops this poll; the rest stay in the ring for the next.
 * Returns the number of records delivered, or -errno (-EINTR when a signal
 * interrupted the wait).
 */
import { BpfError, EINVAL, EPERM } from '../base/errno.js';
import { errnoResult } from './abi-errors.js';
import { GuestTrap, type GuestMemory } from './guest-memory.js';
import type { GuestSession } from './guest-session.js';
import type { RingBufferPoller } from './ring-buffer.js';

/** bpf_cmd numbers accepted by wasm_bpf_map_operate. */
const BPF_MAP_LOOKUP_ELEM = 1;
const BPF_MAP_UPDATE_ELEM = 2;
const BPF_MAP_DELETE_ELEM = 3;
const BPF_MAP_GET_NEXT_KEY = 4;
/** BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK: the only update flags allowed. */
const ALLOWED_UPDATE_FLAGS = 0b111n;

export interface WasmBpfImportContext {
  session: GuestSession;
  memory: () => GuestMemory;
  /** Calls the guest's callback (function-table index) for one ring record. */
  callSample: (sampleFunc: number, ctx: number, data: number, size: number) => number;
  poller: RingBufferPoller;
  /** Told why wasm_load_bpf_object failed: the standard ABI gives the guest only a 0 handle. */
  onLoadFailure?: (err: BpfError) => void;
}

/** The names of the standard imports, for checking what a guest asks for. */
export const WASM_BPF_IMPORT_NAMES = [
  'wasm_load_bpf_object',
  'wasm_close_bpf_object',
  'wasm_attach_bpf_program',
  'wasm_bpf_buffer_poll',
  'wasm_bpf_map_fd_by_name',
  'wasm_bpf_map_operate',
] as const;

/**
 * The callSample of a guest: calls function `index` of its exported table
 * (`__indirect_function_table`, or the only table it exports: the
 * wasm-bpf-rs and WasmEdge rules). An index outside the table or naming no
 * function traps the guest, as call_indirect would.
 */
export function tableCallback(instance: WebAssembly.Instance): WasmBpfImportContext['callSample'] {
  const tables = Object.values(instance.exports).filter((e): e is WebAssembly.Table => e instanceof WebAssembly.Table);
  const table = instance.exports.__indirect_function_table instanceof WebAssembly.Table ? instance.exports.__indirect_function_table : tables.length === 1 ? tables[0] : undefined;
  return (index, ctx, data, size) => {
    if (!table) throw new GuestTrap('ring-buffer callbacks need an exported function table (link with --export-table / asc --exportTable)');
    const slot = index >>> 0;
    if (slot >= table.length) throw new GuestTrap(`ring-buffer callback ${slot} is outside the guest's function table (${table.length} entries)`);
    const fn: unknown = table.get(slot);
    if (typeof fn !== 'function') throw new GuestTrap(`ring-buffer callback ${slot} is not a function`);
    // A callback declared without a result returns undefined: read that as "go on".
    return Number(fn(ctx, data, size) ?? 0) | 0;
  };
}

/**
 * wasm_bpf_map_operate's pointers are i32 in the runtimes, but the Rust and
 * Go guest SDKs declare them i64 (see the ABI notes); JS sees those as
 * BigInt. Accept both; a value that does not fit wasm32 traps in the bounds check.
 */
function guestPointer(value: number | bigint): number {
  if (typeof value === 'number') return value;
  return value >= 0n && value <= 0xffffffffn ? Number(value) : 0xffffffff;
}

export function wasmBpfImports(cx: WasmBpfImportContext) {
  const { session } = cx;
  let polling = false;
  return {
    wasm_load_bpf_object(buf: number, size: number): bigint {
      const elf = cx.memory().copyOut(buf, size, 'wasm_load_bpf_object');
      let handle = 0n;
      try {
        handle = session.open(elf);
        session.load(handle);
        return handle;
      } catch (err) {
        if (!(err instanceof BpfError)) throw err;
        if (handle) session.closeObject(handle);
        cx.onLoadFailure?.(err);
        return 0n; // the standard ABI has no errno here
      }
    },

    wasm_close_bpf_object(obj: bigint): number {
      return errnoResult(() => {
        session.object(obj);
        cx.poller.release(obj); // unmap its rings before the maps go
        session.closeObject(obj);
        return 0;
      });
    },

    wasm_attach_bpf_program(obj: bigint, name: number, target: number): number {
      const memory = cx.memory();
      const program = memory.requiredCString(name, 'wasm_attach_bpf_program name');
      const attachTarget = memory.cstring(target, 'wasm_attach_bpf_program target');
      return errnoResult(() => {
        // Upstream opens the target as a host path (cgroup) or interface name
        // (XDP). We never act on guest-supplied paths and allow no networking
        // hooks, so a target is refused rather than silently ignored.
        if (attachTarget) throw new BpfError(`attach target "${attachTarget}" is not allowed`, EPERM);
        session.attach(obj, program);
        return 0;
      });
    },

    wasm_bpf_buffer_poll(obj: bigint, fd: number, sampleFunc: number, ctx: number, data: number, maxSize: number, timeoutMs: number): number {
      session.object(obj);
      // From inside its own callback, a poll would re-read the records the
      // outer one has not committed as consumed yet, and deliver them twice.
      if (polling) throw new GuestTrap('wasm_bpf_buffer_poll called from a ring-buffer callback');
      const memory = cx.memory();
      memory.view(data, maxSize, 'wasm_bpf_buffer_poll data');
      polling = true;
      try {
        return errnoResult(() =>
          cx.poller.poll(session.map(fd), timeoutMs, (record) => {
            cx.memory().copyIn(data, record.subarray(0, Math.min(record.length, maxSize >>> 0)), 'wasm_bpf_buffer_poll data');
            return cx.callSample(sampleFunc, ctx, data, record.length);
          }),
        );
      } finally {
        polling = false;
      }
    },

    wasm_bpf_map_fd_by_name(obj: bigint, name: number): number {
      const mapName = cx.memory().requiredCString(name, 'wasm_bpf_map_fd_by_name name');
      return errnoResult(() => session.mapFd(obj, mapName));
    },

    wasm_bpf_map_operate(fd: number, cmd: number, keyArg: number | bigint, valueArg: number | bigint, nextKeyArg: number | bigint, flagsArg: bigint | number): number {
      const [key, value, nextKey] = [guestPointer(keyArg), guestPointer(valueArg), guestPointer(nextKeyArg)];
      const flags = BigInt(flagsArg);
      return errnoResult(() => {
        const map = session.map(fd);
        const memory = cx.memory();
        const { keySize } = map.info;
        const keyBytes = () => memory.copyOut(key, keySize, 'map key');
        switch (cmd) {
          case BPF_MAP_LOOKUP_ELEM: {
            const out = new Uint8Array(map.valueBytes);
            memory.view(value, map.valueBytes, 'map value'); // check before the syscall
            const err = session.backend.lookup(map.hostFd, keyBytes(), out);
            if (!err) memory.copyIn(value, out, 'map value');
            return err;
          }
          case BPF_MAP_UPDATE_ELEM:
            if (BigInt.asUintN(64, flags) & ~ALLOWED_UPDATE_FLAGS) throw new BpfError('unsupported update flags', EINVAL);
            return session.backend.update(map.hostFd, keyBytes(), memory.copyOut(value, map.valueBytes, 'map value'), flags);
          case BPF_MAP_DELETE_ELEM:
            return session.backend.delete(map.hostFd, keyBytes());
          case BPF_MAP_GET_NEXT_KEY: {
            const out = new Uint8Array(keySize);
            memory.view(nextKey, keySize, 'map next_key');
            const current = key >>> 0 ? keyBytes() : null;
            const err = session.backend.nextKey(map.hostFd, current, out);
            if (!err) memory.copyIn(nextKey, out, 'map next_key');
            return err;
          }
          default:
            throw new BpfError(`map command ${cmd} is not supported`, EINVAL);
        }
      });
    },
  };
}
