// A guest that breaks the host ABI on purpose, one way per export.
import { bpf_map_lookup_all, report_rows, wasm_attach_bpf_program, wasm_bpf_map_fd_by_name, wasm_bpf_map_operate, wasm_load_bpf_object } from '../../probes/lib/imports';

function memoryEnd(): usize {
  return (<usize>memory.size()) << 16;
}

export function load_past_end(): i64 {
  return wasm_load_bpf_object(memoryEnd() - 10, 100);
}

export function load_negative_length(): i64 {
  return wasm_load_bpf_object(16, -1);
}

export function unterminated_string(): i32 {
  const end = memoryEnd();
  memory.fill(end - 64, 0x61, 64); // "aaaa..." up to the last byte, no NUL
  return wasm_bpf_map_fd_by_name(1, end - 64);
}

export function unknown_handle(): i32 {
  const name = memory.data<u8>([0x70, 0]); // "p"
  return wasm_attach_bpf_program(12345, name, 0);
}

export function unknown_map_fd(): i32 {
  return wasm_bpf_map_operate(99, 1, 0, 0, 0, 0);
}

export function lookup_all_past_end(): i32 {
  return bpf_map_lookup_all(3, memoryEnd() - 8, 64, 0, 64);
}

export function row_values_past_end(): i32 {
  const section = memory.data<u8>([0x73, 0]); // "s"
  const tids = memory.data(8);
  return report_rows(section, 2, tids, tids, memoryEnd() - 8, 4);
}

export function healthy(): i32 {
  return 42;
}
