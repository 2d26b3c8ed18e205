/**
 * --write on the real kernel, and everything that reads the recording:
 * `kdelay report FILE` prints the live run's bytes again (text and --json)
 * after the target exited; --folded holds the workload's slow call with
 * its frames; `kdelay diff` of a run where one thread made twice the calls
 * names that thread and that call first; --html in headless Chromium:
 * every thread and syscall in the DOM, a hostile thread name as text, the
 * page's own script ran, no network request, a screenshot.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { requireBpf, skipWithoutBpf, IN_CI } from '../helpers/bpf.js';
import { runKdelay, startKdelay } from '../helpers/kdelay.js';
import { type RunningWorkload, startWorkload } from '../helpers/workloads.js';

const dir = mkdtempSync(join(tmpdir(), 'kdelay-recording-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let workload: RunningWorkload | undefined;
afterEach(async () => {
  await workload?.stop();
  workload = undefined;
});

/** A thread name that would be markup if the page did not escape it (the kernel keeps 15 bytes: `<img src=x oner`). */
const HOSTILE = '<img src=x onerror=alert(1)>';

/** One window around the workload's work, recorded; returns kdelay's live stdout. The workload has exited when this returns. */
async function recordRun(file: string, slow: number, fast: number, args: (string | number)[], sleepMs = 2): Promise<string> {
  workload = await startWorkload('recording_workload', [slow, fast, HOSTILE, sleepMs]);
  const kdelay = startKdelay(['-p', workload.pid, '--sample-time', 30, '--write', file, ...args]);
  await kdelay.waitForOutput(args.includes('--json') ? /"type":"window_open"/ : /^# Start sampling/m);
  workload.kill('SIGUSR1');
  await workload.waitFor(/^done$/);
  kdelay.child.kill('SIGINT');
  const { code, stdout, stderr } = await kdelay.done;
  expect(code, stderr).toBe(0);
  await workload.stop();
  workload = undefined;
  return stdout;
}

const chromium = ['chromium', 'chromium-browser'].find((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status === 0);

describe.skipIf(skipWithoutBpf)('recordings of a real run', () => {
  it('kdelay report prints the live text again, byte for byte, after the target exited', async () => {
    requireBpf();
    const file = join(dir, 'text.kdelay');
    const live = await recordRun(file, 6, 2000, ['-s', 1_000_000]);
    expect(live).toMatch(/caller +\[SYSCALL STATISTICS\]/);
    expect(live).toContain('# SYSCALL EVENTS:');
    const replayed = await runKdelay(['report', file]);
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(replayed.stdout).toBe(live);
    // Rendering-only selection after the fact.
    const caller = await runKdelay(['report', file, '--thread-name', '^caller$']);
    expect(caller.stdout).toContain('caller');
    expect(caller.stdout).not.toContain('<img');
    expect((await runKdelay(['report', file, '--verdict-only'])).stderr).toMatch(/no verdict data/);

    // --folded: the slow call under slow_path, 6 times; every line `frames COUNT`.
    const folded = await runKdelay(['report', file, '--folded']);
    expect(folded.code, folded.stderr).toBe(0);
    const lines = folded.stdout.trim().split('\n');
    for (const line of lines) expect(line).toMatch(/^[^;]+(;[^;]+)+ \d+$/);
    const slow = lines.filter((l) => /^caller;.*;slow_path;.*;(clock_)?nanosleep \d+$/.test(l));
    expect(
      slow.reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0),
      folded.stdout,
    ).toBe(6);
    const byTime = await runKdelay(['report', file, '--folded', '--weight', 'time']);
    const slowNs = byTime.stdout
      .split('\n')
      .filter((l) => /^caller;.*;slow_path;/.test(l))
      .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
    expect(slowNs).toBeGreaterThanOrEqual(6 * 2_000_000);
  });

  it('kdelay report --json prints what the live --json run printed, and the text of the same run', async () => {
    requireBpf();
    const file = join(dir, 'json.kdelay');
    const live = await recordRun(file, 4, 1000, ['--json', '--verdict', '--hist']);
    expect(live).toContain('"type":"verdict"');
    const replayed = await runKdelay(['report', file, '--json']);
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(replayed.stdout).toBe(live);
    const text = await runKdelay(['report', file, '--verdict-only']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^# Start sampling/m);
    expect(text.stdout).toMatch(/# VERDICT: /);
    expect(text.stdout).not.toContain('[SYSCALL STATISTICS]');
  });

  it('kdelay diff names the thread whose calls doubled, and the call, first', async () => {
    requireBpf();
    const a = join(dir, 'a.kdelay');
    const b = join(dir, 'b.kdelay');
    // 50 ms sleeps: 500 ms more in nanosleep, far more than what waiting for a CPU varies by on a busy machine.
    await recordRun(a, 10, 0, [], 50);
    await recordRun(b, 20, 0, [], 50);
    const diff = await runKdelay(['diff', a, b]);
    expect(diff.code, diff.stderr).toBe(0);
    expect(diff.stdout.split('\n')[0], diff.stdout).toMatch(/^caller in (clock_)?nanosleep \+[\d.]+ m?s \(×\d\.\d\), calls 10 → 20 \(×2\.0\)/);
    const json = await runKdelay(['diff', a, b, '--json']);
    const records = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records[0].type).toBe('diff');
    expect(records[1].data).toMatchObject({ thread: 'caller', section: 'syscalls', count_a: 10, count_b: 20 });
  });

  it.skipIf(!chromium && !IN_CI)('--html: one self-contained page Chromium shows, the hostile name as text, no request', async () => {
    requireBpf();
    if (!chromium) throw new Error('chromium is not installed (apt-get install chromium)');
    const file = join(dir, 'html.kdelay');
    await recordRun(file, 6, 2000, ['-s', 1_000_000, '--verdict', '--hist']);
    // Any string in a recording reaches the page: give the thread a name no kernel would keep whole.
    const lines = gunzipSync(readFileSync(file)).toString().split('\n');
    const full = `<img src=x onerror="document.title='pwned'">`;
    const edited = lines.map((l) => l.replaceAll(JSON.stringify(HOSTILE.slice(0, 15)), JSON.stringify(full)));
    const hostileFile = join(dir, 'hostile.kdelay');
    writeFileSync(hostileFile, gzipSync(edited.join('\n')));
    const page = join(dir, 'report.html');
    const made = await runKdelay(['report', hostileFile, '--html', page]);
    expect(made.code, made.stderr).toBe(0);
    const html = readFileSync(page, 'utf8');
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;/);
    expect(html).not.toMatch(/<[^>]*\s(src|href)=|https?:\/\//);

    const browse = (url: string, ...extra: string[]) =>
      execFileSync(
        chromium,
        ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', `--user-data-dir=${join(dir, 'profile')}`, ...extra, url],
        {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
          timeout: 120_000,
        },
      );
    /** The URLs a page made Chromium request: its net log less the file itself and Chromium's own services (updates, clock, accounts). */
    const requests = (url: string, log: string) => {
      browse(url, '--virtual-time-budget=2000', `--log-net-log=${log}`);
      const urls = [...readFileSync(log, 'utf8').matchAll(/"url":"([^"]+)"/g)].map((m) => m[1]);
      return urls.filter((u) => !u.startsWith('file://') && !/^https?:\/\/[^/]*\.(google\.com|googleapis\.com|gvt1\.com)\//.test(u));
    };
    // The method sees a page's request: a control page with one image from the network.
    const control = join(dir, 'control.html');
    writeFileSync(control, '<!doctype html><img src="http://kdelay-canary.invalid/x.png">');
    expect(requests(`file://${control}`, join(dir, 'control-net.json'))).toContain('http://kdelay-canary.invalid/x.png');
    const dom = browse(`file://${page}`, '--virtual-time-budget=2000', '--dump-dom');
    // The page's own script ran (the policy admits it by hash); the name's did not.
    expect(dom).toMatch(/<body[^>]* data-ready="1"/);
    expect(dom).toMatch(/<title>kdelay: recording_workl/);
    expect(dom).not.toContain('pwned</title>');
    expect(dom).not.toMatch(/<img/);
    expect(dom).toContain('&lt;img src=x onerror="document.title=\'pwned\'"&gt;');
    for (const name of ['caller', 'getppid', 'nanosleep', 'slow_path', 'Run-queue waits', 'waiting for a CPU']) expect(dom).toContain(name);
    expect(dom).toMatch(/<svg class="flame"/);
    // Our page made no request at all.
    expect(requests(`file://${page}`, join(dir, 'net.json'))).toEqual([]);

    const shot = join(dir, 'report.png');
    browse(`file://${page}`, '--window-size=1280,1800', '--hide-scrollbars', `--screenshot=${shot}`);
    expect(statSync(shot).size).toBeGreaterThan(20_000);
    if (process.env.KDELAY_KEEP_SCREENSHOT) copyFileSync(shot, process.env.KDELAY_KEEP_SCREENSHOT);
    expect(existsSync(shot)).toBe(true);
  });
});
