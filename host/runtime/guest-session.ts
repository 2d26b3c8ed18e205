/**
 * What one guest owns in the kernel, addressed by small per-guest handles.
 *
 * A guest never sees a host pointer or a raw host fd: object handles are
 * 1, 2, 3... (i64 in the ABI) and map "fds" are indices into this guest's own
 * table, so a guest cannot reach a map it did not get from us. close()
 * releases everything, whatever state the guest left it in.
 */
import type { AttachTarget, BpfBackend, Link, MapInfo, OpenedObject } from '../libbpf/backend.js';
import { BpfError, EBADF, EINVAL, ENOENT } from '../base/errno.js';
import { GuestTrap } from './guest-memory.js';
import { checkProgramPolicy } from '../bundle/policy.js';
import type { SharedMaps } from './shared-maps.js';

interface GuestObject {
  opened: OpenedObject;
  loaded: boolean;
  /** Asked for while loads were deferred (deferLoads): loaded by finishLoads(). */
  loadRequested: boolean;
  links: { program: string; link: Link }[];
  /** Maps to be registered as shared after load (no shared copy existed yet). */
  pendingShares: string[];
  /** detachAfter()'s pending timers, cleared when the object closes. */
  timers: Set<NodeJS.Timeout>;
}

export interface GuestMap {
  owner: bigint;
  hostFd: number;
  info: MapInfo;
  /** Bytes of one value as the kernel reads/writes it (PERCPU: all CPUs). */
  valueBytes: number;
}

export class GuestSession {
  private readonly objects = new Map<bigint, GuestObject>();
  private readonly maps = new Map<number, GuestMap>();
  private nextHandle = 1n;
  private nextFd = 3; // 0-2 look like stdio; avoid confusing anyone reading traces

  constructor(
    readonly name: string,
    readonly backend: BpfBackend,
    readonly shared: SharedMaps,
    /** The process being measured: uprobes and USDT attach in it only (its executable, or libraries the host resolved). */
    readonly targetPid = 0,
    /** Program kinds and helpers let through beyond the policy's allow-list (--allow-program-kind). */
    readonly allowedProgramKinds: readonly string[] = [],
  ) {}

  /** Opens an ELF image after the policy check; returns its handle. Nothing is loaded yet. */
  open(elf: Uint8Array): bigint {
    checkProgramPolicy(elf, this.name, this.allowedProgramKinds);
    const opened = this.backend.open(elf, this.name);
    const handle = this.nextHandle++;
    this.objects.set(handle, { opened, loaded: false, loadRequested: false, links: [], pendingShares: [], timers: new Set() });
    return handle;
  }

  object(handle: bigint): GuestObject {
    const obj = typeof handle === 'bigint' ? this.objects.get(handle) : undefined;
    if (!obj) throw new GuestTrap(`unknown BPF object handle ${String(handle)}`);
    return obj;
  }

  beforeLoad(handle: bigint, what: string): OpenedObject {
    const obj = this.object(handle);
    if (obj.loaded || obj.loadRequested) throw new BpfError(`${what}: the object is already loaded`, EINVAL);
    return obj.opened;
  }

  share(handle: bigint, mapName: string): void {
    const obj = this.object(handle);
    if (obj.loaded || obj.loadRequested) throw new BpfError(`sharing ${mapName}: the object is already loaded`, EINVAL);
    if (!this.shared.attachTo(obj.opened, mapName)) obj.pendingShares.push(mapName);
  }

  /**
   * While true, load() only records the request and finishLoads() does the
   * loads: the host sets it around a guest's kdelay_probe_load export and
   * loads when the export has returned, so a failed load is the host's to
   * report, with libbpf's reason (runtime/probe-guest.ts: load).
   */
  deferLoads = false;

  load(handle: bigint): void {
    const obj = this.object(handle);
    if (obj.loaded || obj.loadRequested) throw new BpfError('the object is already loaded', EINVAL);
    if (this.deferLoads) {
      obj.loadRequested = true;
      return;
    }
    obj.opened.load();
    this.loaded(obj);
  }

  private loaded(obj: GuestObject): void {
    obj.loaded = true;
    for (const name of obj.pendingShares) this.shared.adopt(name, obj.opened.mapFd(name));
  }

  /**
   * Loads what load() deferred, in turn; throws the first failure, a
   * BpfError with libbpf's reason (the objects after it stay unloaded,
   * released by close()).
   */
  finishLoads(): void {
    for (const obj of this.objects.values()) {
      if (!obj.loadRequested || obj.loaded) continue;
      obj.opened.load();
      obj.loadRequested = false;
      this.loaded(obj);
    }
  }

  /** Attaches from the SEC() name, or to a run-time target. */
  attach(handle: bigint, programName: string, target?: AttachTarget): void {
    const obj = this.object(handle);
    if (!obj.loaded) throw new BpfError(`attaching ${programName}: the object is not loaded`, EINVAL);
    obj.links.push({ program: programName, link: target ? obj.opened.attachTo(programName, target) : obj.opened.attach(programName) });
  }

  /**
   * Detaches every link of an attached program ms milliseconds from now (at
   * once for 0), for a hook a probe needs only while it warms up. The
   * timer does not keep the process alive and goes with the object.
   */
  detachAfter(handle: bigint, programName: string, ms: number): void {
    const obj = this.object(handle);
    if (!obj.links.some((l) => l.program === programName)) throw new BpfError(`detaching ${programName}: it is not attached`, ENOENT);
    if (!Number.isSafeInteger(ms) || ms < 0) throw new BpfError(`detaching ${programName}: ${ms} ms is no delay`, EINVAL);
    const detach = () => {
      for (const { program, link } of obj.links) if (program === programName) link.destroy();
      obj.links = obj.links.filter((l) => l.program !== programName);
    };
    if (ms === 0) return detach();
    const timer = setTimeout(() => {
      obj.timers.delete(timer);
      detach();
    }, ms);
    timer.unref();
    obj.timers.add(timer);
  }

  /** The guest-visible fd of a map of a loaded object. */
  mapFd(handle: bigint, mapName: string): number {
    const obj = this.object(handle);
    if (!obj.loaded) throw new BpfError(`map ${mapName}: the object is not loaded`, EINVAL);
    const hostFd = obj.opened.mapFd(mapName);
    for (const [fd, map] of this.maps) if (map.hostFd === hostFd) return fd;
    const info = this.backend.mapInfoByFd(hostFd);
    const fd = this.nextFd++;
    this.maps.set(fd, { owner: handle, hostFd, info, valueBytes: this.backend.valueBytes(info) });
    return fd;
  }

  map(fd: number): GuestMap {
    const map = this.maps.get(fd);
    if (!map) throw new BpfError(`fd ${fd} is not a map of this guest`, EBADF);
    return map;
  }

  closeObject(handle: bigint): void {
    const obj = this.object(handle);
    for (const [fd, map] of this.maps) if (map.owner === handle) this.maps.delete(fd);
    obj.timers.forEach((timer) => clearTimeout(timer));
    obj.links.forEach(({ link }) => link.destroy());
    obj.opened.close();
    this.objects.delete(handle);
  }

  /** Detaches and closes everything this guest opened. Never throws. */
  close(): void {
    for (const handle of [...this.objects.keys()]) {
      try {
        this.closeObject(handle);
      } catch {
        /* keep releasing the rest */
      }
    }
    this.maps.clear();
  }
}
