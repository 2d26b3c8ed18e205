// The host imports a plain wasm-bpf guest may use: the six standard
// `wasm_bpf` imports (declared once, in probes/lib/wasm_bpf.ts, which holds
// nothing of kdelay's) and the few WASI preview1 functions our guests need,
// declared by hand.

// ---- the standard wasm-bpf imports ----------------------------------------

export {
  wasm_attach_bpf_program, wasm_bpf_buffer_poll, wasm_bpf_map_fd_by_name, wasm_bpf_map_operate, wasm_close_bpf_object, wasm_load_bpf_object,
} from "../../probes/lib/wasm_bpf";

export const BPF_MAP_LOOKUP_ELEM = 1;
export const BPF_MAP_UPDATE_ELEM = 2;
export const BPF_ANY: u64 = 0;
export const EINTR = 4;

// ---- WASI preview1 ----------------------------------------------------------

@external("wasi_snapshot_preview1", "args_sizes_get")
export declare function args_sizes_get(argc: usize, argv_buf_size: usize): u16;
@external("wasi_snapshot_preview1", "args_get")
export declare function args_get(argv: usize, argv_buf: usize): u16;
@external("wasi_snapshot_preview1", "fd_write")
export declare function fd_write(fd: u32, iovs: usize, iovs_len: usize, nwritten: usize): u16;
@external("wasi_snapshot_preview1", "clock_time_get")
export declare function clock_time_get(clock_id: u32, precision: u64, time: usize): u16;
@external("wasi_snapshot_preview1", "proc_exit")
export declare function proc_exit(code: u32): void;
