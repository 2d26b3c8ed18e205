/**
 * kdelay serve: /metrics as promtool reads it, a real Prometheus (Debian's
 * binary, on its own temporary config and storage) scraping it every second
 * and answering the workload's exact syscall counts per thread through its
 * query API, a thread's series kept after it exits until --expire, and a
 * target that restarts: with -p serving goes on, in auto mode (a fake
 * ovs-vswitchd in a PID namespace of the test's own) the next one is
 * attached with its new pid label.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { skipWithoutBpf } from '../helpers/bpf.js';
import { type KdelayRun, startKdelay } from '../helpers/kdelay.js';
import { createPidNamespace, type PidNamespace } from '../helpers/pid-namespace.js';
import { buildWorkload, type RunningWorkload, startWorkload } from '../helpers/workloads.js';

const GETPPIDS = 300;
/** named_threads: thread i (worker-0..3, other) makes (i + 1) * GETPPIDS getppid() calls. */
const EXPECTED: Record<string, number> = { 'worker-0': 1, 'worker-1': 2, 'worker-2': 3, 'worker-3': 4, other: 5 };

/** A TCP port free now on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const scrape = async (port: number) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();

/** `kdelay_syscall_calls_total{...syscall="getppid"}` lines of one pid: thread name -> count (by tid: thread -> count). */
function getppidCounts(text: string, pid: number): Map<string, number> {
  const counts = new Map<string, number>();
  const re = new RegExp(`^kdelay_syscall_calls_total\\{pid="${pid}",tid="(\\d+)",thread="([^"]*)",syscall="getppid"\\} (\\d+)$`, 'gm');
  for (const m of text.matchAll(re)) counts.set(m[2], Number(m[3]));
  return counts;
}

const expectedCounts = (scale: number, without: string[] = []) =>
  new Map(
    Object.entries(EXPECTED)
      .filter(([name]) => !without.includes(name))
      .map(([name, k]) => [name, k * scale]),
  );

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

function track(run: KdelayRun): KdelayRun {
  cleanups.push(async () => {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGINT');
    await run.done;
  });
  return run;
}

function trackWorkload(w: RunningWorkload): RunningWorkload {
  cleanups.push(() => w.stop());
  return w;
}

describe.skipIf(skipWithoutBpf)('kdelay serve', () => {
  it('promtool accepts /metrics; a real Prometheus scraping it answers the exact getppid() count of each thread; an exited thread keeps its series until --expire; serving goes on after -p exits', async () => {
    const workload = trackWorkload(await startWorkload('named_threads', [GETPPIDS, 2]));
    const port = await freePort();
    const serve = track(startKdelay(['serve', '-p', workload.pid, '--listen', `127.0.0.1:${port}`, '--expire', 6]));
    await serve.waitForStderr(/serving metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/);
    await serve.waitForStderr(new RegExp(`serving process ${workload.pid} `));

    workload.kill('SIGUSR1');
    await workload.waitFor(/^done$/);
    const text = await scrape(port);
    execFileSync('promtool', ['check', 'metrics'], { input: text });
    // worker-2 exited after its calls: its series is there all the same.
    expect(getppidCounts(text, workload.pid)).toEqual(expectedCounts(GETPPIDS));

    // A real Prometheus, scraping every second, asked through its HTTP API.
    const dir = mkdtempSync(join(tmpdir(), 'kdelay-prometheus-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const promPort = await freePort();
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: kdelay\n    static_configs:\n      - targets: ['127.0.0.1:${port}']\n`,
    );
    const prometheus: ChildProcess = spawn(
      'prometheus',
      [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`],
      { stdio: 'ignore' },
    );
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          if (prometheus.exitCode !== null) return resolve();
          prometheus.once('exit', () => resolve());
          prometheus.kill('SIGTERM');
        }),
    );
    const query = `kdelay_syscall_calls_total{syscall="getppid",pid="${workload.pid}"}`;
    const answered = await until('Prometheus answers the counts', async () => {
      const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(query)}`);
      const body = (await res.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      const counts = new Map(body.data.result.map((r) => [r.metric.thread, Number(r.value[1])]));
      return counts.size === 5 ? { counts, result: body.data.result } : undefined;
    });
    expect(answered.counts).toEqual(expectedCounts(GETPPIDS));
    for (const r of answered.result) expect(r.metric).toMatchObject({ job: 'kdelay', pid: String(workload.pid), tid: expect.stringMatching(/^\d+$/) });

    // The target exits: serving goes on, its series stay until they expire (--expire 6: nothing seen of them for 6 s).
    await workload.stop();
    await serve.waitForStderr(/process \d+ exited; its series stay until they expire/);
    expect(getppidCounts(await scrape(port), workload.pid)).toEqual(expectedCounts(GETPPIDS));
    await until('the series expire', async () => (getppidCounts(await scrape(port), workload.pid).size === 0 ? true : undefined), 15_000);
    expect(await scrape(port)).toMatch(/^kdelay_windows_total \d+$/m);
  }, 90_000);

  it('the exited thread alone expires; --by-thread-name sums threads of a name', async () => {
    const workload = trackWorkload(await startWorkload('named_threads', [GETPPIDS, 2]));
    const port = await freePort();
    const serve = track(startKdelay(['serve', '-p', workload.pid, '--listen', `127.0.0.1:${port}`, '--expire', 3, '--by-thread-name']));
    await serve.waitForStderr(new RegExp(`serving process ${workload.pid} `));
    workload.kill('SIGUSR1');
    await workload.waitFor(/^done$/);
    const byName = (text: string) =>
      new Map(
        [...text.matchAll(new RegExp(`^kdelay_syscall_calls_total\\{pid="${workload.pid}",thread="([^"]*)",syscall="getppid"\\} (\\d+)$`, 'gm'))].map((m) => [m[1], Number(m[2])]),
      );
    expect(byName(await scrape(port))).toEqual(expectedCounts(GETPPIDS));
    // worker-2 is gone; the others live on: only its series expires.
    await until('worker-2 expires', async () => (byName(await scrape(port)).has('worker-2') ? undefined : true), 15_000);
    expect(byName(await scrape(port))).toEqual(expectedCounts(GETPPIDS, ['worker-2']));
  }, 60_000);

  it.skipIf(process.geteuid?.() !== 0)(
    'auto mode follows ovs-vswitchd across a restart, with the new pid in the labels',
    async () => {
      const namespace: PidNamespace = await createPidNamespace();
      cleanups.push(() => namespace.close());
      const dir = mkdtempSync(join(tmpdir(), 'kdelay-serve-ovs-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const fake = join(dir, 'ovs-vswitchd');
      copyFileSync(buildWorkload('named_threads'), fake);
      execFileSync('chmod', ['+x', fake]);
      const port = await freePort();
      const serve = track(startKdelay(['serve', '--listen', `127.0.0.1:${port}`, '--interval', 0.5], { wrapper: namespace.enter }));
      await serve.waitForStderr(/waiting for one/);
      await serve.waitForStderr(/serving metrics on/);

      const startFake = async () => {
        // startWorkload runs the built named_threads: this execs its copy named ovs-vswitchd instead, with the same arguments.
        const w = await startWorkload('named_threads', [GETPPIDS, -1], { wrapper: [...namespace.enter, 'sh', '-c', `shift; exec ${fake} "$@"`, 'sh'] });
        trackWorkload(w);
        return w;
      };
      const first = await startFake();
      await serve.waitForStderr(new RegExp(`serving process ${first.pid} \\(ovs-vswitchd\\)`));
      first.kill('SIGUSR1');
      await first.waitFor(/^done$/);
      const firstText = await scrape(port);
      if (getppidCounts(firstText, first.pid).get('other') !== 5 * GETPPIDS)
        console.log(
          firstText
            .split('\n')
            .filter((l) => l.includes('getppid'))
            .join('\n'),
        );
      expect(getppidCounts(firstText, first.pid)).toEqual(expectedCounts(GETPPIDS));

      await first.stop();
      await serve.waitForStderr(new RegExp(`process ${first.pid} exited; its series stay until they expire; waiting for the next one`));
      const second = await startFake();
      expect(second.pid).not.toBe(first.pid);
      await serve.waitForStderr(new RegExp(`serving process ${second.pid} \\(ovs-vswitchd\\)`));
      second.kill('SIGUSR1');
      await second.waitFor(/^done$/);
      const text = await scrape(port);
      if (getppidCounts(text, second.pid).get('other') !== 5 * GETPPIDS)
        console.log(
          text
            .split('\n')
            .filter((l) => l.includes('getppid'))
            .join('\n'),
        );
      expect(getppidCounts(text, second.pid)).toEqual(expectedCounts(GETPPIDS));
      expect(getppidCounts(text, first.pid)).toEqual(expectedCounts(GETPPIDS));
      expect(text).toContain(`kdelay_target_info{pid="${second.pid}",command="ovs-vswitchd"} 1`);
      expect(text).toMatch(/^kdelay_target_attaches_total 2$/m);
    },
    90_000,
  );
});
