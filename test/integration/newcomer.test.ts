/**
 * The first five minutes: what a newcomer types (the quick start, `kdelay
 * help`, `kdelay probes --help`, `kdelay PID`, BCC's `-i 1 --sample-count 2`),
 * the legend, the default text layout beside `--format reference` (no UPCALL
 * line for a target that is not Open vSwitch, one line for an idle target or
 * a thread without system calls), and how kdelay behaves on a terminal (a
 * progress line, one pointer to the legend) and in a pipe (neither, and each
 * sample flushed as it is reported).
 */
// Terminal output is escape sequences: the regular expressions below match them on purpose.
/* eslint-disable no-control-regex */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { requireBpf, skipWithoutBpf, waitUntilNoKdelayPrograms } from '../helpers/bpf.js';
import { KDELAY_BIN, runKdelay, startKdelay } from '../helpers/kdelay.js';
import { labelledRow, parseReport } from '../helpers/report.js';
import { LEGEND_HINT } from '../../host/report/text-style.js';
import { type RunningWorkload, startWorkload } from '../helpers/workloads.js';

let workload: RunningWorkload | undefined;
afterEach(async () => {
  await workload?.stop();
  workload = undefined;
});

describe('help', () => {
  it('kdelay help: every command in the usage lines, no default/preset noise, the examples', async () => {
    const { code, stdout, stderr } = await runKdelay(['help']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout.split('\n').slice(0, 5)).toEqual([
      'Usage: kdelay [OPTIONS] [PID]',
      '       kdelay probes list [OPTIONS]',
      '       kdelay run [OPTIONS] GUEST.wasm [ARGS...]',
      '       kdelay serve [--listen HOST:PORT] [-p PID] [--by-thread-name] [--expire S] [--interval S] [--hist] [PROBE OPTIONS]',
      '       kdelay help [COMMAND | legend]',
    ]);
    expect(stdout).not.toMatch(/bare: 0|preset: |\(default: 0\)|default: off/);
    expect(stdout).toMatch(/^ {2}--sample-time <SECONDS> +length of each sample \(default: 0\.5\)$/m);
    expect(stdout).toMatch(/^ {2}-i, --interval <SECONDS> /m);
    expect(stdout).toMatch(/^ {2}kdelay 1234 -i 1 --sample-count 0 +# 1 s samples of process 1234 until Ctrl-C$/m);
    expect((await runKdelay(['--help'])).stdout).toBe(stdout);
  });

  it('kdelay probes --help and kdelay help probes: the options probes list takes', async () => {
    const direct = await runKdelay(['probes', '--help']);
    expect(direct.code).toBe(0);
    expect(direct.stdout).toMatch(/^Usage: kdelay probes list \[OPTIONS\]\n/);
    expect(direct.stdout).toMatch(/^ {2}--json /m);
    expect(direct.stdout).not.toMatch(/--sample-time/);
    expect((await runKdelay(['help', 'probes'])).stdout).toBe(direct.stdout);
    expect((await runKdelay(['probes', 'list', '--help'])).stdout).toBe(direct.stdout);
    const run = await runKdelay(['help', 'run']);
    expect(run.stdout).toMatch(/^usage: kdelay run /);
  });

  it('the legend explains RUN, READY, STOPPED, LONG POLL and PARTIAL RUN, as --legend and as kdelay help legend', async () => {
    const { code, stdout } = await runKdelay(['--legend']);
    expect(code).toBe(0);
    for (const word of ['RUN ', 'READY', 'STOPPED', 'LONG POLL', 'PARTIAL RUN', 'SYSCALL STATISTICS', 'UPCALL']) expect(stdout).toContain(word);
    expect(Math.max(...stdout.split('\n').map((l) => l.length))).toBeLessThanOrEqual(100);
    expect((await runKdelay(['help', 'legend'])).stdout).toBe(stdout);
  });

  it('probes list fits 100 columns', async () => {
    const { code, stdout } = await runKdelay(['probes', 'list']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^syscalls .* SYSCALL, LONG POLL$/m);
    expect(Math.max(...stdout.split('\n').map((l) => l.length))).toBeLessThanOrEqual(100);
  });

  it('a mistyped command is named as one', async () => {
    const { code, stderr } = await runKdelay(['prbes', 'list']);
    expect(code).toBe(2);
    expect(stderr).toBe("kdelay: unknown command 'prbes': a PID is a number, a command one of probes, report, diff, run, serve, help (kdelay help)\n");
  });
});

describe.skipIf(skipWithoutBpf)('on the kernel', () => {
  it('kdelay PID (the positional form of -p): exact syscall counts of the workload', async () => {
    requireBpf();
    workload = await startWorkload('syscall_workload', [2, 700, 0, 3, 0]);
    const kdelay = startKdelay([workload.pid, '--sample-time', 30, '--only', 'syscalls']);
    await kdelay.waitForOutput(/^# Start sampling/m);
    workload.kill('SIGUSR1');
    await workload.waitFor(/^done$/);
    kdelay.child.kill('SIGINT');
    const { code, stdout } = await kdelay.done;
    expect(code).toBe(0);
    const workers = parseReport(stdout).filter((t) => t.name.startsWith('worker-'));
    expect(workers).toHaveLength(2);
    for (const w of workers) {
      expect(labelledRow(w.sections.get('SYSCALL STATISTICS'), 'getppid')?.[1]).toBe(700);
      expect(labelledRow(w.sections.get('SYSCALL STATISTICS'), 'write')?.[1]).toBe(3);
    }
    expect(await waitUntilNoKdelayPrograms()).toEqual([]);
  });

  it('-i 1 --sample-count 2: two windows of one second, each reported (and flushed to the pipe) as it ends', async () => {
    requireBpf();
    workload = await startWorkload('syscall_workload', [1, 0, 0, 0, 0]);
    const started = Date.now();
    const arrivals: number[] = [];
    const kdelay = startKdelay([workload.pid, '-i', 1, '--sample-count', 2, '--only', 'syscalls']);
    kdelay.child.stdout!.on('data', (d: Buffer) => {
      if (/^# Sample dump/m.test(d.toString())) arrivals.push(Date.now() - started);
    });
    const { code, stdout, stderr } = await kdelay.done;
    expect(code, stderr).toBe(0);
    const starts = [...stdout.matchAll(/^# Start sampling @\S+T(\d+):(\d+):([\d.]+)/gm)].map((m) => Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]));
    const stops = [...stdout.matchAll(/^# Stop sampling @\S+T(\d+):(\d+):([\d.]+)/gm)].map((m) => Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]));
    expect(starts).toHaveLength(2);
    for (let i = 0; i < 2; i++) {
      expect(stops[i] - starts[i]).toBeGreaterThanOrEqual(0.99);
      expect(stops[i] - starts[i]).toBeLessThan(1.5);
    }
    // The first report reached the pipe a whole window before the second.
    expect(arrivals).toHaveLength(2);
    expect(arrivals[1] - arrivals[0]).toBeGreaterThanOrEqual(900);
    // No progress line and no escape sequences in a pipe.
    expect(stderr).toBe('');
    expect(stdout).not.toMatch(/\x1b/);
  });

  it('the quick start: --verdict answers in a line per thread, after the tables', async () => {
    requireBpf();
    workload = await startWorkload('syscall_workload', [1, 0, 0, 0, 0]);
    const { code, stdout, stderr } = await runKdelay([workload.pid, '-i', 0.5, '--verdict']);
    expect(code, stderr).toBe(0);
    // The worker spins (before SIGUSR1): on a CPU, or waiting for one, every moment of the window.
    expect(stdout).toMatch(/^# VERDICT: kernel delay = waiting for a CPU \+ IRQs \+ page faults \+ stopped, per thread, of the [\d.]+ m?s window:$/m);
    // Both threads accounted for: the worker by name if the kernel delayed it noticeably (a busy machine), the main thread (in sigwait) as one other.
    const verdict = stdout.slice(stdout.indexOf('# VERDICT'));
    expect(verdict).toMatch(
      /^ {2}worker-1 \[\d+\] {2}(kernel delay [\d.]+% of [\d.]+ m?s: .*|account incomplete: .*)\n {2}1 other thread: |^ {2}No thread was delayed by the kernel .*\n {2}2 other threads: /m,
    );
  });

  it("a target that is not Open vSwitch: no UPCALL line; a thread without system calls says none; --format reference: the reference's lines", async () => {
    requireBpf();
    // Two workers spinning before SIGUSR1: on a CPU all window, not one system call.
    workload = await startWorkload('syscall_workload', [2, 0, 0, 0, 0]);
    const text = await runKdelay([workload.pid, '-i', 0.3]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).not.toMatch(/UPCALL/);
    const workers = parseReport(text.stdout).filter((t) => t.name.startsWith('worker-'));
    expect(workers, text.stdout).toHaveLength(2);
    for (const w of workers) {
      expect(text.stdout).toMatch(new RegExp(`^ +${w.tid} ${w.name} +\\[SYSCALL STATISTICS\\]\n {28}none in this window\n\n {28}\\[`, 'm'));
      // It ran: a run section, whole stretches or one across the window.
      expect(
        [...w.sections.keys()].some((title) => /^THREAD (PARTIAL )?RUN STATISTICS$/.test(title)),
        text.stdout,
      ).toBe(true);
    }
    // The reference's layout: the UPCALL line (a table, or not available here) and the empty column headers.
    const reference = await runKdelay([workload.pid, '-i', 0.3, '--format', 'reference']);
    expect(reference.code, reference.stderr).toBe(0);
    expect(reference.stdout).toMatch(/^# UPCALL STATISTICS\b/m);
    expect(reference.stdout).not.toMatch(/none in this window|# Idle/);
    const referenceWorkers = parseReport(reference.stdout).filter((t) => t.name.startsWith('worker-'));
    expect(referenceWorkers).toHaveLength(2);
    for (const w of referenceWorkers) {
      expect(w.sections.get('SYSCALL STATISTICS'), reference.stdout).toEqual({ title: 'SYSCALL STATISTICS', header: ['NAME', 'NUMBER', 'COUNT', 'TOTAL ns', 'MAX ns'], rows: [] });
    }
  });

  it('an idle target: one line instead of an empty table (--format reference: the empty table)', async () => {
    requireBpf();
    // No workers: the main thread waits in sigwait() for a signal that does not come.
    workload = await startWorkload('syscall_workload', [0, 0, 0, 0, 0]);
    const command = readFileSync(`/proc/${workload.hostPid}/comm`, 'utf8').trim();
    const text = await runKdelay([workload.pid, '-i', 0.3]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout.split('\n').filter((l) => !/^# (Start|Stop) sampling|^# Sample dump/.test(l))).toEqual([
      `# Idle: no measured thread of process ${workload.pid} (${command}) ran on a CPU or made a system call in this window`,
      '',
    ]);
    const reference = await runKdelay([workload.pid, '-i', 0.3, '--format', 'reference']);
    expect(reference.code, reference.stderr).toBe(0);
    expect(reference.stdout).toMatch(/^# Sample dump @.*\nTID {8}THREAD {11}<RESOURCE SPECIFIC>\n-{10} -{16} -{76}\n\n# UPCALL STATISTICS/m);
  });

  it('on a terminal (a pty): a progress line during a 3 s window, erased before the report, and one pointer to the legend after it; neither in a pipe', async () => {
    requireBpf();
    workload = await startWorkload('syscall_workload', [1, 0, 0, 0, 0]);
    const command = `${process.execPath} ${KDELAY_BIN} ${workload.pid} -i 3 --only syscalls,sched`;
    const tty = await new Promise<string>((resolve, reject) => {
      // script(1) gives kdelay a pty for stdout and stderr; NO_COLOR unset, TERM a real terminal's.
      const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm' };
      delete env.NO_COLOR;
      const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'], env });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`script exited ${code}: ${out}`))));
    });
    expect(tty).toMatch(/\r\x1b\[K\x1b\[2mkdelay: sampling: 2\.\d s of 3\.0 s \(Ctrl-C reports now\)\x1b\[0m/);
    // After the report, once: a dim pointer to the legend (stderr).
    expect(tty.match(/\x1b\[2mkdelay help legend explains these sections\x1b\[0m\r\n/g)).toHaveLength(1);
    expect(tty.trimEnd().endsWith(`\x1b[2m${LEGEND_HINT}\x1b[0m`)).toBe(true);
    // Erased before the stop line.
    expect(tty).toMatch(/\r\x1b\[K# Stop sampling/);
    // With NO_COLOR: the line, without colour.
    const plain = execFileSync('script', ['-q', '-e', '-c', command, '/dev/null'], { encoding: 'utf8', env: { ...process.env, TERM: 'xterm', NO_COLOR: '1' } });
    expect(plain).toMatch(/\r\x1b\[Kkdelay: sampling: 2\.\d s of 3\.0 s/);
    expect(plain).not.toMatch(/\x1b\[2m/);
    expect(plain.match(/^kdelay help legend explains these sections\r$/gm)).toHaveLength(1);
    // The same run in a pipe: no progress at all, no pointer to the legend.
    const piped = await runKdelay([workload.pid, '-i', 3, '--only', 'syscalls,sched']);
    expect(piped.stderr).toBe('');
    expect(piped.stdout).toMatch(/^ +\d+ worker-1 +\[SYSCALL STATISTICS\]$/m);
    expect(piped.stdout).not.toMatch(/\x1b|sampling: |legend/);
    // The report piped on (stderr still the terminal): no pointer either; it points at nothing the terminal shows.
    const throughCat = execFileSync('script', ['-q', '-e', '-c', `${process.execPath} ${KDELAY_BIN} ${workload.pid} -i 0.3 --only syscalls,sched | cat`, '/dev/null'], {
      encoding: 'utf8',
      env: { ...process.env, TERM: 'xterm' },
    });
    expect(throughCat).toMatch(/^ +\d+ worker-1 +\[SYSCALL STATISTICS\]\r$/m);
    expect(throughCat).not.toMatch(/legend/);
  });
});
