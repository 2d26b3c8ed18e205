/**
 * A contributor without the release key adds a built-in probe: in a copy of
 * this checkout (a git work tree of its own, KDELAY_SIGNING_KEY pointing
 * nowhere), `npm run new-probe -- demo` and `npm run build:probes -- demo`
 * give an unsigned bundles/demo.wasm that this checkout's kdelay admits as
 * its own build, lists and reports, with no other file edited by hand; the
 * tests' probe lists pick it up; `npm run check:probes`, what CI runs, still
 * refuses it until a maintainer signs it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { requireBpf, skipWithoutBpf, waitUntilNoKdelayPrograms } from '../helpers/bpf.js';
import { sampleWorkload } from '../helpers/kdelay.js';
import { parseReport } from '../helpers/report.js';
import { type RunningWorkload, startWorkload } from '../helpers/workloads.js';

const ROOT = join(import.meta.dirname, '..', '..');
const NAME = 'demo';
const NANOSLEEPS = 5;
const clone = mkdtempSync(join(tmpdir(), 'kdelay-contributor-'));
const env = { ...process.env, KDELAY_SIGNING_KEY: '/nonexistent' };
const inClone = (command: string, args: string[]) => spawnSync(command, args, { cwd: clone, env, encoding: 'utf8', timeout: 300_000 });
let workload: RunningWorkload | undefined;

afterEach(async () => {
  await workload?.stop();
  workload = undefined;
});
afterAll(() => rmSync(clone, { recursive: true, force: true }));

/** The work tree as `git clone` of it would be with uncommitted changes included: tracked and new files, nothing ignored. */
function copyCheckout(): void {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const file of files) {
    if (!existsSync(join(ROOT, file))) continue; // deleted, not yet committed
    mkdirSync(dirname(join(clone, file)), { recursive: true });
    cpSync(join(ROOT, file), join(clone, file));
  }
  symlinkSync(join(ROOT, 'node_modules'), join(clone, 'node_modules'));
  execFileSync('git', ['init', '-q'], { cwd: clone });
  execFileSync('git', ['add', '-A'], { cwd: clone });
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'clone'], { cwd: clone });
}

describe.skipIf(skipWithoutBpf)('a contributor without the release key', () => {
  it('adds a built-in probe that builds, lists, reports and is tested, and CI still asks for a signature', { timeout: 600_000 }, async () => {
    requireBpf();
    copyCheckout();
    // What `npm ci` does after installing: tsc and the one-file CLI (node_modules is this checkout's).
    const cli = inClone('npm', ['run', '--silent', 'build']);
    expect(cli.status, cli.stderr).toBe(0);
    const scaffold = inClone('npm', ['run', '--silent', 'new-probe', '--', NAME]);
    expect(scaffold.status, scaffold.stderr).toBe(0);
    const build = inClone('npm', ['run', '--silent', 'build:probes', '--', NAME]);
    expect(build.status, build.stderr).toBe(0);
    expect(build.stdout).toContain(`built bundles/${NAME}.wasm (UNSIGNED)`);

    // Nothing but the new folder, its bundle and the generated table changed.
    const changed = execFileSync('git', ['status', '--porcelain'], { cwd: clone, encoding: 'utf8' }).split('\n').filter(Boolean).sort();
    expect(changed).toEqual([' M ARCHITECTURE.md', `?? bundles/${NAME}.wasm`, `?? probes/${NAME}/`]);
    expect(readFileSync(join(clone, 'ARCHITECTURE.md'), 'utf8')).toMatch(new RegExp(`^\\| \`${NAME}\` \\| ${NAME.toUpperCase()} \\| tp_btf/sched_wakeup`, 'm'));

    const bin = join(clone, 'bin', 'kdelay.js');
    const listed = spawnSync(process.execPath, [bin, 'probes', 'list'], { env, encoding: 'utf8' });
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^${NAME} +0\\.1\\.0 +x86_64,arm64 +built-in +unsigned \\(built from this checkout\\) +${NAME.toUpperCase()} STATISTICS$`, 'm'));
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
    const tests = inClone(join(clone, 'node_modules', '.bin', 'vitest'), ['run', 'test/unit/bundle-integrity.test.ts', 'test/unit/policy.test.ts']);
    expect(tests.status, tests.stdout + tests.stderr).toBe(0);

    // CI's gate: the release bundles must be signed.
    const check = inClone('npm', ['run', '--silent', 'check:probes']);
    expect(check.status).toBe(1);
    expect(check.stdout).toContain(`bundles/${NAME}.wasm is not signed by the release key`);
    expect(check.stdout).toContain('ok ARCHITECTURE.md built-in probes table');
  });
});
