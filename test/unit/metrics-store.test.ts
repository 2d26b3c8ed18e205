/**
 * kdelay serve's bookkeeping without BPF: the store (host/metrics/store.ts)
 * adds only what a row's running total grew, keeps gone threads' series
 * until they expire, and renders again only after a change (its generation
 * says when); the collector (driver/serve-collector.ts) follows a target
 * that exits and the next one, through fake ServeDeps.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SectionSpec } from '../../host/bundle/manifest.js';
import { MetricStore } from '../../host/metrics/store.js';
import { SectionTable } from '../../host/model/section-table.js';
import { type AttachedTarget, ServeCollector } from '../../host/driver/serve-collector.js';
import type { CollectedSample } from '../../host/driver/probe-set.js';

const sections: SectionSpec[] = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'probes', 'syscalls', 'manifest.json'), 'utf8')).sections;

/** One read of the syscalls section: tid -> [calls, ns, max ns] of getppid (nr 110). */
function tables(rows: Record<number, [number, number, number]>) {
  const table = new SectionTable('syscalls', 4);
  for (const [tid, [calls, ns, max]] of Object.entries(rows)) table.add(Number(tid), 'getppid', [110, calls, ns, max]);
  return new Map([['syscalls', table]]);
}

const calls = (text: string, tid: number) =>
  Number(new RegExp(`^kdelay_syscall_calls_total\\{pid="7",tid="${tid}",thread="[^"]*",syscall="getppid"\\} (\\S+)$`, 'm').exec(text)?.[1]);

describe('MetricStore', () => {
  it('adds what each running total grew; a lower read adds nothing and the next adds the rest', () => {
    const store = new MetricStore(sections, { byName: false, expiryMs: 1000 });
    const name = () => 'worker';
    store.add(tables({ 1: [10, 1000, 300] }), 7, name, 0);
    store.add(tables({ 1: [8, 900, 200] }), 7, name, 1);
    expect(calls(store.render(), 1)).toBe(10);
    store.add(tables({ 1: [15, 2000, 500] }), 7, name, 2);
    const text = store.render();
    expect(calls(text, 1)).toBe(15);
    expect(text).toMatch(/^kdelay_syscall_seconds_total\{pid="7",tid="1",thread="worker",syscall="getppid"\} 0\.000002$/m);
    expect(text).toMatch(/^kdelay_syscall_max_seconds\{pid="7",tid="1",thread="worker",syscall="getppid"\} 5e-7$/m);
  });

  it('changes its generation, and renders again, only when a read or an expiry changed the text', () => {
    const store = new MetricStore(sections, { byName: false, expiryMs: 1000 });
    const name = () => 'worker';
    const g0 = store.generation;
    store.add(tables({ 1: [10, 1000, 300] }), 7, name, 0);
    const first = store.render();
    expect(store.generation).toBe(g0 + 1);
    store.add(tables({ 1: [10, 1000, 300] }), 7, name, 500);
    expect(store.generation).toBe(g0 + 1);
    expect(store.render()).toBe(first);
    expect(store.expire(900)).toBe(0);
    expect(store.generation).toBe(g0 + 1);
    // Nothing new seen of thread 1 (counted, or alive: MetricStore.alive) for more than 1 s: its three series go.
    expect(store.expire(1001)).toBe(3);
    expect(store.generation).toBe(g0 + 2);
    expect(calls(store.render(), 1)).toBeNaN();
  });

  it('--by-thread-name: the threads of one name add up under it', () => {
    const store = new MetricStore(sections, { byName: true, expiryMs: 1000 });
    store.add(tables({ 1: [10, 1000, 300], 2: [5, 500, 100] }), 7, () => 'handler', 0);
    expect(store.render()).toMatch(/^kdelay_syscall_calls_total\{pid="7",thread="handler",syscall="getppid"\} 15$/m);
  });
});

describe('ServeCollector', () => {
  /** A fake target whose reads return `rows`, alive until `alive` is set false. */
  function fakeTarget(pid: number, state: { rows: Record<number, [number, number, number]>; alive: boolean; closed?: boolean }): AttachedTarget {
    return {
      pid,
      command: 'ovs-vswitchd',
      alive: () => state.alive,
      threads: () => new Map(Object.keys(state.rows).map((tid) => [Number(tid), `t${tid}`])),
      read: () => ({ tables: tables(state.rows), histograms: [], warnings: [], notes: [] }) as CollectedSample,
      syscallName: String,
      close: async () => void (state.closed = true),
    };
  }

  it('reads every tick; when the target exits, its series stay and auto mode attaches the next one', async () => {
    const first = { rows: { 1: [4, 40, 10] as [number, number, number] }, alive: true, closed: false };
    const second = { rows: { 1: [2, 20, 10] as [number, number, number] }, alive: true, closed: false };
    const queue: (AttachedTarget | undefined)[] = [undefined, fakeTarget(7, first), undefined, fakeTarget(8, second)];
    const notes: string[] = [];
    let now = 0;
    const collector = new ServeCollector(sections, { byName: false, expiryMs: 60_000 }, { attach: async () => queue.shift(), now: () => now, note: (l) => notes.push(l) }, false);
    await collector.tick(); // nothing to attach to yet
    expect(collector.attached).toBeUndefined();
    await collector.tick(); // attaches 7
    expect(collector.attached?.pid).toBe(7);
    now = 1000;
    await collector.tick();
    expect(calls(collector.scrape(), 1)).toBe(4);
    first.rows[1] = [9, 90, 10];
    first.alive = false;
    now = 2000;
    await collector.tick(); // the last read of 7, then it is gone
    expect(first.closed).toBe(true);
    expect(notes).toContain('process 7 exited; its series stay until they expire; waiting for the next one');
    now = 3000;
    await collector.tick(); // attaches 8
    await collector.tick();
    const text = collector.scrape();
    expect(calls(text, 1)).toBe(9);
    expect(text).toMatch(/^kdelay_syscall_calls_total\{pid="8",tid="1",thread="t1",syscall="getppid"\} 2$/m);
    expect(collector.about()).toMatch(/^kdelay_target_attaches_total 2$/m);
    expect(collector.about()).toContain('kdelay_target_info{pid="8",command="ovs-vswitchd"} 1');
    expect(text.endsWith(collector.about())).toBe(true);
    await collector.close();
    expect(second.closed).toBe(true);
  });
});
