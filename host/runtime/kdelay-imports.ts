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
 *   bpf_program_attach_uprobe(obj, program, retprobe, function) -> i32   likewise
 *   bpf_program_attach_tracepoint(obj, program, category, name) -> i32
 *   bpf_program_attach_raw_tracepoint(obj, program, name) -> i32
 *   bpf_program_attach_kprobe(obj, program, retprobe, function) -> i32
 *   option_i64(name, fallback) -> i64
 *   option_string(name, buf, cap) -> i32          length written (NUL added), -ENOENT if unset
 *   syscall_number(name) -> i32                     -ENOENT if this arch has none
 *   syscall_name(nr, buf, cap) -> i32               length written (NUL added)
 *   host_machine() -> i32                           this machine's ELF e_machine (62 x86_64,
 *       183 arm64, 0 unknown): which of its per-architecture BPF objects a
 *       guest opens. Needs no memory, so a guest may call it while it is
 *       being instantiated (the build's generated build/<name>.bpf.ts does).
 *   report_rows(section, count, tids, labels, values, width) -> i32
 *       count rows at once: tids u32[count], labels u32[count] (string
 *       pointers, 0 for none), values u64[count * width], row-major
 *   report_warning(text) -> i32
 */
import type { AttachTarget } from '../libbpf/backend.js';
import { BpfError, EINVAL, ENOENT, ENOSPC } from '../base/errno.js';
import { firstSeenIds } from '../report/kernels.js';
import { errnoResult, errnoResult64 } from './abi-errors.js';
import type { GuestMemory } from './guest-memory.js';
import type { GuestSession } from './guest-session.js';

/** ELF e_machine of the machines Node runs kdelay on (EM_NONE, 0, for others). */
const ELF_MACHINE: Partial<Record<NodeJS.Architecture, number>> = { x64: 62, arm64: 183 };
export const hostElfMachine = (arch: NodeJS.Architecture = process.arch): number => ELF_MACHINE[arch] ?? 0;
const MAX_ROW_VALUES = 16;
const MAX_ROWS_PER_CALL = 65536;

/**
 * Rows as report_rows received them: u32 tids, each row's label as an index
 * into `labels` (the batch's distinct labels), u64 values as u32 word pairs.
 * The typed arrays are usually live views of guest memory: valid only while
 * ProbeServices.rows() runs, so copy what you keep.
 */
export interface RowBatch {
  section: string;
  width: number;
  count: number;
  tids: Uint32Array;
  labelIndexes: Uint32Array;
  labels: (string | undefined)[];
  valueWords: Uint32Array;
}

/**
 * n u32 words of guest memory at ptr, as a view when the pointer is 4-byte
 * aligned (guest arrays are) or else as a copy; the guest cannot run, so
 * cannot change or grow its memory, while an import uses the view.
 */
function guestWords(mem: GuestMemory, ptr: number, n: number, what: string): Uint32Array {
  const bytes = mem.view(ptr, n * 4, what);
  if (bytes.byteOffset % 4 === 0) return new Uint32Array(bytes.buffer, bytes.byteOffset, n);
  return new Uint32Array(bytes.slice().buffer);
}

/** What the host tells probes and receives from them. */
export interface ProbeServices {
  option(name: string): bigint | undefined;
  optionString(name: string): string | undefined;
  syscallNumber(name: string): number | undefined;
  syscallName(nr: number): string | undefined;
  /** Called once per report_rows call. */
  rows(batch: RowBatch): void;
  warning(text: string): void;
}

export function kdelayImports(session: GuestSession, memory: () => GuestMemory, services: ProbeServices) {
  const str = (ptr: number, what: string) => memory().requiredCString(ptr, what);
  const targetBinary = () => {
    if (!session.targetPid) throw new BpfError('this guest has no target process to attach to', EINVAL);
    return { pid: session.targetPid, binary: `/proc/${session.targetPid}/exe` };
  };
  /** The attach_* imports: the target's strings were read (and checked) by the caller. */
  const attach = (obj: bigint, program: number, what: string, target: AttachTarget): number => {
    const programName = str(program, `${what} program`);
    return errnoResult(() => (session.attach(obj, programName, target), 0));
  };
  return {
    bpf_object_open(buf: number, size: number): bigint {
      const elf = memory().copyOut(buf, size, 'bpf_object_open');
      return errnoResult64(() => session.open(elf));
    },

    bpf_object_set_global(obj: bigint, name: number, value: number, size: number): number {
      const variable = str(name, 'bpf_object_set_global name');
      const bytes = memory().copyOut(value, size, 'bpf_object_set_global value');
      return errnoResult(() => {
        session.beforeLoad(obj, `setting ${variable}`).setGlobal(variable, bytes);
        return 0;
      });
    },

    bpf_object_set_max_entries(obj: bigint, map: number, maxEntries: number): number {
      const mapName = str(map, 'bpf_object_set_max_entries map');
      return errnoResult(() => {
        session.beforeLoad(obj, `resizing ${mapName}`).setMaxEntries(mapName, maxEntries >>> 0);
        return 0;
      });
    },

    bpf_object_set_autoload(obj: bigint, program: number, on: number): number {
      const programName = str(program, 'bpf_object_set_autoload program');
      return errnoResult(() => {
        session.beforeLoad(obj, `autoload of ${programName}`).setAutoload(programName, on !== 0);
        return 0;
      });
    },

    bpf_object_share_map(obj: bigint, map: number): number {
      const mapName = str(map, 'bpf_object_share_map map');
      return errnoResult(() => {
        session.share(obj, mapName);
        return 0;
      });
    },

    bpf_object_load(obj: bigint): number {
      return errnoResult(() => {
        session.load(obj);
        return 0;
      });
    },

    bpf_map_lookup_all(fd: number, keys: number, keysCap: number, values: number, valuesCap: number): number {
      return errnoResult(() => {
        const map = session.map(fd);
        const mem = memory();
        mem.view(keys, keysCap, 'bpf_map_lookup_all keys');
        mem.view(values, valuesCap, 'bpf_map_lookup_all values');
        const capacity = Math.min(Math.floor((keysCap >>> 0) / map.info.keySize), Math.floor((valuesCap >>> 0) / map.valueBytes));
        // The guest must be able to hold a full map, or entries would be lost silently.
        if (capacity < map.info.maxEntries) {
          throw new BpfError(`bpf_map_lookup_all: buffers hold ${capacity} of ${map.info.maxEntries} entries`, ENOSPC);
        }
        // The kernel writes straight into the guest's buffers (checked above):
        // for a 100k-entry map, host-side buffers and the copies into guest
        // memory cost as much as the rest of handing the rows over.
        const wanted = map.info.maxEntries;
        const keyView = mem.view(keys, wanted * map.info.keySize, 'bpf_map_lookup_all keys');
        const valueView = mem.view(values, wanted * map.valueBytes, 'bpf_map_lookup_all values');
        return session.backend.lookupAll(map.hostFd, keyView, valueView, wanted);
      });
    },

    bpf_map_clear(fd: number): number {
      return errnoResult(() => {
        session.backend.clear(session.map(fd).hostFd);
        return 0;
      });
    },

    bpf_object_set_attach_target(obj: bigint, program: number, fn: number): number {
      const programName = str(program, 'bpf_object_set_attach_target program');
      const functionName = str(fn, 'bpf_object_set_attach_target function');
      return errnoResult(() => {
        session.beforeLoad(obj, `attach target of ${programName}`).setAttachTarget(programName, functionName);
        return 0;
      });
    },

    // Uprobes and USDT attach to the target's executable only: a guest never names a host path.
    bpf_program_attach_usdt(obj: bigint, program: number, provider: number, name: number): number {
      const what = 'bpf_program_attach_usdt';
      return attach(obj, program, what, { kind: 'usdt', ...targetBinary(), provider: str(provider, `${what} provider`), name: str(name, `${what} name`) });
    },

    bpf_program_attach_uprobe(obj: bigint, program: number, retprobe: number, fn: number): number {
      const what = 'bpf_program_attach_uprobe';
      return attach(obj, program, what, { kind: 'uprobe', ...targetBinary(), retprobe: retprobe !== 0, functionName: str(fn, `${what} function`) });
    },

    bpf_program_attach_tracepoint(obj: bigint, program: number, category: number, name: number): number {
      const what = 'bpf_program_attach_tracepoint';
      return attach(obj, program, what, { kind: 'tracepoint', category: str(category, `${what} category`), name: str(name, `${what} name`) });
    },

    bpf_program_attach_raw_tracepoint(obj: bigint, program: number, name: number): number {
      const what = 'bpf_program_attach_raw_tracepoint';
      return attach(obj, program, what, { kind: 'raw_tracepoint', name: str(name, `${what} name`) });
    },

    bpf_program_attach_kprobe(obj: bigint, program: number, retprobe: number, fn: number): number {
      const what = 'bpf_program_attach_kprobe';
      return attach(obj, program, what, { kind: 'kprobe', retprobe: retprobe !== 0, functionName: str(fn, `${what} function`) });
    },

    option_string(name: number, buf: number, cap: number): number {
      const value = services.optionString(str(name, 'option_string name'));
      if (value === undefined) return -ENOENT;
      const bytes = Buffer.from(`${value}\0`, 'utf8');
      if (bytes.length > cap >>> 0) return -ENOSPC;
      memory().copyIn(buf, bytes, 'option_string buffer');
      return bytes.length - 1;
    },

    option_i64(name: number, fallback: bigint): bigint {
      return services.option(str(name, 'option_i64 name')) ?? fallback;
    },

    syscall_number(name: number): number {
      return services.syscallNumber(str(name, 'syscall_number name')) ?? -ENOENT;
    },

    syscall_name(nr: number, buf: number, cap: number): number {
      const name = services.syscallName(nr);
      if (name === undefined) return -ENOENT;
      const bytes = Buffer.from(`${name}\0`, 'utf8');
      if (bytes.length > cap >>> 0) return -ENOSPC;
      memory().copyIn(buf, bytes, 'syscall_name buffer');
      return bytes.length - 1;
    },

    report_rows(section: number, count: number, tids: number, labels: number, values: number, width: number): number {
      const mem = memory();
      const sectionId = str(section, 'report_rows section');
      const n = count >>> 0;
      const w = width >>> 0;
      if (n > MAX_ROWS_PER_CALL || w > MAX_ROW_VALUES) return -ENOSPC;
      // One bounds check per array, not per row; the rows are taken before the guest runs again.
      const tidWords = guestWords(mem, tids, n, 'report_rows tids');
      const labelPtrs = guestWords(mem, labels, n, 'report_rows labels');
      const valueWords = guestWords(mem, values, n * w * 2, 'report_rows values');
      // One decode per distinct label pointer (a few hundred syscall names in
      // 100k rows); the pointers are numbered in wasm (report/kernels.ts).
      const { ids: labelIndexes, distinct } = firstSeenIds(labelPtrs);
      const labelStrings = Array.from(distinct, (ptr) => mem.cstring(ptr, 'report_rows label'));
      services.rows({ section: sectionId, width: w, count: n, tids: tidWords, labelIndexes, labels: labelStrings, valueWords });
      return 0;
    },

    host_machine(): number {
      return hostElfMachine();
    },

    report_warning(text: number): number {
      services.warning(str(text, 'report_warning text'));
      return 0;
    },
  };
}
