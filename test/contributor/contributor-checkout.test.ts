/**
 * A contributor without the release key adds a built-in probe, as the
 * README says, from nothing: `git clone` (of this checkout's HEAD, so
 * commit what this should test), `npm ci`, `npm run new-probe -- demo` and
 * `npm run build:probes -- demo` (KDELAY_SIGNING_KEY pointing nowhere) give
 * an unsigned bundles/demo.wasm that the clone's kdelay admits as its own
 * build, lists and reports, with no other file edited by hand; the tests'
 * probe lists pick it up; `npm run check:probes`, what CI runs, still
 * refuses it until a maintainer signs it. No step of the flow may lean on a
 * build the README does not ask for (new-probe once needed dist/ and died
 * on a fresh clone; a copy of a built tree hid that).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { requireBpf, skipWithoutBpf, waitUntilNoKdelayPrograms } from '../helpers/bpf.js';
import { sampleWorkload } from '../helpers/kdelay.js';
import { parseReport } from '../helpers/report.js';
import { type RunningWorkload, startWorkload } from '../helpers/workloads.js';

const ROOT = join(import.meta.dirname, '..', '..');
const NAME = 'demo';
const NANOSLEEPS = 5;
const parent = mkdtempSync(join(tmpdir(), 'kdelay-contributor-'));
const clone = join(parent, 'kdelay');
const env = { ...process.env, KDELAY_SIGNING_KEY: '/nonexistent' };
/**
 * Runs a command in the clone. Not spawnSync: minutes of a blocked event
 * loop make vitest's worker miss its own heartbeats (an unhandled "Timeout
 * calling onTaskUpdate" error fails the run).
 */
const inClone = (command: string, args: string[]) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(command, args, { cwd: clone, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
let workload: RunningWorkload | undefined;

afterEach(async () => {
  await workload?.stop();
  workload = undefined;
});
afterAll(() => rmSync(parent, { recursive: true, force: true }));

// Minutes on a quiet machine (npm ci from the cache ~30 s, build:probes and
// check:probes compile every object); generous limits for a busy one, where
// build:probes alone took ~300 s.

/** `git clone` of this checkout's HEAD, then `npm ci` from npm's cache where it can (the suite's own `npm ci` filled it). */
async function cloneAndInstall(): Promise<void> {
  execFileSync('git', ['clone', '-q', '--no-checkout', ROOT, clone]);
  execFileSync('git', ['checkout', '-q', '--detach', execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim()], { cwd: clone });
  const install = await inClone('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund']);
  expect(install.status, install.stdout + install.stderr).toBe(0);
}

describe.skipIf(skipWithoutBpf)('a contributor without the release key', () => {
  it('adds a built-in probe that builds, lists, reports and is tested, and CI still asks for a signature', { timeout: 1_200_000 }, async () => {
    requireBpf();
    await cloneAndInstall();
    // The README's steps, in its order, on a clone where nothing is built yet.
    const scaffold = await inClone('npm', ['run', '--silent', 'new-probe', '--', NAME]);
    expect(scaffold.status, scaffold.stderr).toBe(0);
    const build = await inClone('npm', ['run', '--silent', 'build:probes', '--', NAME]);
    expect(build.status, build.stderr).toBe(0);
    expect(build.stdout).toContain(`built bundles/${NAME}.wasm (UNSIGNED)`);
    // What `npm test` builds first: tsc and the one-file CLI that bin/kdelay.js loads.
    const cli = await inClone('npm', ['run', '--silent', 'build']);
    expect(cli.status, cli.stderr).toBe(0);

    // Nothing but the new folder, its bundle and the generated table changed.
    const changed = execFileSync('git', ['status', '--porcelain'], { cwd: clone, encoding: 'utf8' }).split('\n').filter(Boolean).sort();
    expect(changed).toEqual([' M ARCHITECTURE.md', `?? bundles/${NAME}.wasm`, `?? probes/${NAME}/`]);
    expect(readFileSync(join(clone, 'ARCHITECTURE.md'), 'utf8')).toMatch(new RegExp(`^\\| \`${NAME}\` \\| ${NAME.toUpperCase()} \\| tp_btf/sched_wakeup`, 'm'));

    const bin = join(clone, 'bin', 'kdelay.js');
    const listed = spawnSync(process.execPath, [bin, 'probes', 'list'], { env, encoding: 'utf8' });
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^${NAME} +0\\.1\\.0 +x86_64,arm64 +built-in +unsigned \\(built from this checkout\\) +${NAME.toUpperCase()}$`, 'm'));
    expect(listed.stdout).toMatch(/^syscalls .* signed \(kdelay release key\) /m);

    // One worker spins until SIGUSR1, then sleeps NANOSLEEPS times: each ends in exactly one wakeup.
    workload = await startWorkload('syscall_workload', [1, 0, NANOSLEEPS, 0, 0]);
    const { code, stdout, stderr } = await sampleWorkload(workload, [], { bin, env });
    expect(code, stderr).toBe(0);
    const worker = parseReport(stdout).find((t) => t.name === 'worker-1');
    expect(worker?.sections.has('SYSCALL STATISTICS'), stdout).toBe(true);
    expect(Number(worker?.sections.get(`${NAME.toUpperCase()} STATISTICS`)?.rows[0][0]), stdout).toBe(NANOSLEEPS);
    expect(await waitUntilNoKdelayPrograms([`${NAME}_`])).toEqual([]);

    // The suite's probe lists come from probes/*/manifest.json: they include the new probe unedited.
    const tests = await inClone(join(clone, 'node_modules', '.bin', 'vitest'), ['run', 'test/unit/bundle-integrity.test.ts', 'test/unit/policy.test.ts']);
    expect(tests.status, tests.stdout + tests.stderr).toBe(0);

    // CI's gate: the release bundles must be signed.
    const check = await inClone('npm', ['run', '--silent', 'check:probes']);
    expect(check.status).toBe(1);
    expect(check.stdout).toContain(`bundles/${NAME}.wasm is not signed by the release key`);
    expect(check.stdout).toContain('ok ARCHITECTURE.md built-in probes table');
  });
});
