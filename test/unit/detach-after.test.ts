/**
 * GuestSession.detachAfter (the kdelay import bpf_program_detach_after): a
 * hook a probe needs only while it warms up (the sched probe's
 * sched_stat_runtime) is detached by a host timer, all its links at once;
 * closing the object first cancels the timer. Over a fake backend that
 * records which links were destroyed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ENOENT, EINVAL } from '../../host/base/errno.js';
import { embeddedObjects } from '../../host/bundle/bundle.js';
import type { BpfBackend } from '../../host/libbpf/backend.js';
import { GuestSession } from '../../host/runtime/guest-session.js';
import { SharedMaps } from '../../host/runtime/shared-maps.js';
import { fakeBackend, fakeObject } from '../helpers/fake-backend.js';

const ELF = embeddedObjects(new Uint8Array(readFileSync(join(import.meta.dirname, '..', '..', 'bundles', 'irq.wasm'))))[0];

/** Links named PROGRAM#N, recorded when destroyed. */
function linkRecordingBackend() {
  const destroyed: string[] = [];
  let links = 0;
  const link = (program: string) => {
    const id = `${program}#${++links}`;
    return { destroy: () => void destroyed.push(id) };
  };
  const backend = fakeBackend((name) => ({ ...fakeObject(name), attach: link, attachTo: link }));
  return { backend, destroyed };
}

function attached(backend: BpfBackend) {
  const session = new GuestSession('sched', backend, new SharedMaps(backend));
  const obj = session.open(ELF);
  session.load(obj);
  session.attach(obj, 'sched_switch');
  session.attach(obj, 'sched_stat_runtime');
  session.attach(obj, 'sched_stat_runtime'); // a second link of the same program
  return { session, obj };
}

describe('detachAfter', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it('destroys every link of the program when its time is up, and only those', () => {
    const { backend, destroyed } = linkRecordingBackend();
    const { session, obj } = attached(backend);
    session.detachAfter(obj, 'sched_stat_runtime', 2000);
    vi.advanceTimersByTime(1999);
    expect(destroyed).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(destroyed).toEqual(['sched_stat_runtime#2', 'sched_stat_runtime#3']);
    // Gone from the object: closing it destroys the rest, not those again.
    session.close();
    expect(destroyed).toEqual(['sched_stat_runtime#2', 'sched_stat_runtime#3', 'sched_switch#1']);
  });

  it('detaches at once for 0, and refuses a program that is not attached or a delay that is none', () => {
    const { backend, destroyed } = linkRecordingBackend();
    const { session, obj } = attached(backend);
    session.detachAfter(obj, 'sched_stat_runtime', 0);
    expect(destroyed).toEqual(['sched_stat_runtime#2', 'sched_stat_runtime#3']);
    expect(() => session.detachAfter(obj, 'sched_stat_runtime', 10)).toThrow(expect.objectContaining({ errno: ENOENT }));
    expect(() => session.detachAfter(obj, 'sched_wakeup', 10)).toThrow(/sched_wakeup: it is not attached/);
    expect(() => session.detachAfter(obj, 'sched_switch', -1)).toThrow(expect.objectContaining({ errno: EINVAL }));
  });

  it('a timer whose object closed first does nothing, and keeps no process alive', () => {
    const { backend, destroyed } = linkRecordingBackend();
    const { session, obj } = attached(backend);
    session.detachAfter(obj, 'sched_stat_runtime', 2000);
    session.close();
    expect(destroyed).toHaveLength(3);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(5000);
    expect(destroyed).toHaveLength(3);
  });
});
