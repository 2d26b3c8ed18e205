/**
 * libbpf's option and BTF structs as koffi types. Declared apart from the
 * functions (ffi.ts) so that layout checks (test/integration/libbpf-layout.test.ts,
 * scripts/build-libbpf.mjs against the shipped copy's headers) need no libbpf.
 * Layouts follow libbpf 1.1's headers; libbpf's opts contract keeps them valid
 * on every newer version as long as `sz` is exactly the size declared here.
 */
import { koffi } from './libc.js';

export const OpenOpts = koffi.struct('bpf_object_open_opts', {
  sz: 'size_t',
  object_name: 'const char *',
  relaxed_maps: 'bool',
  pin_root_path: 'const char *',
  removed_attach_prog_fd: 'uint32_t', // `__u32 :32` in the header; keeps kconfig at 40
  kconfig: 'const char *',
  btf_custom_path: 'const char *',
  kernel_log_buf: 'char *',
  kernel_log_size: 'size_t',
  kernel_log_level: 'uint32_t',
});

export const MapBatchOpts = koffi.struct('bpf_map_batch_opts', {
  sz: 'size_t',
  elem_flags: 'uint64_t',
  flags: 'uint64_t',
});

export const MapCreateOpts = koffi.struct('bpf_map_create_opts', {
  sz: 'size_t',
  btf_fd: 'uint32_t',
  btf_key_type_id: 'uint32_t',
  btf_value_type_id: 'uint32_t',
  btf_vmlinux_value_type_id: 'uint32_t',
  inner_map_fd: 'uint32_t',
  map_flags: 'uint32_t',
  map_extra: 'uint64_t',
  numa_node: 'uint32_t',
  map_ifindex: 'uint32_t',
});

export const UprobeOpts = koffi.struct('bpf_uprobe_opts', {
  sz: 'size_t',
  ref_ctr_offset: 'size_t',
  bpf_cookie: 'uint64_t',
  retprobe: 'bool',
  func_name: 'const char *',
});

/** The structs above by their C names, with the fields whose offsets matter (all of them). */
export const OPTS_STRUCTS = { bpf_object_open_opts: OpenOpts, bpf_map_batch_opts: MapBatchOpts, bpf_map_create_opts: MapCreateOpts, bpf_uprobe_opts: UprobeOpts };

/** `struct btf_type` header; `size_or_type` is a union in C. */
export const BtfType = koffi.struct('btf_type', {
  name_off: 'uint32_t',
  info: 'uint32_t',
  size_or_type: 'uint32_t',
});

/** One entry of a BTF DATASEC, following its btf_type header. */
export const BtfVarSecinfo = koffi.struct('btf_var_secinfo', {
  type: 'uint32_t',
  offset: 'uint32_t',
  size: 'uint32_t',
});

export const PrintFn = koffi.proto('int libbpf_print_fn_t(int level, const char *fmt, void *args)');
