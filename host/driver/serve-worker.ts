/**
 * `kdelay serve`'s collecting half, which runs on a worker thread
 * (driver/serve.ts starts it and keeps only HTTP on the main thread): libbpf,
 * the probes, the task iterator, the collector (driver/serve-collector.ts)
 * and the rendering of the text a scrape sends. A read of the probes' maps
 * is synchronous (each guest's collect calls libbpf's map lookups through
 * koffi) and takes 100-400 ms for a target of thousands of threads; here it
 * blocks this thread alone, and a scrape is answered meanwhile with the text
 * of the read before.
 *
 * To the main thread it sends its stderr lines, and after every tick the
 * text: the series (UTF-8, transferred, not copied; only when a read or an
 * expiry changed them) and the few lines about kdelay itself.
 */
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { ExitCode, UserError } from '../base/exit-codes.js';
import { printable } from '../base/printable.js';
import type { SectionSpec } from '../bundle/manifest.js';
import type { BpfBackend } from '../libbpf/backend.js';
import { MetricsError } from '../metrics/families.js';
import { ProbeError } from '../runtime/probe-guest.js';
import { KernelFeatures } from '../system/kernel-features.js';
import { PidNamespaces, resolveTarget, TargetProcess, threadIds, threadName } from '../system/procfs.js';
import { TaskNumbersReader } from '../system/task-numbers.js';
import { returnProbePlan } from '../system/trigger-targets.js';
import { admittedBundles } from './admission.js';
import type { CatalogEntry } from './catalog.js';
import { loadBackend, readTaskNumbersOrExplain } from './measure.js';
import { holdMemorySteady, reuseMemoryWhileLoading } from './memory-policy.js';
import type { KdelayOptions } from './options.js';
import { probeSetConfig } from './probe-config.js';
import { planProbes, type ProbePlan } from './probe-plan.js';
import { ProbeSet } from './probe-set.js';
import { type AttachedTarget, ServeCollector } from './serve-collector.js';
import { selectThreads } from './thread-selection.js';

export interface ServeOptions extends Pick<
  KdelayOptions,
  'pid' | 'debug' | 'probeFiles' | 'trustKeys' | 'allowUnsigned' | 'onlyProbes' | 'skipProbes' | 'allowProgramKinds' | 'probeOptions' | 'histograms'
> {
  host: string;
  port: number;
  /** Series per thread name rather than per thread. */
  byName: boolean;
  /** Seconds a gone thread's series stay. */
  expiry: number;
  /** Seconds between background collections (and looks for a new target). */
  interval: number;
}

/** What the worker says to the main thread. */
export type FromCollector =
  | { kind: 'ready' }
  | { kind: 'failed'; message: string; exitCode?: number; stack?: string }
  | { kind: 'note'; line: string }
  /** body: the series' text in UTF-8 (its first length bytes), when it changed; about: kdelay's own lines (reads, the target), every tick. */
  | { kind: 'text'; body?: ArrayBuffer; length: number; about: string }
  | { kind: 'closed' };

/** What the main thread says to the worker; recycle: a body it sent, no longer in use there. */
export type ToCollector = { kind: 'start' } | { kind: 'stop' } | { kind: 'recycle'; body: ArrayBuffer };

/** The bundles serve runs and how (driver/probe-plan.ts): no triggers; the accounting probe only with --hist. */
function plannedBundles(options: ServeOptions, backend: BpfBackend): ProbePlan & { entries: CatalogEntry[] } {
  const entries = admittedBundles(options);
  const plan = planProbes(entries, { ...options, verdict: options.histograms, verdictOnly: false }, false, new KernelFeatures(backend), (fn, modules) =>
    returnProbePlan(fn, modules),
  );
  // The trigger probe has no sections and nothing to do without triggers.
  if (plan.triggerProbe) plan.skip.set(plan.triggerProbe, undefined);
  return { ...plan, entries };
}

/**
 * Test hook (test/integration/serve.test.ts): with KDELAY_TEST_HOLD_READS
 * naming a FIFO, each read of the probes says so on stderr and then waits,
 * inside the read, until the test writes a line to the FIFO ("release": no
 * more waiting), as a long read of the maps would.
 */
function readHold(note: (line: string) => void): () => void {
  const fifo = process.env.KDELAY_TEST_HOLD_READS;
  if (!fifo) return () => {};
  let held = 0;
  let released = false;
  return () => {
    if (released) return;
    note(`test hook: read ${++held} held`);
    released = readFileSync(fifo, 'utf8').trim() === 'release';
  };
}

/** Starts the probes on one process; its windows are driven by the collector. */
async function attachTo(
  backend: BpfBackend,
  namespaces: PidNamespaces,
  pid: number | undefined,
  plan: ReturnType<typeof plannedBundles>,
  options: ServeOptions,
  hold: () => void,
): Promise<AttachedTarget | undefined> {
  let target;
  try {
    target = resolveTarget(pid, undefined, namespaces);
  } catch (err) {
    if (err instanceof UserError) return undefined;
    throw err;
  }
  const process_ = new TargetProcess(target.pid, namespaces.userProc);
  const config = probeSetConfig(target, plan, options, threadIds(target.pid, namespaces.userProc).length);
  let probes: ProbeSet;
  try {
    probes = await ProbeSet.start(
      backend,
      plan.entries.map((e) => e.bundle),
      config,
    );
  } catch (err) {
    if (err instanceof ProbeError) throw new UserError(err.message, ExitCode.OSERR);
    throw err;
  }
  for (const note of probes.unavailable) post({ kind: 'note', line: `${note.section}: not available (${note.reason})` });
  // The user's numbers; a live thread the task iterator has not listed yet is left for a later read (the totals
  // are cumulative: nothing is lost by waiting), so that no thread's totals are ever read under two numbers.
  const view = (exited: ReadonlyMap<number, string> | undefined) => (kernelTid: number) =>
    kernelTid === 0 ? 0 : (namespaces.userTid(target.kernelTgid, kernelTid) ?? (exited?.has(kernelTid) ? kernelTid : undefined));
  probes.gate.open();
  return {
    pid: target.pid,
    command: threadName(target.pid, target.pid, namespaces.userProc),
    alive: () => process_.alive(),
    threads: () => {
      const live = new Map<number, string>();
      for (const tid of threadIds(target.pid, namespaces.userProc)) {
        const name = threadName(target.pid, tid, namespaces.userProc);
        if (!name.startsWith('<unknown:')) live.set(tid, name);
      }
      return live;
    },
    // The window stays open: every read is of the running totals (host/metrics/store.ts).
    read() {
      hold();
      const sample = probes.collect();
      return namespaces.translates ? selectThreads(sample, view(sample.exited)) : sample;
    },
    syscallName: (nr) => probes.syscallLabel(nr),
    close: () => probes.close(),
  };
}

function post(message: FromCollector, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(message, transfer);
}

function failed(err: unknown): FromCollector {
  if (err instanceof UserError) return { kind: 'failed', message: err.message, exitCode: err.exitCode };
  const e = err instanceof Error ? err : new Error(String(err));
  return { kind: 'failed', message: e.message, stack: e.stack };
}

/** The worker's body: set up (then 'ready', or 'failed' and end), tick on 'start' every --interval, close on 'stop'. */
export async function runServeWorker(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('runServeWorker runs on a worker thread (driver/serve.ts)');
  const options = workerData as ServeOptions;
  const note = (line: string) => post({ kind: 'note', line: printable(line) });
  let collector: ServeCollector;
  let taskNumbers: TaskNumbersReader | undefined;
  try {
    const namespaces = PidNamespaces.detect();
    const backend = await loadBackend(options.debug !== 0);
    if (namespaces.needsTaskIterator) {
      const reader = (taskNumbers = new TaskNumbersReader(backend, namespaces.namespaceInode()));
      namespaces.useTaskIterator(() => readTaskNumbersOrExplain(reader));
    }
    // -p: that process now, or a usage error; auto mode may start before ovs-vswitchd does.
    if (options.pid !== undefined) resolveTarget(options.pid, undefined, namespaces);
    reuseMemoryWhileLoading();
    const plan = plannedBundles(options, backend);
    const sections: SectionSpec[] = plan.entries.filter((e) => !plan.skip.has(e.bundle.manifest.name)).flatMap((e) => e.bundle.manifest.sections);
    const hold = readHold(note);
    try {
      collector = new ServeCollector(
        sections,
        { byName: options.byName, expiryMs: options.expiry * 1000, latency: options.histograms },
        { attach: () => attachTo(backend, namespaces, options.pid, plan, options, hold), now: () => performance.now(), note },
        options.pid !== undefined,
      );
    } catch (err) {
      if (err instanceof MetricsError) throw new UserError(err.message, ExitCode.CONFIG);
      throw err;
    }
  } catch (err) {
    taskNumbers?.close();
    post(failed(err));
    port.close();
    return;
  }

  // The text's bytes go to the main thread in buffers it sends back once no response is using them (recycle):
  // a new 2 MB buffer every second would pile up there, where nothing else makes the garbage collector run.
  const encoder = new TextEncoder();
  const spare: ArrayBuffer[] = [];
  let sent = -1;
  const send = () => {
    let body: ArrayBuffer | undefined;
    let length = 0;
    if (collector.store.generation !== sent) {
      sent = collector.store.generation;
      const text = collector.store.render();
      for (;;) {
        body = spare.pop() ?? new ArrayBuffer(Math.ceil(text.length * 1.25) + 65536);
        const { read, written } = encoder.encodeInto(text, new Uint8Array(body));
        length = written;
        if (read === text.length) break;
        // Too small (the text grew, or holds multi-byte characters): one that fits, and drop the rest.
        spare.length = 0;
        spare.push(new ArrayBuffer(text.length * 3));
      }
    }
    post({ kind: 'text', body, length, about: collector.about() }, body ? [body] : []);
  };
  send();
  post({ kind: 'ready' });

  let timer: NodeJS.Timeout | undefined;
  let ticking = Promise.resolve();
  const tick = () => {
    ticking = ticking
      .then(() => collector.tick())
      .catch((err) => note((err as Error).message))
      .then(send);
  };
  port.on('message', (message: ToCollector) => {
    if (message.kind === 'recycle') {
      spare.push(message.body);
      return;
    }
    if (message.kind === 'start') {
      tick();
      void ticking.then(() => {
        // After the first attach (or none yet, waiting for ovs-vswitchd: later loads then parse without reuse).
        holdMemorySteady();
        if (options.pid === undefined && !collector.attached) note('no single ovs-vswitchd is running yet; serving, and waiting for one');
      });
      timer = setInterval(tick, options.interval * 1000);
      return;
    }
    clearInterval(timer);
    void ticking
      .then(() => collector.close())
      .catch((err) => note((err as Error).message))
      .then(() => {
        taskNumbers?.close();
        post({ kind: 'closed' });
        port.close();
      });
  });
}
