/**
 * A probe from outside kdelay: examples/pagefaults, built from its own folder
 * into one bundle at test time, loaded by the unmodified CLI with --probe.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireBpf, skipWithoutBpf, waitUntilNoKdelayPrograms } from './helpers/bpf.js';
import { runKdelay, startKdelay } from './helpers/kdelay.js';
import { parseReport } from './helpers/report.js';
import { type RunningWorkload, startWorkload } from './helpers/workloads.js';

const ROOT = join(import.meta.dirname, '..');
const PAGES = 500;
let bundle: string;
let workload: RunningWorkload | undefined;

beforeAll(() => {
  const out = mkdtempSync(join(tmpdir(), 'kdelay-example-'));
  execFileSync('npx', ['zx', join(ROOT, 'scripts', 'build-probe.mjs'), 'examples/pagefaults', out], { cwd: ROOT, stdio: 'ignore' });
  bundle = join(out, 'pagefaults.wasm');
});
afterEach(async () => {
  await workload?.stop();
  workload = undefined;
});

describe.skipIf(skipWithoutBpf)('a third-party probe', () => {
  it('is listed as coming from its file', async () => {
    const { code, stdout } = await runKdelay(['probes', 'list', '--probe', bundle]);
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^pagefaults +0\\.1\\.0 +${bundle.replace(/[.]/g, '\\.')} +PAGE FAULT STATISTICS$`, 'm'));
  });

  it('adds its own section to the report, with the right numbers', async () => {
    requireBpf();
    workload = await startWorkload('pagefault_workload', [PAGES]);
    const kdelay = startKdelay(['-p', workload.pid, '--sample-time', 30, '--probe', bundle, '--allow-unsigned']);
    await kdelay.waitForOutput(/^# Start sampling/m);
    workload.child.kill('SIGUSR1');
    await workload.waitFor(/^done$/);
    kdelay.child.kill('SIGINT');
    const { code, stdout, stderr } = await kdelay.done;
    expect(code, stderr).toBe(0);
    const toucher = parseReport(stdout).find((t) => t.name === 'toucher');
    const section = toucher?.sections.get('PAGE FAULT STATISTICS');
    expect(section?.header, stdout).toEqual(['FAULTS', 'WRITES']);
    const [faults, writes] = section!.rows[0].map(Number);
    // One write fault per fresh page, plus the few a thread takes anyway (its stack, libc data).
    expect(writes).toBeGreaterThanOrEqual(PAGES);
    expect(faults).toBeGreaterThanOrEqual(writes);
    expect(faults).toBeLessThanOrEqual(PAGES + 20);
    expect(await waitUntilNoKdelayPrograms(['pagefaults_'])).toEqual([]);
  });
});
