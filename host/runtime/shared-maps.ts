/**
 * Kernel maps shared by several guest objects, by name.
 *
 * The capture gate is the main user: every probe object declares a
 * `kdelay_gate` map, and before load each is pointed at the one the host
 * created, so a single write opens the window for all probes. libbpf's
 * reuse_fd does no compatibility check, so we compare type, key and value
 * size ourselves; the capacity is the shared map's (reuse_fd takes it).
 */
import type { BpfBackend, MapInfo, OpenedObject } from '../libbpf/backend.js';
import { BpfError, EINVAL, ENOENT } from '../base/errno.js';

export class SharedMaps {
  private readonly maps = new Map<string, { fd: number; info: MapInfo; owned: boolean }>();

  constructor(private readonly backend: BpfBackend) {}

  /** Creates a host-owned shared map (e.g. the gate) up front. */
  create(name: string, type: number, keySize: number, valueSize: number, maxEntries: number): number {
    const fd = this.backend.createMap(type, name, keySize, valueSize, maxEntries);
    this.maps.set(name, { fd, info: { name, type, keySize, valueSize, maxEntries }, owned: true });
    return fd;
  }

  fd(name: string): number | undefined {
    return this.maps.get(name)?.fd;
  }

  /**
   * Before load: makes `object`'s map `name` the shared one. Returns false if
   * no shared map of that name exists yet (the caller registers the object's
   * own map after load with adopt()).
   */
  attachTo(object: OpenedObject, name: string): boolean {
    const shared = this.maps.get(name);
    const own = object.mapInfo(name);
    if (!own) throw new BpfError(`${object.name}: no map named ${name} to share`, ENOENT);
    if (!shared) return false;
    const a = shared.info;
    // The capacity is the shared map's: reuse_fd takes it from the map, and whoever made the map sized it (e.g. the account probe's maps, which the syscalls probe shares).
    if (a.type !== own.type || a.keySize !== own.keySize || a.valueSize !== own.valueSize) {
      throw new BpfError(
        `${object.name}: shared map ${name} does not match (type ${own.type}/${a.type}, key ${own.keySize}/${a.keySize}, ` + `value ${own.valueSize}/${a.valueSize})`,
        EINVAL,
      );
    }
    object.reuseMap(name, shared.fd);
    return true;
  }

  /** After load: registers an object's map as the shared one (we keep a dup of its fd). */
  adopt(name: string, fd: number): void {
    if (this.maps.has(name)) return;
    const mine = this.backend.dupFd(fd);
    this.maps.set(name, { fd: mine, info: this.backend.mapInfoByFd(mine), owned: true });
  }

  closeAll(): void {
    for (const { fd, owned } of this.maps.values()) if (owned) this.backend.closeFd(fd);
    this.maps.clear();
  }
}
