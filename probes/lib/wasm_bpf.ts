// The six standard wasm-bpf imports (module `wasm_bpf`), with the
// signatures the wasm-bpf runtimes define (see ARCHITECTURE.md). Nothing
// here is kdelay's: plain wasm-bpf guests (examples/wasm-bpf-getppid) use
// this file as probes do, through imports.ts.

@external("wasm_bpf", "wasm_load_bpf_object")
export declare function wasm_load_bpf_object(obj: usize, size: i32): i64;
@external("wasm_bpf", "wasm_close_bpf_object")
export declare function wasm_close_bpf_object(obj: i64): i32;
@external("wasm_bpf", "wasm_attach_bpf_program")
export declare function wasm_attach_bpf_program(obj: i64, name: usize, target: usize): i32;
@external("wasm_bpf", "wasm_bpf_buffer_poll")
export declare function wasm_bpf_buffer_poll(obj: i64, fd: i32, sample_func: i32, ctx: usize, data: usize, max_size: i32, timeout_ms: i32): i32;
@external("wasm_bpf", "wasm_bpf_map_fd_by_name")
export declare function wasm_bpf_map_fd_by_name(obj: i64, name: usize): i32;
@external("wasm_bpf", "wasm_bpf_map_operate")
export declare function wasm_bpf_map_operate(fd: i32, cmd: i32, key: usize, value: usize, next_key: usize, flags: u64): i32;
