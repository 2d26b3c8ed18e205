// The host imports a plain wasm-bpf guest may use, declared by hand: the six
// standard `wasm_bpf` imports (signatures as the wasm-bpf runtimes define
// them; see ARCHITECTURE.md) and the few WASI preview1 functions our guests
// need. Written against the standard ABI only: nothing here is kdelay's.

// ---- the standard wasm-bpf imports ----------------------------------------

@external("wasm_bpf", "wasm_load_bpf_object")
export declare function wasm_load_bpf_object(obj_buf: usize, obj_buf_sz: i32): i64;
@external("wasm_bpf", "wasm_close_bpf_object")
export declare function wasm_close_bpf_object(obj: i64): i32;
@external("wasm_bpf", "wasm_attach_bpf_program")
export declare function wasm_attach_bpf_program(obj: i64, name: usize, attach_target: usize): i32;
@external("wasm_bpf", "wasm_bpf_buffer_poll")
export declare function wasm_bpf_buffer_poll(obj: i64, fd: i32, sample_func: i32, ctx: usize, data: usize, max_size: i32, timeout_ms: i32): i32;
@external("wasm_bpf", "wasm_bpf_map_fd_by_name")
export declare function wasm_bpf_map_fd_by_name(obj: i64, name: usize): i32;
@external("wasm_bpf", "wasm_bpf_map_operate")
export declare function wasm_bpf_map_operate(fd: i32, cmd: i32, key: usize, value: usize, next_key: usize, flags: u64): i32;

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
