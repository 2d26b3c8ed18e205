// The host imports a probe guest can call. Two modules:
//   wasm_bpf - the six standard wasm-bpf imports, with their standard meaning;
//   kdelay   - kdelay's extension ABI v1 (documented in host/runtime/kdelay-imports.ts).
// Strings are NUL-terminated UTF-8 (see cstr() in kdelay.ts); failures are
// negative errno values.

export * from "./wasm_bpf";

@external("kdelay", "bpf_object_open")
export declare function bpf_object_open(obj: usize, size: i32): i64;
@external("kdelay", "bpf_object_set_global")
export declare function bpf_object_set_global(obj: i64, name: usize, value: usize, size: i32): i32;
@external("kdelay", "bpf_object_set_max_entries")
export declare function bpf_object_set_max_entries(obj: i64, map: usize, max_entries: u32): i32;
@external("kdelay", "bpf_object_set_autoload")
export declare function bpf_object_set_autoload(obj: i64, program: usize, on: i32): i32;
@external("kdelay", "bpf_object_share_map")
export declare function bpf_object_share_map(obj: i64, map: usize): i32;
@external("kdelay", "bpf_object_load")
export declare function bpf_object_load(obj: i64): i32;
@external("kdelay", "bpf_map_lookup_all")
export declare function bpf_map_lookup_all(fd: i32, keys: usize, keys_cap: i32, values: usize, values_cap: i32): i32;
@external("kdelay", "bpf_map_clear")
export declare function bpf_map_clear(fd: i32): i32;
@external("kdelay", "option_i64")
export declare function option_i64(name: usize, fallback: i64): i64;
@external("kdelay", "syscall_number")
export declare function syscall_number(name: usize): i32;
@external("kdelay", "syscall_name")
export declare function syscall_name(nr: i32, buf: usize, cap: i32): i32;
@external("kdelay", "report_rows")
export declare function report_rows(section: usize, count: i32, tids: usize, labels: usize, values: usize, width: i32): i32;
@external("kdelay", "report_histograms")
export declare function report_histograms(count: i32, tids: usize, kinds: usize, nrs: usize, slots: usize, slot_count: i32): i32;
@external("kdelay", "report_warning")
export declare function report_warning(text: usize): i32;
@external("kdelay", "bpf_object_set_attach_target")
export declare function bpf_object_set_attach_target(obj: i64, program: usize, fn: usize): i32;
@external("kdelay", "bpf_program_attach_usdt")
export declare function bpf_program_attach_usdt(obj: i64, program: usize, provider: usize, name: usize): i32;
@external("kdelay", "bpf_program_attach_uprobe")
export declare function bpf_program_attach_uprobe(obj: i64, program: usize, retprobe: i32, fn: usize): i32;
@external("kdelay", "bpf_program_attach_tracepoint")
export declare function bpf_program_attach_tracepoint(obj: i64, program: usize, category: usize, name: usize): i32;
@external("kdelay", "bpf_program_attach_raw_tracepoint")
export declare function bpf_program_attach_raw_tracepoint(obj: i64, program: usize, name: usize): i32;
@external("kdelay", "bpf_program_attach_kprobe")
export declare function bpf_program_attach_kprobe(obj: i64, program: usize, retprobe: i32, fn: usize): i32;
@external("kdelay", "bpf_program_detach_after")
export declare function bpf_program_detach_after(obj: i64, program: usize, ms: u32): i32;
@external("kdelay", "snapshot_ns")
export declare function snapshot_ns(): i64;
@external("kdelay", "option_string")
export declare function option_string(name: usize, buf: usize, cap: i32): i32;
