/**
 * The authoring kit: `npm run new-probe -- NAME` scaffolds a probe package
 * that builds into one bundle and reports as generated (per-thread wakeups),
 * checked here on a workload whose wakeups are known.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { requireBpf, skipWithoutBpf, waitUntilNoKdelayPrograms } from '../helpers/bpf.js';
import { sampleWorkload } from '../helpers/kdelay.js';
import { parseReport } from '../helpers/report.js';
import { type RunningWorkload, startWorkload } from '../helpers/workloads.js';
import { tempDir } from '../helpers/temp-dirs.js';

const ROOT = join(import.meta.dirname, '..', '..');
const NAME = 'wakes';
const DIR = join('.test-probes', NAME);
const NANOSLEEPS = 7;
const zx = join(ROOT, 'node_modules', '.bin', 'zx');
const newProbe = (...args: string[]) => spawnSync(zx, [join(ROOT, 'scripts', 'new-probe.mjs'), ...args], { cwd: ROOT, encoding: 'utf8' });
let workload: RunningWorkload | undefined;

afterEach(async () => {
  await workload?.stop();
  workload = undefined;
});
afterAll(() => rmSync(join(ROOT, DIR), { recursive: true, force: true }));

describe('npm run new-probe', () => {
  it('refuses bad names, folders that exist, and folders its imports would not resolve from', () => {
    expect(newProbe('Bad-Name', '--dir', '.test-probes')).toMatchObject({ status: 2, stderr: expect.stringContaining("'Bad-Name' is not a probe name") });
    expect(newProbe('sched')).toMatchObject({ status: 1, stderr: 'new-probe: probes/sched already exists\n' });
    expect(newProbe('deep', '--dir', '.test-probes/a')).toMatchObject({ status: 2, stderr: expect.stringContaining('must be two levels below the project root') });
  });

  it.skipIf(skipWithoutBpf)('scaffolds a package that builds into one bundle and reports per-thread wakeups exactly', async () => {
    requireBpf();
    rmSync(join(ROOT, DIR), { recursive: true, force: true });
    expect(newProbe(NAME, '--dir', '.test-probes').status).toBe(0);
    expect(readdirSync(join(ROOT, DIR)).sort()).toEqual(['README.md', 'manifest.json', `${NAME}.bpf.c`, `${NAME}.ts`]);
    expect(JSON.parse(readFileSync(join(ROOT, DIR, 'manifest.json'), 'utf8')).name).toBe(NAME);

    const out = tempDir('kdelay-new-probe-');
    execFileSync(zx, [join(ROOT, 'scripts', 'build-probe-folder.mjs'), DIR, out], { cwd: ROOT, stdio: 'ignore' });
    const bundle = join(out, `${NAME}.wasm`);
    expect(existsSync(bundle)).toBe(true);

    // One worker: spins until SIGUSR1 (no sleeping, so no wakeups), then sleeps NANOSLEEPS times.
    workload = await startWorkload('syscall_workload', [1, 0, NANOSLEEPS, 0, 0]);
    const { code, stdout, stderr } = await sampleWorkload(workload, ['--probe', bundle, '--allow-unsigned', '--only', NAME]);
    expect(code, stderr).toBe(0);
    const worker = parseReport(stdout).find((t) => t.name === 'worker-1');
    const section = worker?.sections.get(`${NAME.toUpperCase()} STATISTICS`);
    expect(section?.header, stdout).toEqual(['WAKEUPS']);
    // Each nanosleep ends in exactly one wakeup of the worker.
    expect(Number(section!.rows[0][0])).toBe(NANOSLEEPS);
    expect(await waitUntilNoKdelayPrograms([`${NAME}_`])).toEqual([]);
  });
});
