/**
 * A BpfBackend without a kernel, for tests of the runtime's bookkeeping
 * (GuestSession: deferred loads, links): every opened object does nothing
 * unless the test gives it more to do.
 */
import type { BpfBackend, MapInfo, OpenedObject } from '../../host/libbpf/backend.js';

export const FAKE_MAP_INFO: MapInfo = { name: 'm', type: 1, keySize: 4, valueSize: 4, maxEntries: 1 };

/** An opened object whose every operation succeeds and does nothing. */
export function fakeObject(name: string): OpenedObject {
  return {
    name,
    setGlobal() {},
    setMaxEntries() {},
    setAutoload() {},
    setAttachTarget() {},
    reuseMap() {},
    mapInfo: () => FAKE_MAP_INFO,
    load() {},
    mapFd: () => 100,
    attach: () => ({ destroy() {} }),
    attachTo: () => ({ destroy() {} }),
    readIterator: () => new Uint8Array(0),
    close() {},
  };
}

/** A backend that opens what `open` makes (fakeObject() and what the test adds) and creates host maps that are numbers. */
export function fakeBackend(open: (name: string) => OpenedObject): BpfBackend {
  return {
    open: (_elf: Uint8Array, name: string) => open(name),
    createMap: () => 50,
    mapInfoByFd: () => FAKE_MAP_INFO,
    valueBytes: () => 4,
    dupFd: (fd: number) => fd + 1000,
    closeFd() {},
  } as unknown as BpfBackend;
}
