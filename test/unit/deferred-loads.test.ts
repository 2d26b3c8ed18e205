/**
 * A guest's loads deferred while its kdelay_probe_load runs
 * (GuestSession.deferLoads) are done by finishLoads() when the export has
 * returned, in turn: the host then reports a failed load with libbpf's
 * reason (runtime/probe-guest.ts: load). Over a fake backend that counts
 * loads and fails the ones the test says.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BpfError, EPERM } from '../../host/base/errno.js';
import { embeddedObjects } from '../../host/bundle/bundle.js';
import type { OpenedObject } from '../../host/libbpf/backend.js';
import { GuestSession } from '../../host/runtime/guest-session.js';
import { SharedMaps } from '../../host/runtime/shared-maps.js';
import { fakeBackend, fakeObject } from '../helpers/fake-backend.js';

const ELF = embeddedObjects(new Uint8Array(readFileSync(join(import.meta.dirname, '..', '..', 'bundles', 'irq.wasm'))))[0];

interface FakeObject extends OpenedObject {
  loads: number;
  failure?: BpfError;
  closed: boolean;
}

function countingBackend() {
  const objects: FakeObject[] = [];
  const backend = fakeBackend((name) => {
    const obj: FakeObject = {
      ...fakeObject(name),
      loads: 0,
      closed: false,
      load: () => {
        obj.loads++;
        if (obj.failure) throw obj.failure;
      },
      close: () => void (obj.closed = true),
    };
    objects.push(obj);
    return obj;
  });
  return { backend, objects };
}

describe('deferred loads', () => {
  it('load() only records while loads are deferred; finishLoads() loads each in turn', () => {
    const { backend, objects } = countingBackend();
    const session = new GuestSession('two', backend, new SharedMaps(backend));
    const [a, b] = [session.open(ELF), session.open(ELF)];
    session.deferLoads = true;
    session.load(a);
    session.load(b);
    session.deferLoads = false;
    expect(objects.map((o) => o.loads)).toEqual([0, 0]);
    // Requested is not loaded: no map, no attach, no configuring either.
    expect(() => session.mapFd(a, 'm')).toThrow(BpfError);
    expect(() => session.attach(a, 'p')).toThrow(/not loaded/);
    expect(() => session.beforeLoad(a, 'resizing m')).toThrow(/already loaded/);

    session.finishLoads();
    expect(objects.map((o) => o.loads)).toEqual([1, 1]);
    expect(session.mapFd(a, 'm')).toBeGreaterThan(0);
    session.attach(b, 'p');
    session.finishLoads(); // nothing left to load
    expect(objects.map((o) => o.loads)).toEqual([1, 1]);
  });

  it('a failed load throws its BpfError; the objects after it stay unloaded, and close() releases all', () => {
    const { backend, objects } = countingBackend();
    const session = new GuestSession('two', backend, new SharedMaps(backend));
    const [a, b] = [session.open(ELF), session.open(ELF)];
    objects[0].failure = new BpfError('irq: loading the BPF object failed: Operation not permitted', EPERM);
    session.deferLoads = true;
    session.load(a);
    session.load(b);
    session.deferLoads = false;
    expect(() => session.finishLoads()).toThrow(expect.objectContaining({ errno: EPERM }));
    expect(objects.map((o) => o.loads)).toEqual([1, 0]);
    expect(() => session.attach(a, 'p')).toThrow(/not loaded/);
    expect(() => session.attach(b, 'p')).toThrow(/not loaded/);
    session.close();
    expect(objects.map((o) => o.closed)).toEqual([true, true]);
  });

  it('without deferral load() loads at once', () => {
    const { backend, objects } = countingBackend();
    const session = new GuestSession('one', backend, new SharedMaps(backend));
    const a = session.open(ELF);
    session.load(a);
    expect(objects[0].loads).toBe(1);
    expect(() => session.load(a)).toThrow(/already loaded/);
  });

  it('a deferred load that makes a map other guests share registers it when it loads (the next guest shares it)', () => {
    const { backend } = countingBackend();
    const shared = new SharedMaps(backend);
    const session = new GuestSession('sharer', backend, shared);
    const a = session.open(ELF);
    session.share(a, 'kdelay_exited_threads'); // no shared map of that name yet: this object's becomes it at load
    session.deferLoads = true;
    session.load(a);
    session.deferLoads = false;
    expect(() => session.share(a, 'kdelay_exited_threads')).toThrow(/already loaded/);
    expect(shared.fd('kdelay_exited_threads')).toBeUndefined();
    session.finishLoads();
    expect(shared.fd('kdelay_exited_threads')).toBe(1100);
  });
});
