/**
 * The sched probe's kernel half on its own, driven through the libbpf
 * backend rather than the CLI, so a test can do what the kernel does only
 * now and then under load:
 *
 * - miss a switch-in: the sched_switch link is destroyed while the thread
 *   is asleep and made again once it runs, so the probe sees the switch-out
 *   before the gap and the one after it, but not the switch-in between;
 * - read its clock on one side of a gate move and the gate on the other:
 *   the gate is written as such a program finds it (a start after the
 *   program's clock, a stop already written while the state still says OPEN,
 *   as the stop trigger writes them).
 *
 * The object is the one in bundles/sched.wasm; its statistics are read
 * from its maps by the offsets in its BTF.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { embeddedObjects } from '../../host/bundle/bundle.js';
import { BpfObjectFile } from '../../host/bundle/bpf-object.js';
import type { BpfBackend, Link, OpenedObject } from '../../host/libbpf/backend.js';
import { KDELAY_GATE_SIZE, KdelayGateState, writeKdelayGate } from '../../host/runtime/kernel-records.js';
import { requireBpf, skipWithoutBpf } from '../helpers/bpf.js';
import { schedstat, stealNs, threadsByName } from '../helpers/schedstat.js';
import { type RunningWorkload, startWorkload } from '../helpers/workloads.js';

const MS = 1_000_000;
const ROOT = join(import.meta.dirname, '..', '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Stat {
  count: bigint;
  total: bigint;
}

/** The sched object loaded for one target, every hook attached, the gate its own (not shared). */
class SchedKernelHalf {
  private readonly object: OpenedObject;
  private readonly links = new Map<string, Link>();
  private readonly file: BpfObjectFile;
  private windowStart = 0n;

  constructor(
    private readonly backend: BpfBackend,
    targetTgid: number,
  ) {
    const [elf] = embeddedObjects(readFileSync(join(ROOT, 'bundles', 'sched.wasm')));
    this.file = new BpfObjectFile(elf);
    this.object = backend.open(elf, 'sched');
    const tgid = new Uint8Array(4);
    new DataView(tgid.buffer).setUint32(0, targetTgid, true);
    this.object.setGlobal('kdelay_target_tgid', tgid);
    this.object.load();
    for (const program of ['sched_wakeup', 'sched_wakeup_new', 'sched_stat_runtime', 'sched_switch']) this.attach(program);
  }

  attach(program: string): void {
    this.links.set(program, this.object.attach(program));
  }

  detach(program: string): void {
    this.links.get(program)?.destroy();
    this.links.delete(program);
  }

  /** Writes the gate: OPEN over [start, stop) (stop 0: still open). */
  gate(start: bigint, stop = 0n): void {
    const value = new Uint8Array(KDELAY_GATE_SIZE);
    writeKdelayGate(new DataView(value.buffer), { state: BigInt(KdelayGateState.KDELAY_GATE_OPEN), windowStartNs: start, windowStopNs: stop, missedStarts: 0n });
    expect(this.backend.update(this.object.mapFd('kdelay_gate'), new Uint8Array(4), value, 0n)).toBe(0);
    this.windowStart = start;
  }

  private struct(name: string) {
    const layout = this.file
      .btf()!
      .sharedTypes()
      .structs.find((s) => s.name === name);
    if (!layout) throw new Error(`no struct ${name} in the sched object's BTF`);
    return { size: layout.size, offset: (field: string) => layout.fields.find((f) => f.name === field)!.offset };
  }

  /** The thread's statistics of one kind (run, partial_run) in this window: its slot's and its hash entry's. */
  stat(tid: number, kind: 'run' | 'partial_run'): Stat {
    const stat = this.struct('kdelay_stat');
    const read = (view: DataView, at: number): Stat => ({
      count: view.getBigUint64(at + stat.offset('count'), true),
      total: view.getBigUint64(at + stat.offset('total_ns'), true),
    });
    const sum: Stat = { count: 0n, total: 0n };
    const slot = this.struct('state_slot');
    const slots = this.object.mapInfo('state_slots')!;
    const value = new Uint8Array(slot.size);
    const key = new Uint8Array(4);
    new DataView(key.buffer).setUint32(0, tid & (slots.maxEntries - 1), true);
    if (this.backend.lookup(this.object.mapFd('state_slots'), key, value) === 0) {
      const view = new DataView(value.buffer);
      if (view.getUint32(slot.offset('tid'), true) === tid && view.getBigUint64(slot.offset('window'), true) === this.windowStart) {
        const s = read(view, slot.offset(kind));
        sum.count += s.count;
        sum.total += s.total;
      }
    }
    const entry = new Uint8Array(stat.size);
    new DataView(key.buffer).setUint32(0, tid, true);
    if (this.backend.lookup(this.object.mapFd(`${kind}_stats`), key, entry) === 0) {
      const s = read(new DataView(entry.buffer), 0);
      sum.count += s.count;
      sum.total += s.total;
    }
    return sum;
  }

  close(): void {
    for (const program of [...this.links.keys()]) this.detach(program);
    this.object.close();
  }
}

let workload: RunningWorkload | undefined;
let probe: SchedKernelHalf | undefined;
afterEach(async () => {
  probe?.close();
  probe = undefined;
  await workload?.stop();
  workload = undefined;
});

async function startRounds(roundsMs: number[]): Promise<{ w: RunningWorkload; tid: number; probe: SchedKernelHalf }> {
  const { LibbpfBackend } = await import('../../host/libbpf/libbpf-backend.js');
  workload = await startWorkload('sched_rounds', roundsMs);
  probe = new SchedKernelHalf(new LibbpfBackend(), workload.pid);
  return { w: workload, tid: threadsByName(workload.pid).get('rounds')!, probe };
}

/** Runs the next round and waits until the thread has left the CPU again ("spun" is its last word before it blocks). */
async function round(w: RunningWorkload): Promise<void> {
  w.kill('SIGUSR1');
  await w.waitFor(/^spun$/);
  await sleep(20);
}

const stolen = () => stealNs(0) + stealNs(1);

describe.skipIf(skipWithoutBpf)('the sched probe kernel half at the edges', { retry: 1 }, () => {
  it('a switch-in it did not see: the switch-out after it counts no run from the stale switch-in', async () => {
    requireBpf();
    const GAP_MS = 400;
    const { w, tid, probe } = await startRounds([20, 200]);
    probe.gate(process.hrtime.bigint());
    const before = schedstat(w.pid, tid);
    const stealBefore = stolen();
    await round(w); // seen: in, out
    probe.detach('sched_switch');
    await sleep(GAP_MS); // asleep all along
    w.kill('SIGUSR1');
    await w.waitFor(/^spinning /); // on a CPU: a switch-in the probe did not see
    probe.attach('sched_switch');
    await w.waitFor(/^spun$/);
    await sleep(20); // off it again: seen
    const cpuNs = BigInt(schedstat(w.pid, tid).runNs - before.runNs);
    const slack = BigInt(2 * MS + stolen() - stealBefore);
    const run = probe.stat(tid, 'run');
    const ctx = `RUN ${JSON.stringify(run, (_, v) => (typeof v === 'bigint' ? Number(v) : v))}, schedstat run ${cpuNs} ns`;
    expect(run.count, ctx).toBeGreaterThanOrEqual(1n); // the first round
    // Before: one more stretch, from the first round's switch-in to the last switch-out, gap and all.
    expect(run.total, ctx).toBeLessThanOrEqual(cpuNs + slack);
  });

  it('a stretch that ended before the start the gate shows is not counted: no wrapped PARTIAL RUN', async () => {
    requireBpf();
    const { w, tid, probe } = await startRounds([30, 30]);
    // As a program finds the gate when another CPU opened it after this one read its clock.
    probe.gate(process.hrtime.bigint() + 3600n * 1_000_000_000n);
    await round(w);
    await round(w);
    const partial = probe.stat(tid, 'partial_run');
    const run = probe.stat(tid, 'run');
    expect(partial, `partial ${partial.total}`).toEqual({ count: 0n, total: 0n });
    expect(run).toEqual({ count: 0n, total: 0n });
  });

  it('a stop already written while the gate still says OPEN cuts stretches there: none exceeds the window', async () => {
    requireBpf();
    const { w, tid, probe } = await startRounds([30, 30]);
    const start = process.hrtime.bigint();
    probe.gate(start);
    await round(w); // a stretch inside the window
    await sleep(10);
    const stop = process.hrtime.bigint();
    // As the stop trigger leaves it for a moment: window_stop_ns written, state not yet REPORTING.
    probe.gate(start, stop);
    const inside = probe.stat(tid, 'run');
    expect(inside.count, 'the first round, inside the window').toBeGreaterThanOrEqual(1n);
    await round(w); // all of it after the stop
    const run = probe.stat(tid, 'run');
    const partial = probe.stat(tid, 'partial_run');
    expect(run, 'the second round, after the stop').toEqual(inside);
    expect(run.total + partial.total, `run ${run.total}, partial ${partial.total}, window ${stop - start}`).toBeLessThanOrEqual(stop - start);
  });
});
