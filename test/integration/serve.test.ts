/**
 * kdelay serve: /metrics as promtool reads it, a real Prometheus (Debian's
 * binary, on its own temporary config and storage) scraping it every second
 * and answering the workload's exact syscall counts per thread through its
 * query API, counters that never lose an event between reads and never go
 * down (300,000 calls read every 20 ms), a thread's series kept after it
 * exits until --expire, --by-thread-name, and a target that restarts: with
 * -p serving goes on; in auto mode (a fake ovs-vswitchd, kdelay serve and
 * the workloads all in a PID namespace of the test's own, so a real
 * ovs-vswitchd or another test's process is never seen) the next one is
 * attached with its new pid label. Every kdelay serve started is ended by
 * the test (afterEach), whatever the test's outcome.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { skipWithoutBpf } from '../helpers/bpf.js';
import { type KdelayRun, startKdelay } from '../helpers/kdelay.js';
import { childPids, createPidNamespace, type PidNamespace } from '../helpers/pid-namespace.js';
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

/** Waits for a stderr line however long loading the probes takes on a busy machine (waitForStderr gives up after 20 s). */
async function patiently(run: KdelayRun, re: RegExp): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      return await run.waitForStderr(re);
    } catch (err) {
      if (i === 4 || run.child.exitCode !== null) throw err;
    }
  }
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

/** Every getppid() call of one pid, whatever series (thread) holds it. */
const getppidTotal = (text: string, pid: number) =>
  [...text.matchAll(new RegExp(`^kdelay_syscall_calls_total\\{pid="${pid}",[^}]*syscall="getppid"\\} (\\d+)$`, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0);

const expectedCounts = (scale: number, without: string[] = []) =>
  new Map(
    Object.entries(EXPECTED)
      .filter(([name]) => !without.includes(name))
      .map(([name, k]) => [name, k * scale]),
  );

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  // Each step on its own clock: one that hangs (a Prometheus that does not exit) must not leave a kdelay serve running.
  for (const cleanup of cleanups.reverse()) await Promise.race([cleanup(), new Promise((r) => setTimeout(r, 15_000))]);
  cleanups = [];
}, 120_000);

function track(run: KdelayRun): KdelayRun {
  cleanups.push(async () => {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGINT');
    // A kdelay serve that does not stop on Ctrl-C within 10 s is killed: none outlives its test.
    const killer = setTimeout(() => run.child.kill('SIGKILL'), 10_000);
    await run.done.catch(() => {});
    clearTimeout(killer);
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
    // A real Prometheus, scraping kdelay serve every second from the start, asked through its HTTP API at the end.
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
    const serve = track(startKdelay(['serve', '-p', workload.pid, '--listen', `127.0.0.1:${port}`, '--expire', 6, '--interval', 0.2]));
    await patiently(serve, /serving metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/);
    await patiently(serve, new RegExp(`serving process ${workload.pid} `));

    workload.kill('SIGUSR1');
    await workload.waitFor(/^done$/);
    // A scrape sends what the last read (every 0.2 s) found: wait for the read after the calls.
    const text = await until('the calls are read', async () => {
      const t = await scrape(port);
      return getppidCounts(t, workload.pid).size === 5 ? t : undefined;
    });
    execFileSync('promtool', ['check', 'metrics'], { input: text });
    // worker-2 exited after its calls: its series is there all the same.
    expect(getppidCounts(text, workload.pid)).toEqual(expectedCounts(GETPPIDS));
    // No other thread of the workload made a getppid() call: nothing is counted twice or under another number.
    expect(getppidTotal(text, workload.pid)).toBe(15 * GETPPIDS);

    const query = `kdelay_syscall_calls_total{syscall="getppid",pid="${workload.pid}"}`;
    const answered = await until(
      'Prometheus answers the counts',
      async () => {
        const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(query)}`);
        const body = (await res.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
        const counts = new Map(body.data.result.map((r) => [r.metric.thread, Number(r.value[1])]));
        return counts.size === 5 ? { counts, result: body.data.result } : undefined;
      },
      90_000,
    );
    expect(answered.counts).toEqual(expectedCounts(GETPPIDS));
    for (const r of answered.result) expect(r.metric).toMatchObject({ job: 'kdelay', pid: String(workload.pid), tid: expect.stringMatching(/^\d+$/) });

    // The target exits: serving goes on, its series stay until they expire (--expire 6: nothing seen of them for 6 s).
    await workload.stop();
    await serve.waitForStderr(/process \d+ exited; its series stay until they expire/);
    expect(getppidCounts(await scrape(port), workload.pid)).toEqual(expectedCounts(GETPPIDS));
    await until('the series expire', async () => (getppidCounts(await scrape(port), workload.pid).size === 0 ? true : undefined), 15_000);
    expect(await scrape(port)).toMatch(/^kdelay_reads_total \d+$/m);
  }, 90_000);

  it('counters never lose a call between reads and never go down: 300,000 getppid() calls read every 20 ms', async () => {
    const CALLS = 300_000;
    const workload = trackWorkload(await startWorkload('getppid_calls', [CALLS]));
    const port = await freePort();
    const serve = track(startKdelay(['serve', '-p', workload.pid, '--listen', `127.0.0.1:${port}`, '--interval', 0.02]));
    await patiently(serve, new RegExp(`serving process ${workload.pid} `));
    const callerCount = (text: string) =>
      [...text.matchAll(new RegExp(`^kdelay_syscall_calls_total\\{pid="${workload.pid}",tid="\\d+",thread="caller",syscall="getppid"\\} (\\d+)$`, 'gm'))].reduce(
        (sum, m) => sum + Number(m[1]),
        0,
      );
    const seen: number[] = [];
    const reads = (text: string) => Number(/^kdelay_reads_total (\d+)$/m.exec(text)?.[1]);
    workload.kill('SIGUSR1');
    let finished = false;
    void workload.waitFor(/^done$/).then(() => (finished = true));
    const readsBefore = reads(await scrape(port));
    while (!finished) {
      seen.push(callerCount(await scrape(port)));
      await new Promise((r) => setTimeout(r, 20));
    }
    const final = await until('every call is read', async () => {
      const n = callerCount(await scrape(port));
      seen.push(n);
      return n >= CALLS ? n : undefined;
    });
    const text = await scrape(port);
    // Exactly the calls made, however many reads fell while they were made.
    expect(final).toBe(CALLS);
    expect(reads(text) - readsBefore).toBeGreaterThan(3);
    expect(seen.filter((n) => n > 0 && n < CALLS).length).toBeGreaterThan(0);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]);
    expect(text).not.toMatch(/unmeasured/);
  }, 180_000);

  it('the exited thread alone expires; --by-thread-name sums threads of a name', async () => {
    const workload = trackWorkload(await startWorkload('named_threads', [GETPPIDS, 2]));
    const port = await freePort();
    const serve = track(startKdelay(['serve', '-p', workload.pid, '--listen', `127.0.0.1:${port}`, '--expire', 3, '--by-thread-name', '--interval', 0.2]));
    await patiently(serve, new RegExp(`serving process ${workload.pid} `));
    workload.kill('SIGUSR1');
    await workload.waitFor(/^done$/);
    const byName = (text: string) =>
      new Map(
        [...text.matchAll(new RegExp(`^kdelay_syscall_calls_total\\{pid="${workload.pid}",thread="([^"]*)",syscall="getppid"\\} (\\d+)$`, 'gm'))].map((m) => [m[1], Number(m[2])]),
      );
    await until('the calls are read', async () => (byName(await scrape(port)).size === 5 ? true : undefined));
    expect(byName(await scrape(port))).toEqual(expectedCounts(GETPPIDS));
    // worker-2 is gone; the others live on: only its series expires.
    await until('worker-2 expires', async () => (byName(await scrape(port)).has('worker-2') ? undefined : true), 15_000);
    expect(byName(await scrape(port))).toEqual(expectedCounts(GETPPIDS, ['worker-2']));
  }, 60_000);

  it('a scrape that comes while a read of the probes is going on is answered before that read ends', async () => {
    const workload = trackWorkload(await startWorkload('named_threads', [GETPPIDS, 2]));
    const port = await freePort();
    // The test hook (driver/serve-worker.ts): each read says "read N held" and cannot end until a line is written to this FIFO.
    const dir = mkdtempSync(join(tmpdir(), 'kdelay-serve-hold-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const fifo = join(dir, 'reads');
    execFileSync('mkfifo', [fifo]);
    const serve = track(startKdelay(['serve', '-p', workload.pid, '--listen', `127.0.0.1:${port}`, '--interval', 0.2], { env: { ...process.env, KDELAY_TEST_HOLD_READS: fifo } }));
    // However the test ends, no read stays held (kdelay serve could not stop on Ctrl-C while one is).
    cleanups.push(() => void execFileSync('sh', ['-c', 'echo release > "$1" & sleep 1; kill $! 2>/dev/null; true', 'sh', fifo]));
    await patiently(serve, new RegExp(`serving process ${workload.pid} `));
    await patiently(serve, /test hook: read 1 held/);
    // Read 1 has begun and is held: it ends only when this test writes to the FIFO, below. Both answers come meanwhile
    // (a scrape that waited for the read would never come: the abort only turns that hang into a failure).
    const during = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(15_000) });
    expect(during.status).toBe(200);
    const text = await during.text();
    const root = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(15_000) });
    expect(root.status).toBe(200);
    // What the scrape sent is from before read 1: no read has ended yet.
    expect(text).toMatch(/^kdelay_reads_total 0$/m);
    expect(text).toMatch(/^# TYPE kdelay_syscall_calls_total counter$/m);
    // Read 1 goes on, and the reads after it no longer wait.
    writeFileSync(fifo, 'release\n');
    await until('read 1 ends', async () => (Number(/^kdelay_reads_total (\d+)$/m.exec(await scrape(port))?.[1]) >= 1 ? true : undefined));
    workload.kill('SIGUSR1');
    await workload.waitFor(/^done$/);
    await until('the calls are read', async () => (getppidCounts(await scrape(port), workload.pid).size === 5 ? true : undefined));
    expect(getppidCounts(await scrape(port), workload.pid)).toEqual(expectedCounts(GETPPIDS));
  }, 90_000);

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
      const serve = startKdelay(['serve', '--listen', `127.0.0.1:${port}`, '--interval', 0.2], { wrapper: namespace.enter });
      // nsenter forks kdelay: Ctrl-C goes to kdelay itself (its host PID), so that it detaches and exits before the namespace ends.
      cleanups.push(async () => {
        const [kdelay] = childPids(serve.child.pid!);
        if (kdelay && serve.child.exitCode === null) process.kill(kdelay, 'SIGINT');
        const killer = setTimeout(() => {
          try {
            if (kdelay) process.kill(kdelay, 'SIGKILL');
          } catch {
            // already gone
          }
        }, 10_000);
        await serve.done.catch(() => {});
        clearTimeout(killer);
      });
      await serve.waitForStderr(/waiting for one/);
      await serve.waitForStderr(/serving metrics on/);

      const startFake = async () => {
        // startWorkload runs the built named_threads: this execs its copy named ovs-vswitchd instead, with the same arguments.
        const w = await startWorkload('named_threads', [GETPPIDS, -1], { wrapper: [...namespace.enter, 'sh', '-c', `shift; exec ${fake} "$@"`, 'sh'] });
        trackWorkload(w);
        return w;
      };
      const first = await startFake();
      await patiently(serve, new RegExp(`serving process ${first.pid} \\(ovs-vswitchd\\)`));
      first.kill('SIGUSR1');
      await first.waitFor(/^done$/);
      const firstText = await until("the first one's calls are read", async () => {
        const t = await scrape(port);
        return getppidTotal(t, first.pid) >= 15 * GETPPIDS ? t : undefined;
      });
      expect(getppidCounts(firstText, first.pid)).toEqual(expectedCounts(GETPPIDS));

      await first.stop();
      await serve.waitForStderr(new RegExp(`process ${first.pid} exited; its series stay until they expire; waiting for the next one`));
      const second = await startFake();
      expect(second.pid).not.toBe(first.pid);
      await patiently(serve, new RegExp(`serving process ${second.pid} \\(ovs-vswitchd\\)`));
      second.kill('SIGUSR1');
      await second.waitFor(/^done$/);
      const text = await until("the second one's calls are read", async () => {
        const t = await scrape(port);
        return getppidTotal(t, second.pid) >= 15 * GETPPIDS ? t : undefined;
      });
      // Each thread under its number in the namespace, exactly once (a thread the task iterator has not listed yet waits for a later read).
      expect(getppidCounts(text, second.pid)).toEqual(expectedCounts(GETPPIDS));
      expect(getppidTotal(text, second.pid)).toBe(15 * GETPPIDS);
      expect(getppidTotal(text, first.pid)).toBe(15 * GETPPIDS);
      expect(text).toContain(`kdelay_target_info{pid="${second.pid}",command="ovs-vswitchd"} 1`);
      expect(text).toMatch(/^kdelay_target_attaches_total 2$/m);
    },
    90_000,
  );
});

describe('examples/prometheus', () => {
  const dir = join(import.meta.dirname, '..', '..', 'examples', 'prometheus');
  it('promtool accepts the scrape config and the recording and alerting rules', () => {
    expect(execFileSync('promtool', ['check', 'rules', join(dir, 'kdelay-rules.yml')], { encoding: 'utf8' })).toMatch(/SUCCESS: \d+ rules found/);
    expect(execFileSync('promtool', ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8' })).toMatch(/SUCCESS/);
  });
  it('the rules use only metrics the built-in manifests export', () => {
    const exported = new Set(
      readdirSync(join(dir, '..', '..', 'probes'))
        .filter((p) => existsSync(join(dir, '..', '..', 'probes', p, 'manifest.json')))
        .flatMap((p) => JSON.parse(readFileSync(join(dir, '..', '..', 'probes', p, 'manifest.json'), 'utf8')).sections)
        .flatMap((s: { columns: { metric?: { name?: string; type?: string } }[] }) => s.columns)
        .flatMap((c: { metric?: { name?: string; type?: string } }) => (c.metric?.name ? [`kdelay_${c.metric.name}${c.metric.type === 'counter' ? '_total' : ''}`] : [])),
    );
    const used = [...readFileSync(join(dir, 'kdelay-rules.yml'), 'utf8').matchAll(/(?<![:\w])(kdelay_[a-z_]+)\b/g)].map((m) => m[1]).filter((n) => n !== 'kdelay_target_info');
    expect(used.length).toBeGreaterThan(3);
    for (const name of used) expect(exported, name).toContain(name);
  });
});
