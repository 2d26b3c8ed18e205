/**
 * The kernel-facing interface the runtime depends on. The real implementation
 * (libbpf-backend.ts) calls libbpf through koffi; tests of the runtime's
 * guest-facing checks can use a fake, because nothing above this layer
 * touches native code.
 */

/** Kernel map types kdelay needs to tell apart (enum bpf_map_type). */
export const MapType = {
  HASH: 1,
  ARRAY: 2,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  STACK_TRACE: 7,
  RINGBUF: 27,
} as const;

export interface MapInfo {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
}

export interface OpenedObject {
  readonly name: string;
  /** Sets a global variable (.rodata/.data/.bss) before load; size must match. */
  setGlobal(name: string, value: Uint8Array): void;
  setMaxEntries(mapName: string, maxEntries: number): void;
  setAutoload(programName: string, autoload: boolean): void;
  /** Makes this object's map use an existing kernel map (before load). */
  reuseMap(mapName: string, fd: number): void;
  mapInfo(mapName: string): MapInfo | undefined;
  load(): void;
  /**
   * load() on another thread: the kernel verifies programs in the loading
   * thread's bpf() call, so objects loaded this way are verified side by
   * side (driver/probe-set.ts starts every probe's load before awaiting
   * any). Optional: a backend without it loads with load(), as the libbpf
   * one does (libbpf-backend.ts, load: why in turn is faster there).
   */
  loadAsync?(): Promise<void>;
  /** After load: the fd of a map of this object. */
  mapFd(mapName: string): number;
  /** Auto-attaches a program from its SEC() name. */
  attach(programName: string): Link;
  /** Attaches to a target chosen at run time (see AttachTarget). */
  attachTo(programName: string, target: AttachTarget): Link;
  /**
   * Runs an iter/ program once: reads what it writes (bpf_seq_write) to the
   * end. The program is attached on the first call and stays attached until
   * close(), so asking again costs one iteration, not a load and verification.
   * Only the host's own objects have such programs (the policy refuses them
   * in bundles).
   */
  readIterator(programName: string): Uint8Array;
  /** For fentry/fexit programs: the kernel function, set before load. */
  setAttachTarget(programName: string, functionName: string): void;
  close(): void;
}

/** Where a program attaches when its SEC() name does not say. */
export type AttachTarget =
  /** By function name (libbpf finds it in binary), or by offset in binary (a function the host has found itself). */
  | ({ kind: 'uprobe'; retprobe: boolean; pid: number; binary: string } & ({ functionName: string } | { offset: number }))
  | { kind: 'usdt'; pid: number; binary: string; provider: string; name: string }
  | { kind: 'tracepoint'; category: string; name: string }
  | { kind: 'raw_tracepoint'; name: string }
  | { kind: 'kprobe'; retprobe: boolean; functionName: string };

export interface Link {
  destroy(): void;
}

export interface BpfBackend {
  open(elf: Uint8Array, objectName: string): OpenedObject;
  createMap(type: number, name: string, keySize: number, valueSize: number, maxEntries: number): number;
  mapInfoByFd(fd: number): MapInfo;
  /** CPUs the kernel may bring up (the slots of a per-CPU map value). */
  possibleCpus(): number;
  /** Whether the kernel loads programs of this type (enum bpf_prog_type), by loading a trivial one. */
  supportsProgramType(type: number): boolean;
  /** Whether the kernel creates maps of this type (enum bpf_map_type). */
  supportsMapType(type: number): boolean;
  /** Bytes the kernel writes for one value (PERCPU maps: one slot per possible CPU). */
  valueBytes(info: MapInfo): number;
  lookup(fd: number, key: Uint8Array, value: Uint8Array): number;
  update(fd: number, key: Uint8Array, value: Uint8Array, flags: bigint): number;
  delete(fd: number, key: Uint8Array): number;
  nextKey(fd: number, key: Uint8Array | null, nextKey: Uint8Array): number;
  /** Reads up to maxEntries entries with batch lookups; returns how many. */
  lookupAll(fd: number, keys: Uint8Array, values: Uint8Array, maxEntries: number): number;
  /** Removes every entry (hash maps) or zeroes every slot (arrays). */
  clear(fd: number): void;
  /** A second fd for the same kernel object (close-on-exec). */
  dupFd(fd: number): number;
  closeFd(fd: number): void;
}
