#!/usr/bin/env node
// kdelay serve's host-side cost for a 2,000-thread target, in process: one
// read of the probes' running totals into the store (10 syscalls, run,
// ready and 3 IRQ kinds per thread; every row grew since the last read),
// then the text rendered afresh (the worst case: a read that changed every
// series; unchanged, it is cached). Both run on serve's worker thread after
// each read, never in a scrape (driver/serve-worker.ts). Hand-written
// (host/metrics/store.ts) beside prom-client's registry holding the same
// series. Prints median and min of --runs (default 20).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SectionTable } from '../../dist/host/model/section-table.js';
import { MetricStore } from '../../dist/host/metrics/store.js';

const root = join(import.meta.dirname, '..', '..');
const THREADS = Number(process.env.THREADS ?? 2000);
const RUNS = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 20;
const sections = ['syscalls', 'sched', 'irq'].flatMap((p) => JSON.parse(readFileSync(join(root, 'probes', p, 'manifest.json'), 'utf8')).sections);
const SYSCALLS = ['read', 'write', 'poll', 'recvmsg', 'sendmsg', 'futex', 'epoll_wait', 'ioctl', 'getpid', 'clock_nanosleep'];

function windowTables(k) {
  const tables = new Map();
  const t = (id, width) => tables.set(id, new SectionTable(id, width)).get(id);
  const sys = t('syscalls', 4),
    run = t('run', 4),
    ready = t('ready', 3),
    hard = t('hardirq', 3),
    soft = t('softirq', 4);
  for (let tid = 1000; tid < 1000 + THREADS; tid++) {
    SYSCALLS.forEach((name, nr) => sys.add(tid, name, [nr, 10 * k, 12345 * k, 3000]));
    run.add(tid, undefined, [5 * k, 1e6 * k, 1e4, 5e5]);
    ready.add(tid, undefined, [5 * k, 1e5 * k, 5e4]);
    hard.add(tid, 'virtio0-input', [k, 5000 * k, 5000]);
    soft.add(tid, 'net_rx', [3, 2 * k, 8000 * k, 5000]);
    soft.add(tid, 'timer', [1, k, 3000 * k, 3000]);
  }
  return tables;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs) => `median ${median(xs).toFixed(1)} ms, min ${Math.min(...xs).toFixed(1)} ms`;

const store = new MetricStore(sections, { byName: false, expiryMs: 300_000 });
const addMs = [],
  renderMs = [];
let bytes = 0;
for (let i = 0; i < RUNS; i++) {
  const tables = windowTables(i + 1);
  let t0 = performance.now();
  store.add(tables, 42, (tid) => `handler${tid % 100}`, t0);
  addMs.push(performance.now() - t0);
  t0 = performance.now();
  bytes = store.render().length;
  renderMs.push(performance.now() - t0);
}
console.log(`serve scrape, ${THREADS} threads, ${store.seriesCount} series, ${(bytes / 1e6).toFixed(1)} MB of text`);
const t0 = performance.now();
store.render();
console.log(`  hand-written: read the totals ${fmt(addMs)}; render ${fmt(renderMs)}; cached render ${(performance.now() - t0).toFixed(3)} ms`);

let client;
try {
  client = await import('prom-client');
} catch {
  console.log('  prom-client: not installed (npm i -D prom-client)');
}
if (client) {
  const registry = new client.Registry();
  const calls = new client.Counter({ name: 'kdelay_syscall_calls_total', help: 'x', labelNames: ['pid', 'tid', 'thread', 'syscall'], registers: [registry] });
  const secs = new client.Counter({ name: 'kdelay_syscall_seconds_total', help: 'x', labelNames: ['pid', 'tid', 'thread', 'syscall'], registers: [registry] });
  const max = new client.Gauge({ name: 'kdelay_syscall_max_seconds', help: 'x', labelNames: ['pid', 'tid', 'thread', 'syscall'], registers: [registry] });
  const thread = ['runs', 'run_seconds', 'run_max_seconds', 'ready_waits', 'ready_seconds', 'ready_max_seconds'].map(
    (n) => new client.Counter({ name: `kdelay_thread_${n}_total`, help: 'x', labelNames: ['pid', 'tid', 'thread'], registers: [registry] }),
  );
  const irq = ['irqs', 'irq_seconds', 'irq_max_seconds'].map(
    (n) => new client.Counter({ name: `kdelay_${n}_total`, help: 'x', labelNames: ['pid', 'tid', 'thread', 'kind', 'name'], registers: [registry] }),
  );
  const addC = [],
    renderC = [];
  for (let i = 0; i < RUNS; i++) {
    let t0 = performance.now();
    for (let tid = 1000; tid < 1000 + THREADS; tid++) {
      const base = { pid: '42', tid: String(tid), thread: `handler${tid % 100}` };
      for (const syscall of SYSCALLS) {
        const l = { ...base, syscall };
        calls.inc(l, 10);
        secs.inc(l, 12345e-9);
        max.set(l, 3000e-9);
      }
      for (const c of thread) c.inc(base, 1);
      for (const [kind, name] of [
        ['hard', 'virtio0-input'],
        ['soft', 'net_rx'],
        ['soft', 'timer'],
      ])
        for (const c of irq) c.inc({ ...base, kind, name }, 1);
    }
    addC.push(performance.now() - t0);
    t0 = performance.now();
    await registry.metrics();
    renderC.push(performance.now() - t0);
  }
  console.log(`  prom-client:  add a read's increments ${fmt(addC)}; render ${fmt(renderC)}`);
}
