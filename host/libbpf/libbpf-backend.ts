/**
 * BpfBackend over libbpf (ffi.ts binds it; locate.ts chooses which one).
 */
import { readFileSync, readSync } from 'node:fs';
import { BpfError, EINVAL, ENOENT, ENOSPC, errnoName } from '../base/errno.js';
import { timingMark } from '../base/timing.js';
import { type AttachTarget, type BpfBackend, type Link, type MapInfo, MapType, type OpenedObject } from './backend.js';
import { bpf, BtfType, BtfVarSecinfo, c, koffi, lastErrno, MapBatchOpts, OpenOpts, type Pointer, UprobeOpts } from './ffi.js';
import { libbpfLog } from './log.js';

const BTF_KIND_VAR = 14;
const BTF_KIND_DATASEC = 15;
const DATA_SECTIONS = ['.rodata', '.data', '.bss'];

/** libbpf's message for a negative return, plus its most recent warning. */
export function describeFailure(what: string, err: number, objectName?: string): BpfError {
  const errno = Math.abs(err);
  const buf = Buffer.alloc(256);
  bpf.strerror(-errno, buf, buf.length);
  const text = buf.toString('utf8', 0, buf.indexOf(0));
  const detail = libbpfLog.lastWarning(objectName);
  return new BpfError(`${what}: ${text || errnoName(errno)}${detail ? ` (${detail})` : ''}`, errno);
}

function possibleCpus(): number {
  // Same source libbpf_num_possible_cpus() uses, e.g. "0-1" or "0,2-7".
  const ranges = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim().split(',');
  let max = 0;
  for (const range of ranges) {
    const [, hi] = range.split('-');
    max = Math.max(max, Number(hi ?? range) + 1);
  }
  return max;
}

const isPercpu = (type: number) => type === MapType.PERCPU_ARRAY || type === MapType.PERCPU_HASH || type === MapType.LRU_PERCPU_HASH;

class LibbpfObject implements OpenedObject {
  private loaded = false;
  private closed = false;
  private readonly links = new Set<Pointer>();

  constructor(
    readonly name: string,
    private readonly obj: Pointer,
    private readonly elfCopy: Pointer,
  ) {}

  /** The object's maps by name, listed once: a probe's configuration looks maps up by name dozens of times, two koffi calls per map passed over. */
  private mapsByName: Map<string, Pointer> | undefined;

  private map(name: string): Pointer {
    if (!this.mapsByName) {
      this.mapsByName = new Map();
      for (let m = bpf.object_next_map(this.obj, null); m; m = bpf.object_next_map(this.obj, m)) this.mapsByName.set(bpf.map_name(m), m);
    }
    const map = this.mapsByName.get(name);
    if (map) return map;
    // libbpf names internal maps "<first 8 chars of object>.rodata" etc.
    if (name.startsWith('.')) for (const [mapName, m] of this.mapsByName) if (mapName.endsWith(name)) return m;
    throw new BpfError(`${this.name}: no map named ${name}`, ENOENT);
  }

  private program(name: string): Pointer {
    const p = bpf.object_find_program_by_name(this.obj, name);
    if (!p) throw new BpfError(`${this.name}: no program named ${name}`, ENOENT);
    return p;
  }

  private requireOpen(what: string) {
    if (this.loaded) throw new BpfError(`${this.name}: ${what} must happen before load`, EINVAL);
  }

  setGlobal(name: string, value: Uint8Array): void {
    this.requireOpen(`setting ${name}`);
    const btf = bpf.object_btf(this.obj);
    for (const section of DATA_SECTIONS) {
      const secId = bpf.btf_find_by_name_kind(btf, section, BTF_KIND_DATASEC);
      if (secId < 0) continue;
      const secType = bpf.btf_type_by_id(btf, secId);
      const header = koffi.decode(secType, BtfType) as { info: number };
      const vlen = header.info & 0xffff;
      for (let i = 0; i < vlen; i++) {
        const info = koffi.decode(secType, koffi.sizeof(BtfType) + i * koffi.sizeof(BtfVarSecinfo), BtfVarSecinfo) as {
          type: number;
          offset: number;
          size: number;
        };
        const varType = koffi.decode(bpf.btf_type_by_id(btf, info.type), BtfType) as { name_off: number; info: number };
        if (((varType.info >>> 24) & 0x1f) !== BTF_KIND_VAR) continue;
        if (bpf.btf_name_by_offset(btf, varType.name_off) !== name) continue;
        if (info.size !== value.length) {
          throw new BpfError(`${this.name}: ${name} is ${info.size} bytes, got ${value.length}`, EINVAL);
        }
        const size = [0];
        const data = bpf.map_initial_value(this.map(section), size);
        if (!data || info.offset + info.size > size[0]) throw new BpfError(`${this.name}: ${section} not writable`, EINVAL);
        new Uint8Array(koffi.view(data, size[0])).set(value, info.offset);
        return;
      }
    }
    throw new BpfError(`${this.name}: no global variable named ${name}`, ENOENT);
  }

  setMaxEntries(mapName: string, maxEntries: number): void {
    this.requireOpen(`resizing ${mapName}`);
    const err = bpf.map_set_max_entries(this.map(mapName), maxEntries);
    if (err) throw describeFailure(`${this.name}: resizing ${mapName}`, err);
  }

  setAutoload(programName: string, autoload: boolean): void {
    this.requireOpen(`changing autoload of ${programName}`);
    const err = bpf.program_set_autoload(this.program(programName), autoload);
    if (err) throw describeFailure(`${this.name}: autoload of ${programName}`, err);
  }

  reuseMap(mapName: string, fd: number): void {
    this.requireOpen(`sharing ${mapName}`);
    const err = bpf.map_reuse_fd(this.map(mapName), fd);
    if (err) throw describeFailure(`${this.name}: sharing ${mapName}`, err);
  }

  mapInfo(mapName: string): MapInfo | undefined {
    let m: Pointer;
    try {
      m = this.map(mapName);
    } catch {
      return undefined;
    }
    return {
      name: bpf.map_name(m),
      type: bpf.map_type(m),
      keySize: bpf.map_key_size(m),
      valueSize: bpf.map_value_size(m),
      maxEntries: bpf.map_max_entries(m),
    };
  }

  /**
   * bpf_object__load on the calling thread, one object after another. Not
   * on worker threads side by side (as kdelay did before): the kernel's
   * verifier is a small part of a load (~5% of its CPU time, measured with
   * perf on 6.18); most is libbpf parsing the kernel's BTF (5 MB of
   * /sys/kernel/btf/vmlinux, read into a fresh buffer and copied once more,
   * for every object) and the kernel preallocating hash maps. Page faults
   * on that fresh memory are the cost, and each thread has its own malloc
   * arena, so parallel loads paid them once per object; in turn on one
   * thread, the next object's parse reuses the pages the last one freed
   * (the CLI keeps them meanwhile: driver/memory-policy.ts).
   */
  load(): void {
    this.requireOpen('load');
    timingMark(`load begin ${this.name}`);
    const err = bpf.object_load(this.obj);
    timingMark(`load end ${this.name}`);
    this.loadDone(err);
  }

  private loadDone(err: number): void {
    if (err) throw describeFailure(`${this.name}: loading the BPF object failed`, err, this.name);
    this.loaded = true;
  }

  mapFd(mapName: string): number {
    const fd = bpf.map_fd(this.map(mapName));
    if (fd < 0) throw describeFailure(`${this.name}: map ${mapName} has no fd`, fd);
    return fd;
  }

  attach(programName: string): Link {
    return this.track(programName, bpf.program_attach(this.program(programName)));
  }

  attachTo(programName: string, target: AttachTarget): Link {
    const prog = this.program(programName);
    switch (target.kind) {
      case 'uprobe': {
        const byName = 'functionName' in target;
        const opts = { sz: koffi.sizeof(UprobeOpts), ref_ctr_offset: 0, bpf_cookie: 0n, retprobe: target.retprobe, func_name: byName ? target.functionName : null };
        return this.track(programName, bpf.program_attach_uprobe_opts(prog, target.pid, target.binary, byName ? 0 : target.offset, opts));
      }
      case 'usdt':
        return this.track(programName, bpf.program_attach_usdt(prog, target.pid, target.binary, target.provider, target.name, null));
      case 'tracepoint':
        return this.track(programName, bpf.program_attach_tracepoint(prog, target.category, target.name));
      case 'raw_tracepoint':
        return this.track(programName, bpf.program_attach_raw_tracepoint(prog, target.name));
      case 'kprobe':
        return this.track(programName, bpf.program_attach_kprobe(prog, target.retprobe, target.functionName));
    }
  }

  /** Iterator links by program, attached on the first read and kept until close(). */
  private readonly iteratorLinks = new Map<string, Pointer>();

  readIterator(programName: string): Uint8Array {
    let link = this.iteratorLinks.get(programName);
    if (!link) {
      link = this.track(programName, bpf.program_attach_iter(this.program(programName), null)).pointer;
      this.iteratorLinks.set(programName, link);
    }
    const fd: number = bpf.iter_create(bpf.link_fd(link));
    if (fd < 0) throw describeFailure(`${this.name}: creating the iterator of ${programName}`, fd);
    try {
      const chunks: Buffer[] = [];
      const chunk = Buffer.alloc(64 * 1024);
      for (let n; (n = readSync(fd, chunk)) > 0;) chunks.push(Buffer.from(chunk.subarray(0, n)));
      return Buffer.concat(chunks);
    } finally {
      c.close(fd);
    }
  }

  /** Keeps a new link for close(); a NULL link is the attach failure (errno set). */
  private track(programName: string, link: Pointer | null): Link & { pointer: Pointer } {
    if (!link) throw describeFailure(`${this.name}: attaching ${programName}`, -lastErrno());
    this.links.add(link);
    return {
      pointer: link,
      destroy: () => {
        if (this.links.delete(link)) bpf.link_destroy(link);
      },
    };
  }

  setAttachTarget(programName: string, functionName: string): void {
    this.requireOpen(`setting the attach target of ${programName}`);
    const err = bpf.program_set_attach_target(this.program(programName), 0, functionName);
    if (err) throw describeFailure(`${this.name}: attach target ${functionName} for ${programName}`, err);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const link of this.links) bpf.link_destroy(link);
    this.links.clear();
    bpf.object_close(this.obj);
    koffi.free(this.elfCopy);
  }
}

export class LibbpfBackend implements BpfBackend {
  private readonly cpus = possibleCpus();

  open(elf: Uint8Array, objectName: string): OpenedObject {
    // libelf parses the buffer in place, so it must outlive the object.
    const copy = koffi.alloc('uint8_t', elf.length) as Pointer;
    new Uint8Array(koffi.view(copy, elf.length)).set(elf);
    const opts = { sz: koffi.sizeof(OpenOpts), object_name: objectName };
    const obj: Pointer | null = bpf.object_open_mem(copy, elf.length, opts);
    if (!obj) {
      const errno = lastErrno();
      koffi.free(copy);
      throw describeFailure(`${objectName}: not a usable BPF object`, -errno);
    }
    return new LibbpfObject(objectName, obj, copy);
  }

  createMap(type: number, name: string, keySize: number, valueSize: number, maxEntries: number): number {
    const fd = bpf.map_create(type, name, keySize, valueSize, maxEntries, null);
    if (fd < 0) throw describeFailure(`creating map ${name}`, fd);
    return fd;
  }

  mapInfoByFd(fd: number): MapInfo {
    // struct bpf_map_info: type, id, key_size, value_size, max_entries, map_flags, name[16], ...
    const info = Buffer.alloc(128);
    const len = [info.length];
    const err = bpf.obj_get_info_by_fd(fd, info, len);
    if (err) throw describeFailure(`reading map info of fd ${fd}`, err);
    const nameBytes = info.subarray(24, 40);
    return {
      type: info.readUInt32LE(0),
      keySize: info.readUInt32LE(8),
      valueSize: info.readUInt32LE(12),
      maxEntries: info.readUInt32LE(16),
      name: nameBytes.toString('utf8', 0, Math.max(0, nameBytes.indexOf(0))),
    };
  }

  possibleCpus(): number {
    return this.cpus;
  }

  supportsProgramType(type: number): boolean {
    return bpf.probe_prog_type(type, null) === 1;
  }

  supportsMapType(type: number): boolean {
    return bpf.probe_map_type(type, null) === 1;
  }

  valueBytes(info: MapInfo): number {
    return isPercpu(info.type) ? Math.ceil(info.valueSize / 8) * 8 * this.cpus : info.valueSize;
  }

  lookup(fd: number, key: Uint8Array, value: Uint8Array): number {
    return bpf.map_lookup_elem(fd, key, value);
  }

  update(fd: number, key: Uint8Array, value: Uint8Array, flags: bigint): number {
    return bpf.map_update_elem(fd, key, value, flags);
  }

  delete(fd: number, key: Uint8Array): number {
    return bpf.map_delete_elem(fd, key);
  }

  nextKey(fd: number, key: Uint8Array | null, nextKey: Uint8Array): number {
    return bpf.map_get_next_key(fd, key, nextKey);
  }

  lookupAll(fd: number, keys: Uint8Array, values: Uint8Array, maxEntries: number): number {
    const info = this.mapInfoByFd(fd);
    const valueBytes = this.valueBytes(info);
    if (keys.length < maxEntries * info.keySize || values.length < maxEntries * valueBytes) {
      throw new BpfError(`lookupAll: buffers too small for ${maxEntries} entries`, ENOSPC);
    }
    const opts = { sz: koffi.sizeof(MapBatchOpts), elem_flags: 0n, flags: 0n };
    // Hash maps use a bucket cursor, arrays an index; 8 bytes fits both.
    let inBatch: Buffer | null = null;
    let outBatch: Buffer = Buffer.alloc(8);
    let total = 0;
    while (total < maxEntries) {
      const count = [maxEntries - total];
      const err = bpf.map_lookup_batch(fd, inBatch, outBatch, keys.subarray(total * info.keySize), values.subarray(total * valueBytes), count, opts);
      // -ENOENT ends the walk, but `count` entries of that call are valid.
      if (err && err !== -ENOENT) throw describeFailure(`reading map ${info.name}`, err);
      total += count[0];
      if (err === -ENOENT || count[0] === 0) break;
      const next: Buffer = inBatch ?? Buffer.alloc(8);
      inBatch = outBatch;
      outBatch = next;
    }
    return total;
  }

  /**
   * Scratch space for clear(), kept between calls: probes clear their maps
   * after every sample, and fresh buffers of a whole map's size each time
   * (~0.6 MB per 16k-entry map, several maps) were what made a long run's
   * RSS creep up (malloc keeps freed large blocks, fragmented).
   */
  private scratch = new Uint8Array(0);

  private scratchBytes(bytes: number): Uint8Array {
    if (this.scratch.length < bytes) this.scratch = new Uint8Array(bytes);
    return this.scratch;
  }

  clear(fd: number): void {
    const info = this.mapInfoByFd(fd);
    if (info.type === MapType.ARRAY || info.type === MapType.PERCPU_ARRAY) {
      const key = new Uint8Array(4);
      const zero = new Uint8Array(this.valueBytes(info));
      for (let i = 0; i < info.maxEntries; i++) {
        new DataView(key.buffer).setUint32(0, i, true);
        const err = this.update(fd, key, zero, 0n);
        if (err) throw describeFailure(`clearing map ${info.name}`, err);
      }
      return;
    }
    if (info.type === MapType.STACK_TRACE) {
      // No batch operations on stack maps: walk the keys.
      const key = new Uint8Array(info.keySize);
      while (this.nextKey(fd, null, key) === 0) {
        const err = this.delete(fd, key);
        if (err) throw describeFailure(`clearing map ${info.name}`, err);
      }
      return;
    }
    const keyBytes = info.maxEntries * info.keySize;
    const scratch = this.scratchBytes(keyBytes + info.maxEntries * this.valueBytes(info));
    const keys = scratch.subarray(0, keyBytes);
    const n = this.lookupAll(fd, keys, scratch.subarray(keyBytes), info.maxEntries);
    if (n === 0) return;
    const count = [n];
    const err = bpf.map_delete_batch(fd, keys, count, { sz: koffi.sizeof(MapBatchOpts), elem_flags: 0n, flags: 0n });
    if (err && err !== -ENOENT) throw describeFailure(`clearing map ${info.name}`, err);
  }

  dupFd(fd: number): number {
    const F_DUPFD_CLOEXEC = 1030;
    const copy = c.dup(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) throw new BpfError(`duplicating fd ${fd}: ${errnoName(lastErrno())}`, lastErrno());
    return copy;
  }

  closeFd(fd: number): void {
    c.close(fd);
  }
}
