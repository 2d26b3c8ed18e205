/**
 * libbpf's functions through koffi, from the libbpf locate.ts picks (the
 * system's, or the copy shipped with kdelay). Loading happens when this
 * module is first imported, so it must only be imported dynamically, at
 * first use (driver/measure.ts: loadBackend): `kdelay --help` and bad options
 * never load libbpf, and a missing one is an ordinary exit-72 error.
 * test/integration/libbpf-locate.test.ts holds the CLI to that. Structs are in
 * structs.ts, libc in libc.ts.
 *
 * `int` returns are libbpf's negative errno (1.0 semantics, also asked of a
 * 0.x libbpf, see locate.ts); pointer returns are NULL (null) with errno set.
 */
import { PACKAGE_ROOT } from '../package-root.js';
import { findLibbpf, type NativeFunction } from './locate.js';
import './structs.js'; // the struct names the prototypes below refer to

export { c, koffi, lastErrno, type Pointer } from './libc.js';
export { BtfType, BtfVarSecinfo, MapBatchOpts, MapCreateOpts, OpenOpts, PrintFn, UprobeOpts } from './structs.js';
export { LibbpfUnavailableError } from './locate.js';

/** Every libbpf function kdelay calls: the symbols a candidate libbpf must export. */
const LIBBPF_FUNCTIONS = {
  object_open_mem: 'void *bpf_object__open_mem(const void *buf, size_t sz, const bpf_object_open_opts *opts)',
  object_load: 'int bpf_object__load(void *obj)',
  object_close: 'void bpf_object__close(void *obj)',
  object_btf: 'void *bpf_object__btf(void *obj)',
  object_find_program_by_name: 'void *bpf_object__find_program_by_name(void *obj, const char *name)',
  object_next_map: 'void *bpf_object__next_map(void *obj, void *map)',
  object_next_program: 'void *bpf_object__next_program(void *obj, void *prog)',

  map_name: 'const char *bpf_map__name(void *map)',
  map_fd: 'int bpf_map__fd(void *map)',
  map_type: 'int bpf_map__type(void *map)',
  map_key_size: 'uint32_t bpf_map__key_size(void *map)',
  map_value_size: 'uint32_t bpf_map__value_size(void *map)',
  map_max_entries: 'uint32_t bpf_map__max_entries(void *map)',
  map_set_max_entries: 'int bpf_map__set_max_entries(void *map, uint32_t max_entries)',
  map_reuse_fd: 'int bpf_map__reuse_fd(void *map, int fd)',
  map_initial_value: 'void *bpf_map__initial_value(void *map, _Out_ size_t *psize)',

  program_name: 'const char *bpf_program__name(void *prog)',
  program_set_autoload: 'int bpf_program__set_autoload(void *prog, bool autoload)',
  program_attach: 'void *bpf_program__attach(void *prog)',
  program_attach_uprobe_opts: 'void *bpf_program__attach_uprobe_opts(void *prog, int pid, const char *binary_path, size_t func_offset, const bpf_uprobe_opts *opts)',
  program_attach_usdt: 'void *bpf_program__attach_usdt(void *prog, int pid, const char *binary_path, const char *usdt_provider, const char *usdt_name, void *opts)',
  program_attach_tracepoint: 'void *bpf_program__attach_tracepoint(void *prog, const char *tp_category, const char *tp_name)',
  program_attach_raw_tracepoint: 'void *bpf_program__attach_raw_tracepoint(void *prog, const char *tp_name)',
  program_attach_kprobe: 'void *bpf_program__attach_kprobe(void *prog, bool retprobe, const char *func_name)',
  program_set_attach_target: 'int bpf_program__set_attach_target(void *prog, int attach_prog_fd, const char *attach_func_name)',
  link_destroy: 'int bpf_link__destroy(void *link)',
  // A task iterator (host/bpf/pid_numbers.bpf.c): libbpf 0.0.9 on, so any libbpf locate.ts accepts has them.
  program_attach_iter: 'void *bpf_program__attach_iter(void *prog, const void *opts)',
  link_fd: 'int bpf_link__fd(void *link)',
  iter_create: 'int bpf_iter_create(int link_fd)',

  btf_find_by_name_kind: 'int btf__find_by_name_kind(void *btf, const char *name, uint32_t kind)',
  btf_type_by_id: 'void *btf__type_by_id(void *btf, uint32_t id)',
  btf_name_by_offset: 'const char *btf__name_by_offset(void *btf, uint32_t offset)',

  map_create: 'int bpf_map_create(int type, const char *name, uint32_t key_size, uint32_t value_size, uint32_t max_entries, const bpf_map_create_opts *opts)',
  map_lookup_elem: 'int bpf_map_lookup_elem(int fd, const void *key, void *value)',
  map_update_elem: 'int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)',
  map_delete_elem: 'int bpf_map_delete_elem(int fd, const void *key)',
  map_get_next_key: 'int bpf_map_get_next_key(int fd, const void *key, void *next_key)',
  map_lookup_batch: 'int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)',
  map_update_batch: 'int bpf_map_update_batch(int fd, const void *keys, const void *values, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)',
  map_delete_batch: 'int bpf_map_delete_batch(int fd, const void *keys, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)',
  map_get_next_id: 'int bpf_map_get_next_id(uint32_t start_id, _Out_ uint32_t *next_id)',
  map_get_fd_by_id: 'int bpf_map_get_fd_by_id(uint32_t id)',
  obj_get_info_by_fd: 'int bpf_obj_get_info_by_fd(int fd, void *info, _Inout_ uint32_t *info_len)',

  set_print: 'void *libbpf_set_print(libbpf_print_fn_t *fn)',
  strerror: 'int libbpf_strerror(int err, void *buf, size_t size)',
  probe_prog_type: 'int libbpf_probe_bpf_prog_type(int prog_type, const void *opts)',
  probe_map_type: 'int libbpf_probe_bpf_map_type(int map_type, const void *opts)',
} as const;

/** Which libbpf was loaded, and why others were passed over (printed under -D). */
export const libbpfChoice = findLibbpf({
  override: process.env.KDELAY_LIBBPF || undefined,
  arch: process.arch,
  packageRoot: PACKAGE_ROOT,
  declarations: LIBBPF_FUNCTIONS,
});

export const bpf = libbpfChoice.functions as Record<keyof typeof LIBBPF_FUNCTIONS, NativeFunction>;
