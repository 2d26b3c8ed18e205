/**
 * A guest's loads deferred while its kdelay_probe_load runs
 * (GuestSession.deferLoads) are done by finishLoads(), all started before
 * any is awaited: that is what lets the kernel verify several probes'
 * programs side by side (driver/probe-set.ts). Over a fake backend whose
 * loads finish when the test says.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BpfError, EPERM } from '../../host/base/errno.js';
import { embeddedObjects } from '../../host/bundle/bundle.js';
import type { BpfBackend, MapInfo, OpenedObject } from '../../host/libbpf/backend.js';
import { GuestSession } from '../../host/runtime/guest-session.js';
import { SharedMaps } from '../../host/runtime/shared-maps.js';

const ELF = embeddedObjects(new Uint8Array(readFileSync(join(import.meta.dirname, '..', '..', 'bundles', 'irq.wasm'))))[0];

interface FakeObject extends OpenedObject {
  loads: { sync: number; started: number };
  finish: (err?: BpfError) => void;
  closed: boolean;
}

function fakeBackend(options: { async: boolean }) {
  const objects: FakeObject[] = [];
  const info: MapInfo = { name: 'm', type: 1, keySize: 4, valueSize: 4, maxEntries: 1 };
  const backend = {
    open(_elf: Uint8Array, name: string) {
      let settle: ((err?: BpfError) => void) | undefined;
      const obj: FakeObject = {
        name,
        loads: { sync: 0, started: 0 },
        closed: false,
        finish: (err) => settle!(err),
        setGlobal() {},
        setMaxEntries() {},
        setAutoload() {},
        setAttachTarget() {},
        reuseMap() {},
        mapInfo: () => info,
        load: () => void obj.loads.sync++,
        mapFd: () => 100,
        attach: () => ({ destroy() {} }),
        attachTo: () => ({ destroy() {} }),
        readIterator: () => new Uint8Array(0),
        close: () => void (obj.closed = true),
      };
      if (options.async) {
        obj.loadAsync = () => {
          obj.loads.started++;
          return new Promise<void>((resolve, reject) => (settle = (err) => (err ? reject(err) : resolve())));
        };
      }
      objects.push(obj);
      return obj;
    },
    createMap: () => 50,
    mapInfoByFd: () => info,
    valueBytes: () => 4,
    dupFd: (fd: number) => fd + 1000,
    closeFd() {},
  } as unknown as BpfBackend;
  return { backend, objects };
}

const settled = async (promise: Promise<unknown>) => {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
};

describe('deferred loads', () => {
  it('load() only records while loads are deferred; finishLoads() starts every load before awaiting any', async () => {
    const { backend, objects } = fakeBackend({ async: true });
    const session = new GuestSession('two', backend, new SharedMaps(backend));
    const [a, b] = [session.open(ELF), session.open(ELF)];
    session.deferLoads = true;
    session.load(a);
    session.load(b);
    session.deferLoads = false;
    expect(objects.map((o) => o.loads)).toEqual([
      { sync: 0, started: 0 },
      { sync: 0, started: 0 },
    ]);
    // Requested is not loaded: no map, no attach, no configuring either.
    expect(() => session.mapFd(a, 'm')).toThrow(BpfError);
    expect(() => session.attach(a, 'p')).toThrow(/not loaded/);
    expect(() => session.beforeLoad(a, 'resizing m')).toThrow(/already loaded/);

    const loading = session.finishLoads();
    expect(objects.map((o) => o.loads.started)).toEqual([1, 1]);
    objects[1].finish();
    expect(await settled(loading)).toBe(false);
    objects[0].finish();
    await loading;
    expect(session.mapFd(a, 'm')).toBeGreaterThan(0);
    session.attach(b, 'p');
  });

  it('a failed load rejects with its BpfError, only once every load of the session has settled', async () => {
    const { backend, objects } = fakeBackend({ async: true });
    const session = new GuestSession('two', backend, new SharedMaps(backend));
    const [a, b] = [session.open(ELF), session.open(ELF)];
    session.deferLoads = true;
    session.load(a);
    session.load(b);
    const loading = session.finishLoads();
    objects[0].finish(new BpfError('irq: loading the BPF object failed: Operation not permitted', EPERM));
    expect(await settled(loading)).toBe(false); // the other is still in libbpf's hands
    objects[1].finish();
    await expect(loading).rejects.toMatchObject({ errno: EPERM });
    expect(() => session.attach(a, 'p')).toThrow(/not loaded/);
    session.attach(b, 'p');
  });

  it('without deferral, or with a backend that has no loadAsync, load() loads at once', async () => {
    const { backend, objects } = fakeBackend({ async: false });
    const session = new GuestSession('one', backend, new SharedMaps(backend));
    const a = session.open(ELF);
    session.load(a);
    expect(objects[0].loads.sync).toBe(1);
    expect(() => session.load(a)).toThrow(/already loaded/);
    const b = session.open(ELF);
    session.deferLoads = true;
    session.load(b);
    expect(objects[1].loads.sync).toBe(0);
    await session.finishLoads();
    expect(objects[1].loads.sync).toBe(1);
  });

  it('says when a deferred load would make a map other guests share (the caller finishes that load first)', () => {
    const { backend } = fakeBackend({ async: true });
    const shared = new SharedMaps(backend);
    const session = new GuestSession('sharer', backend, shared);
    const a = session.open(ELF);
    session.share(a, 'kdelay_exited_threads'); // no shared map of that name yet: this object's becomes it at load
    session.deferLoads = true;
    session.load(a);
    expect(session.defersSharedMaps).toBe(true);
    shared.create('kdelay_gate', 1, 4, 4, 1);
    const other = new GuestSession('user', backend, shared);
    const b = other.open(ELF);
    other.share(b, 'kdelay_gate');
    other.deferLoads = true;
    other.load(b);
    expect(other.defersSharedMaps).toBe(false);
    expect(() => other.share(b, 'kdelay_gate')).toThrow(/already loaded/);
  });
});
