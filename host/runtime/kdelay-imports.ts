/**
 * kdelay's own imports, in module `kdelay` (ABI version 1). They cover what
 * the standard wasm_bpf ABI cannot express: configuring an object between
 * open and load, sharing the capture gate, reading whole maps in one call,
 * host facts (options, syscall numbering) and handing report rows over.
 *
 * All strings are NUL-terminated UTF-8; all sizes are checked against guest
 * memory; failures are negative errno (see abi-errors.ts).
 *
 *   bpf_object_open(buf, size) -> i64               handle, or -errno
 *   bpf_object_set_global(obj, name, value, size) -> i32
 *   bpf_object_set_max_entries(obj, map, n) -> i32
 *   bpf_object_set_autoload(obj, program, on) -> i32
 *   bpf_object_share_map(obj, map) -> i32           use the host's map of that name
 *   bpf_object_load(obj) -> i32
 *   bpf_map_lookup_all(fd, keys, keys_cap, values, values_cap) -> i32   entries read
 *   bpf_map_clear(fd) -> i32
 *   bpf_object_set_attach_target(obj, program, function) -> i32   fentry/fexit, before load
 *   bpf_program_attach_usdt(obj, program, provider, name) -> i32   in the target's executable
 *   bpf_program_attach_uprobe(obj, program, retprobe, function) -> i32   likewise, or a
 *       'LIBRARY:FUNCTION' the host resolved from the command line (ProbeServices.userFunction)
 *   bpf_program_attach_tracepoint(obj, program, category, name) -> i32
 *   bpf_program_attach_raw_tracepoint(obj, program, name) -> i32
 *   bpf_program_attach_kprobe(obj, program, retprobe, function) -> i32
 *   bpf_program_detach_after(obj, program, ms) -> i32   detach its links ms (u32)
 *       from now, 0 at once: a hook needed only while the probe warms up
 *   option_i64(name, fallback) -> i64
 *   option_string(name, buf, cap) -> i32          length written (NUL added), -ENOENT if unset
 *   syscall_number(name) -> i32                     -ENOENT if this arch has none
 *   syscall_name(nr, buf, cap) -> i32               length written (NUL added)
 *   snapshot_ns() -> i64                            catch mode: the CLOCK_MONOTONIC time of the
 *       snapshot this collect takes of the open gate, read at the first call of
 *       the collect (ask after reading the maps; the kernel still counts: write
 *       nothing back); 0 for a closed window's collect
 *   host_machine() -> i32                           this machine's ELF e_machine (62 x86_64,
 *       183 arm64, 0 unknown): which of its per-architecture BPF objects a
 *       guest opens. Needs no memory, so a guest may call it while it is
 *       being instantiated (the build's generated build/<name>.bpf.ts does).
 *   report_rows(section, count, tids, labels, values, width) -> i32
 *       count rows at once: tids u32[count], labels u32[count] (string
 *       pointers, 0 for none), values u64[count * width], row-major
 *   report_histograms(count, tids, kinds, nrs, slots, slot_count) -> i32
 *       count histograms at once: tids, kinds, nrs u32[count], slots
 *       u32[count * slot_count] (at most 64 buckets each); only a probe
 *       that provides "accounting" may (kinds: its contract, enum
 *       account_hist in probes/include/kdelay_records.bpf.h)
 *   report_warning(text) -> i32
 *
 * One module per concern in kdelay/: configure (open, configure, load),
 * attach, maps, host facts, report rows, report histograms; kdelay/context.ts has the
 * guest-string helpers they share.
 */
import type { GuestMemory } from './guest-memory.js';
import type { GuestSession } from './guest-session.js';
import { attachImports } from './kdelay/attach.js';
import { configureImports } from './kdelay/configure.js';
import { hostFactImports } from './kdelay/host-facts.js';
import { mapImports } from './kdelay/maps.js';
import type { ProbeServices } from './kdelay/context.js';
import { histogramImports } from './kdelay/report-histograms.js';
import { reportImports } from './kdelay/report-rows.js';

export { hostElfMachine } from './kdelay/host-facts.js';
export type { HistogramBatch, ProbeServices, RowBatch } from './kdelay/context.js';

/** The whole `kdelay` import module for one guest. */
export function kdelayImports(session: GuestSession, memory: () => GuestMemory, services: ProbeServices) {
  const context = { session, memory, services };
  return {
    ...configureImports(context),
    ...mapImports(context),
    ...attachImports(context),
    ...hostFactImports(context),
    ...reportImports(context),
    ...histogramImports(context),
  };
}
