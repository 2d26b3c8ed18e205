/**
 * The raw FFI surface: the system libbpf.so.1 and a few libc calls, bound
 * through koffi (prebuilt, no addon build). Nothing else in kdelay loads
 * native code. Layouts of the `*_opts` structs follow libbpf 1.1's headers
 * (checked against offsetof in test/libbpf-layout.test.ts); libbpf's opts
 * contract keeps 1.1-sized structs valid on newer versions as long as `sz`
 * is exactly the size we declare.
 *
 * koffi conventions used here: pointers are BigInt (NULL is null), `int`
 * returns are libbpf's negative errno, and errno is only meaningful right
 * after a call that failed.
 */
import koffi from 'koffi';

export type Pointer = bigint;

export class LibbpfUnavailableError extends Error {}

function loadLibrary(name: string): ReturnType<typeof koffi.load> {
  try {
    return koffi.load(name);
  } catch (err) {
    throw new LibbpfUnavailableError(
      `cannot load ${name} (${(err as Error).message.split('\n')[0]}); install the libbpf1 package`,
    );
  }
}

const libbpf = loadLibrary('libbpf.so.1');
const libc = loadLibrary('libc.so.6');

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

const PrintFn = koffi.proto('int libbpf_print_fn_t(int level, const char *fmt, void *args)');

export const bpf = {
  object_open_mem: libbpf.func('void *bpf_object__open_mem(const void *buf, size_t sz, const bpf_object_open_opts *opts)'),
  object_load: libbpf.func('int bpf_object__load(void *obj)'),
  object_close: libbpf.func('void bpf_object__close(void *obj)'),
  object_btf: libbpf.func('void *bpf_object__btf(void *obj)'),
  object_find_program_by_name: libbpf.func('void *bpf_object__find_program_by_name(void *obj, const char *name)'),
  object_next_map: libbpf.func('void *bpf_object__next_map(void *obj, void *map)'),
  object_next_program: libbpf.func('void *bpf_object__next_program(void *obj, void *prog)'),

  map_name: libbpf.func('const char *bpf_map__name(void *map)'),
  map_fd: libbpf.func('int bpf_map__fd(void *map)'),
  map_type: libbpf.func('int bpf_map__type(void *map)'),
  map_key_size: libbpf.func('uint32_t bpf_map__key_size(void *map)'),
  map_value_size: libbpf.func('uint32_t bpf_map__value_size(void *map)'),
  map_max_entries: libbpf.func('uint32_t bpf_map__max_entries(void *map)'),
  map_set_max_entries: libbpf.func('int bpf_map__set_max_entries(void *map, uint32_t max_entries)'),
  map_reuse_fd: libbpf.func('int bpf_map__reuse_fd(void *map, int fd)'),
  map_initial_value: libbpf.func('void *bpf_map__initial_value(void *map, _Out_ size_t *psize)'),

  program_name: libbpf.func('const char *bpf_program__name(void *prog)'),
  program_set_autoload: libbpf.func('int bpf_program__set_autoload(void *prog, bool autoload)'),
  program_attach: libbpf.func('void *bpf_program__attach(void *prog)'),
  program_attach_uprobe_opts: libbpf.func('void *bpf_program__attach_uprobe_opts(void *prog, int pid, const char *binary_path, size_t func_offset, const bpf_uprobe_opts *opts)'),
  program_attach_usdt: libbpf.func('void *bpf_program__attach_usdt(void *prog, int pid, const char *binary_path, const char *usdt_provider, const char *usdt_name, void *opts)'),
  program_attach_tracepoint: libbpf.func('void *bpf_program__attach_tracepoint(void *prog, const char *tp_category, const char *tp_name)'),
  program_attach_raw_tracepoint: libbpf.func('void *bpf_program__attach_raw_tracepoint(void *prog, const char *tp_name)'),
  program_attach_kprobe: libbpf.func('void *bpf_program__attach_kprobe(void *prog, bool retprobe, const char *func_name)'),
  program_set_attach_target: libbpf.func('int bpf_program__set_attach_target(void *prog, int attach_prog_fd, const char *attach_func_name)'),
  link_destroy: libbpf.func('int bpf_link__destroy(void *link)'),

  btf_find_by_name_kind: libbpf.func('int btf__find_by_name_kind(void *btf, const char *name, uint32_t kind)'),
  btf_type_by_id: libbpf.func('void *btf__type_by_id(void *btf, uint32_t id)'),
  btf_name_by_offset: libbpf.func('const char *btf__name_by_offset(void *btf, uint32_t offset)'),

  map_create: libbpf.func('int bpf_map_create(int type, const char *name, uint32_t key_size, uint32_t value_size, uint32_t max_entries, const bpf_map_create_opts *opts)'),
  map_lookup_elem: libbpf.func('int bpf_map_lookup_elem(int fd, const void *key, void *value)'),
  map_update_elem: libbpf.func('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
  map_delete_elem: libbpf.func('int bpf_map_delete_elem(int fd, const void *key)'),
  map_get_next_key: libbpf.func('int bpf_map_get_next_key(int fd, const void *key, void *next_key)'),
  map_lookup_batch: libbpf.func('int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)'),
  map_update_batch: libbpf.func('int bpf_map_update_batch(int fd, const void *keys, const void *values, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)'),
  map_delete_batch: libbpf.func('int bpf_map_delete_batch(int fd, const void *keys, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)'),
  map_get_next_id: libbpf.func('int bpf_map_get_next_id(uint32_t start_id, _Out_ uint32_t *next_id)'),
  map_get_fd_by_id: libbpf.func('int bpf_map_get_fd_by_id(uint32_t id)'),
  obj_get_info_by_fd: libbpf.func('int bpf_obj_get_info_by_fd(int fd, void *info, _Inout_ uint32_t *info_len)'),

  set_print: libbpf.func('void *libbpf_set_print(libbpf_print_fn_t *fn)'),
  strerror: libbpf.func('int libbpf_strerror(int err, void *buf, size_t size)'),
  probe_prog_type: libbpf.func('int libbpf_probe_bpf_prog_type(int prog_type, const void *opts)'),
  probe_map_type: libbpf.func('int libbpf_probe_bpf_map_type(int map_type, const void *opts)'),
};

export const c = {
  close: libc.func('int close(int fd)'),
  dup: libc.func('int fcntl(int fd, int cmd, int arg)'),
  // F_GETFL/F_SETFL (the same libc fcntl as dup, named for what it does there).
  fcntl: libc.func('int fcntl(int fd, int cmd, int arg)'),
  vsnprintf: libc.func('int vsnprintf(void *buf, size_t size, const char *fmt, void *args)'),
  sysconf: libc.func('long sysconf(int name)'),
  mmap: libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset)'),
  munmap: libc.func('int munmap(void *addr, size_t length)'),
  epoll_create1: libc.func('int epoll_create1(int flags)'),
  eventfd: libc.func('int eventfd(unsigned int initval, int flags)'),
  write: libc.func('long write(int fd, const void *buf, size_t count)'),
  epoll_ctl: libc.func('int epoll_ctl(int epfd, int op, int fd, void *event)'),
  // `events` is a caller-owned buffer of maxevents * 12 bytes (struct epoll_event is packed on x86-64).
  epoll_wait: libc.func('int epoll_wait(int epfd, void *events, int maxevents, int timeout)'),
};

export { koffi, PrintFn };

/** errno of the last failed call; read it immediately after the failure. */
export function lastErrno(): number {
  return koffi.errno();
}
