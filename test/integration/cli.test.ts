/** The CLI's contract for bad input: one line on stderr, the reference's exit code, nothing attached. */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { requireBpf, skipWithoutBpf, waitUntilNoKdelayPrograms } from '../helpers/bpf.js';
import { asNobodyWith, runKdelay, startKdelay } from '../helpers/kdelay.js';
import { type RunningWorkload, startWorkload } from '../helpers/workloads.js';
import { createPidNamespace, firstChild, type PidNamespace } from '../helpers/pid-namespace.js';
import { ExitCode, UserError } from '../../host/base/exit-codes.js';
import { requireKernelBtf } from '../../host/driver/preflight.js';
import { tempDir } from '../helpers/temp-dirs.js';

/**
 * Auto-detection depends on which processes exist: those tests run in a PID
 * namespace of their own, so an ovs-vswitchd on the machine changes nothing.
 */
let namespace: PidNamespace | undefined;
afterEach(async () => {
  await namespace?.close(); // and with it every process inside
  namespace = undefined;
});

/** A process named ovs-vswitchd (a copy of sleep(1) under that name) in the namespace; returns its PID there. */
async function startFakeOvs(ns: PidNamespace): Promise<number> {
  const dir = tempDir('kdelay-fake-ovs-');
  const exe = join(dir, 'ovs-vswitchd');
  copyFileSync(execFileSync('which', ['sleep'], { encoding: 'utf8' }).trim(), exe);
  const nsenter = spawn(ns.enter[0], [...ns.enter.slice(1), exe, '60'], { stdio: 'ignore' });
  const hostPid = await firstChild(nsenter.pid!);
  return Number(
    /^NSpid:\s*(.*)$/m
      .exec(readFileSync(`/proc/${hostPid}/status`, 'utf8'))![1]
      .split(/\s+/)
      .at(-1),
  );
}

function expectOneLineError(result: { code: number | null; stdout: string; stderr: string }, code: number, text: RegExp) {
  expect(result.code).toBe(code);
  expect(result.stdout).toBe('');
  expect(result.stderr).toMatch(text);
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(result.stderr).not.toMatch(/\bat .*\.js:\d+/); // no stack trace
}

describe('CLI errors', () => {
  it('bad option value: usage error, exit 2', async () => {
    expectOneLineError(await runKdelay(['--buffer-page-count', '0']), 2, /^kdelay: .*--buffer-page-count.* must be nonzero$/m);
  });

  it.skipIf(process.geteuid?.() !== 0)('no ovs-vswitchd running: exit 69 (EX_UNAVAILABLE)', async () => {
    namespace = await createPidNamespace();
    expectOneLineError(await runKdelay([], undefined, { wrapper: namespace.enter }), 69, /failed to find ovs-vswitchd's PID/);
  });

  it('a --pid that does not exist: exit 69', async () => {
    expectOneLineError(await runKdelay(['-p', '999999999']), 69, /no process with PID 999999999/);
  });

  it.skipIf(process.geteuid?.() !== 0)('several ovs-vswitchd processes: exit 66 (EX_NOINPUT), naming them', async () => {
    namespace = await createPidNamespace();
    const a = await startFakeOvs(namespace);
    const b = await startFakeOvs(namespace);
    const result = await runKdelay([], undefined, { wrapper: namespace.enter });
    expectOneLineError(result, 66, /multiple ovs-vswitchd daemons running .*use the -p option/);
    expect(result.stderr).toContain(String(a));
    expect(result.stderr).toContain(String(b));
  });

  // Another user, with just these capabilities (setpriv from util-linux; only root can grant them).
  it.skipIf(process.geteuid?.() !== 0).each([
    [[], 'CAP_BPF and CAP_PERFMON'],
    [['bpf'], 'CAP_PERFMON'],
    [['perfmon'], 'CAP_BPF'],
  ])('not root, with capabilities %j: exit 77 (EX_NOPERM) naming exactly what is missing', async (caps, missing) => {
    const result = await runKdelay(['-p', process.pid], undefined, { wrapper: asNobodyWith(caps) });
    expectOneLineError(result, 77, new RegExp(`^kdelay: missing ${missing}: loading BPF probes needs CAP_BPF and CAP_PERFMON \\(or CAP_SYS_ADMIN\\)`));
  });
});

describe('environment checks', () => {
  it('a kernel without BTF: exit 72 (EX_OSFILE) with a sentence naming what is missing', () => {
    let error: unknown;
    try {
      requireKernelBtf('/nonexistent/btf/vmlinux');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).exitCode).toBe(ExitCode.OSFILE);
    expect((error as UserError).message).toBe('the kernel has no BTF (/nonexistent/btf/vmlinux is missing); kdelay needs a kernel built with CONFIG_DEBUG_INFO_BTF=y');
  });
});

describe.skipIf(skipWithoutBpf)('CLI on the real kernel', () => {
  it('finds the single ovs-vswitchd by itself and reports on it', async () => {
    requireBpf();
    namespace = await createPidNamespace({ bindHostProc: true });
    const pid = await startFakeOvs(namespace);
    const result = await runKdelay(['--sample-time', '0.2'], { ...process.env, KDELAY_HOST_PROC: namespace.hostProc }, { wrapper: namespace.enter });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^# Start sampling @\d{4}-\d\d-\d\dT[\d:.]+ \(\d\d:\d\d:\d\d UTC\)$/m);
    expect(result.stdout).toMatch(/^# Stop sampling @/m);
    expect(result.stdout).toMatch(/^# Sample dump @/m);
    // sleep(1) sits in one clock_nanosleep the whole window: entered before it, so nothing is counted,
    // which the default layout says in one line (the reference's prints the table's header alone).
    expect(result.stdout).toMatch(new RegExp(`^# Idle: no measured thread of process ${pid} \\(ovs-vswitchd\\) ran on a CPU or made a system call in this window$`, 'm'));
    expect(result.stdout).not.toMatch(/^TID {8}THREAD/m);
    // An Open vSwitch target (by its name): its UPCALL line stays, a table or "not available".
    expect(result.stdout).toMatch(/^# UPCALL STATISTICS\b/m);
    expect(await waitUntilNoKdelayPrograms()).toEqual([]);
  });
});

describe.skipIf(skipWithoutBpf)('Ctrl-C between triggered windows', () => {
  let workload: RunningWorkload | undefined;
  afterEach(async () => {
    await workload?.stop();
    workload = undefined;
  });

  /** kdelay on trigger_workload's USDT window (one round), shorter than --trigger-delta; SIGINT once it was skipped. */
  async function interruptedAfterSkips(more: string[]) {
    workload = await startWorkload('trigger_workload', [1, 7, 60, 0, 0]);
    const kdelay = startKdelay(['-p', workload.pid, '--start-trigger', 'u:kdelay_test:start', '--stop-trigger', 'u:kdelay_test:stop', '--trigger-delta', 1e12, ...more]);
    await kdelay.waitForStderr(/waiting for/);
    workload.kill('SIGUSR1');
    await workload.waitFor(/^done$/);
    await kdelay.waitForOutput(more.includes('--json') ? /"type":"skipped"/ : /^# Sample dump skipped/m);
    kdelay.child.kill('SIGINT');
    return kdelay.done;
  }

  it('after skipped windows: the stop line and the last skip line again, as the reference, not a table', async () => {
    requireBpf();
    const { code, stdout, stderr } = await interruptedAfterSkips([]);
    expect(code, stderr).toBe(0);
    const skips = [...stdout.matchAll(/^# Sample dump skipped, delta ([\d,]+) ns @/gm)].map((m) => m[1]);
    expect(skips, stdout).toHaveLength(2);
    expect(skips[1]).toBe(skips[0]);
    expect(stdout).toMatch(/^# Stop sampling @.*\n# Sample dump skipped, delta [\d,]+ ns @.*\n$/m);
    expect(stdout).not.toMatch(/^# Sample dump @|^TID /m);
    expect(await waitUntilNoKdelayPrograms()).toEqual([]);
  });

  it('after skipped windows, --json: a skipped record again, no sample', async () => {
    requireBpf();
    const { code, stdout, stderr } = await interruptedAfterSkips(['--json']);
    expect(code, stderr).toBe(0);
    const records = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(records.map((r) => r.type)).toEqual(['skipped', 'skipped']);
    expect(records[1].data.trigger_delta_ns).toBe(records[0].data.trigger_delta_ns);
  });

  it('before any start trigger, --json: the sample is interrupted, an empty window at the moment of Ctrl-C (not at boot)', async () => {
    requireBpf();
    workload = await startWorkload('trigger_workload', [1, 7, 60, 0, 0]);
    const kdelay = startKdelay(['-p', workload.pid, '--start-trigger', 'u:kdelay_test:start', '--json']);
    await kdelay.waitForStderr(/waiting for/);
    const before = process.hrtime.bigint();
    kdelay.child.kill('SIGINT');
    const { code, stdout } = await kdelay.done;
    const after = process.hrtime.bigint();
    expect(code).toBe(0);
    const sample = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
      .find((r) => r.type === 'sample');
    expect(sample.data.interrupted).toBe(true);
    expect(sample.data.window_ns).toBe(0);
    expect(sample.data.window_start_ns).toBe(sample.data.window_stop_ns);
    const start = BigInt(sample.data.window_start_ns);
    expect(start >= before && start <= after, `${start} not within [${before}, ${after}]`).toBe(true);
    expect(Math.abs(Date.parse(sample.data.window_start_time) - Date.now())).toBeLessThan(60_000);
  });
});
