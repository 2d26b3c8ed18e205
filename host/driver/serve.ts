/**
 * `kdelay serve`: the probes' statistics as Prometheus metrics over HTTP
 * (GET /metrics), collected continuously (driver/serve-collector.ts) from
 * -p PID or, by default, the running ovs-vswitchd, attaching to the next one
 * when it restarts. The impure shell: BPF, /proc, the HTTP server, signals.
 */
import { createServer, type Server } from 'node:http';
import { ExitCode, UserError } from '../base/exit-codes.js';
import { printable } from '../base/printable.js';
import type { BpfBackend } from '../libbpf/backend.js';
import type { SectionSpec } from '../bundle/manifest.js';
import { MetricsError } from '../metrics/families.js';
import { ProbeError } from '../runtime/probe-guest.js';
import { hostArch, SyscallTable } from '../syscalls/table.js';
import { requireBpfCapabilities } from '../system/capabilities.js';
import { KernelFeatures } from '../system/kernel-features.js';
import { PidNamespaces, resolveTarget, TargetProcess, threadIds, threadName } from '../system/procfs.js';
import { TaskNumbersReader } from '../system/task-numbers.js';
import { returnProbePlan } from '../system/trigger-targets.js';
import { admittedBundles } from './admission.js';
import type { CatalogEntry } from './catalog.js';
import { holdMemorySteady, reuseMemoryWhileLoading } from './memory-policy.js';
import type { KdelayOptions } from './options.js';
import { ProbeSet } from './probe-set.js';
import { loadBackend, readTaskNumbersOrExplain } from './measure.js';
import { planProbes, type ProbePlan } from './probe-plan.js';
import { type AttachedTarget, ServeCollector } from './serve-collector.js';
import { selectThreads } from './thread-selection.js';

export const DEFAULT_LISTEN = { host: '127.0.0.1', port: 9464 };

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

/** Starts the probes on one process; its windows are driven by the collector. */
async function attachTo(
  backend: BpfBackend,
  namespaces: PidNamespaces,
  pid: number | undefined,
  plan: ReturnType<typeof plannedBundles>,
  options: ServeOptions,
): Promise<AttachedTarget | undefined> {
  let target;
  try {
    target = resolveTarget(pid, undefined, namespaces);
  } catch (err) {
    if (err instanceof UserError) return undefined;
    throw err;
  }
  const process_ = new TargetProcess(target.pid, namespaces.userProc);
  const arch = hostArch();
  if (!arch) throw new UserError(`no syscall table for this architecture (${process.arch})`, ExitCode.OSFILE);
  let probes: ProbeSet;
  try {
    probes = await ProbeSet.start(
      backend,
      plan.entries.map((e) => e.bundle),
      {
        options: plan.numeric,
        targetTgid: target.kernelTgid,
        targetPid: target.pid,
        allowedProgramKinds: options.allowProgramKinds,
        syscalls: SyscallTable.for(arch),
        skip: plan.skip,
        stringOptions: { ...plan.text, ...plan.hostText },
        hostValues: { 'histograms.enabled': options.histograms ? 1n : 0n, 'target.threads': BigInt(threadIds(target.pid, namespaces.userProc).length) },
      },
    );
  } catch (err) {
    if (err instanceof ProbeError) throw new UserError(err.message, ExitCode.OSERR);
    throw err;
  }
  for (const note of probes.unavailable) process.stderr.write(`kdelay: ${note.section}: not available (${note.reason})\n`);
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
      const sample = probes.collect();
      return namespaces.translates ? selectThreads(sample, view(sample.exited)) : sample;
    },
    syscallName: (nr) => probes.syscallLabel(nr),
    close: () => probes.close(),
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new UserError(`cannot listen on ${host}:${port}: ${err.code ?? err.message}`, ExitCode.OSERR)));
    server.listen(port, host, () => resolve());
  });
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export async function serve(options: ServeOptions): Promise<number> {
  requireBpfCapabilities();
  const namespaces = PidNamespaces.detect();
  const backend = await loadBackend(options.debug !== 0);
  let taskNumbers: TaskNumbersReader | undefined;
  if (namespaces.needsTaskIterator) {
    const reader = (taskNumbers = new TaskNumbersReader(backend, namespaces.namespaceInode()));
    namespaces.useTaskIterator(() => readTaskNumbersOrExplain(reader));
  }
  // -p: that process now, or a usage error; auto mode may start before ovs-vswitchd does.
  if (options.pid !== undefined) resolveTarget(options.pid, undefined, namespaces);
  reuseMemoryWhileLoading();
  const plan = plannedBundles(options, backend);
  const sections: SectionSpec[] = plan.entries.filter((e) => !plan.skip.has(e.bundle.manifest.name)).flatMap((e) => e.bundle.manifest.sections);
  let collector: ServeCollector;
  try {
    collector = new ServeCollector(
      sections,
      { byName: options.byName, expiryMs: options.expiry * 1000, latency: options.histograms },
      {
        attach: () => attachTo(backend, namespaces, options.pid, plan, options),
        now: () => performance.now(),
        note: (line) => process.stderr.write(`kdelay: ${printable(line)}\n`),
      },
      options.pid !== undefined,
    );
  } catch (err) {
    if (err instanceof MetricsError) throw new UserError(err.message, ExitCode.CONFIG);
    throw err;
  }

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      let body: string;
      try {
        body = collector.scrape();
      } catch (err) {
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${(err as Error).message}\n`);
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }).end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    res
      .writeHead(path === '/' ? 200 : 404, { 'Content-Type': 'text/plain; charset=utf-8' })
      .end(path === '/' ? 'kdelay serve: metrics at /metrics\n' : 'not found; metrics are at /metrics\n');
  });
  server.keepAliveTimeout = 65_000;
  try {
    await listen(server, options.host, options.port);
  } catch (err) {
    await collector.close();
    taskNumbers?.close();
    throw err;
  }
  const address = server.address();
  const where =
    typeof address === 'object' && address ? `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : `${options.host}:${options.port}`;
  // Scripts wait for this line. Listening comes first: loading the probes may take seconds on a busy machine.
  process.stderr.write(`kdelay: serving metrics on http://${where}/metrics\n`);
  await collector.tick();
  // After the first attach (or none yet, waiting for ovs-vswitchd: later loads then parse without reuse).
  holdMemorySteady();
  if (options.pid === undefined && !collector.attached) process.stderr.write('kdelay: no single ovs-vswitchd is running yet; serving, and waiting for one\n');

  return await new Promise<number>((resolve) => {
    let ticking = Promise.resolve();
    const timer = setInterval(() => {
      ticking = ticking.then(() => collector.tick()).catch((err) => void process.stderr.write(`kdelay: ${printable((err as Error).message)}\n`));
    }, options.interval * 1000);
    // SIGUSR1 would open Node's debugger in a process holding BPF rights; SIGUSR2 would end it.
    const ignore = () => {};
    process.on('SIGUSR1', ignore);
    process.on('SIGUSR2', ignore);
    const stop = () => {
      for (const signal of STOP_SIGNALS) process.off(signal, stop);
      // A second signal ends it at once; the kernel releases everything with our fds.
      for (const signal of STOP_SIGNALS) process.once(signal, () => process.exit(128 + 2));
      clearInterval(timer);
      server.close();
      server.closeAllConnections();
      void ticking
        .then(() => collector.close())
        .then(() => taskNumbers?.close())
        .finally(() => resolve(ExitCode.OK));
    };
    for (const signal of STOP_SIGNALS) process.on(signal, stop);
  });
}
