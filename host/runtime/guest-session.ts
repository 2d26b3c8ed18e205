/**
 * What one guest owns in the kernel, addressed by small per-guest handles.
 *
 * A guest never sees a host pointer or a raw host fd: object handles are
 * 1, 2, 3... (i64 in the ABI) and map "fds" are indices into this guest's own
 * table, so a guest cannot reach a map it did not get from us. close()
 * releases everything, whatever state the guest left it in.
 */
import type { AttachTarget, BpfBackend, Link, MapInfo, OpenedObject } from '../libbpf/backend.js';
import { BpfError, EBADF, EINVAL } from '../base/errno.js';
import { GuestTrap } from './guest-memory.js';
import { checkProgramPolicy } from '../bundle/policy.js';
import type { SharedMaps } from './shared-maps.js';

interface GuestObject {
  opened: OpenedObject;
  loaded: boolean;
  /** Asked for while loads were deferred (deferLoads): loaded by finishLoads(). */
  loadRequested: boolean;
  links: Link[];
  /** Maps to be registered as shared after load (no shared copy existed yet). */
  pendingShares: string[];
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
    this.objects.set(handle, { opened, loaded: false, loadRequested: false, links: [], pendingShares: [] });
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
   * loads, on another thread where the backend can (loadAsync; libbpf's
   * loads in turn on this one: libbpf-backend.ts, load): the host sets it
   * around a guest's kdelay_probe_load export, so every probe loads before
   * any attaches (driver/probe-set.ts).
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

  /** Whether a deferred load would create a map other guests share (the first to load makes it: see SharedMaps.adopt). */
  get defersSharedMaps(): boolean {
    return [...this.objects.values()].some((obj) => obj.loadRequested && !obj.loaded && obj.pendingShares.length > 0);
  }

  /**
   * Loads what load() deferred, all at once. Settles when every load has
   * (an object is never closed while libbpf loads it); rejects with the
   * first failure, a BpfError with libbpf's reason.
   */
  async finishLoads(): Promise<void> {
    const requested = [...this.objects.values()].filter((obj) => obj.loadRequested && !obj.loaded);
    const results = await Promise.allSettled(
      requested.map(async (obj) => {
        await (obj.opened.loadAsync ? obj.opened.loadAsync() : obj.opened.load());
        obj.loadRequested = false;
        this.loaded(obj);
      }),
    );
    const failure = results.find((r) => r.status === 'rejected');
    if (failure) throw failure.reason;
  }

  /** Attaches from the SEC() name, or to a run-time target. */
  attach(handle: bigint, programName: string, target?: AttachTarget): void {
    const obj = this.object(handle);
    if (!obj.loaded) throw new BpfError(`attaching ${programName}: the object is not loaded`, EINVAL);
    obj.links.push(target ? obj.opened.attachTo(programName, target) : obj.opened.attach(programName));
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
    obj.links.forEach((link) => link.destroy());
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
