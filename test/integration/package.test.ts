/**
 * The npm package as a user gets it: `npm pack` of this clone, installed
 * with --ignore-scripts into an empty prefix (no devDependencies, no build),
 * then a real sample from the installed copy. The install command is the
 * Containerfile's own, and the installed copy also runs inside a PID
 * namespace of its own with no host /proc (its task iterator, built into
 * dist/kdelay.mjs, finds the kernel's numbers): the layout and the
 * situation of the container image, which cannot be built here (no base
 * image can be downloaded).
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBpf, skipWithoutBpf } from '../helpers/bpf.js';
import { runKdelay, sampleWorkload } from '../helpers/kdelay.js';
import { createPidNamespace, type PidNamespace, sampleInNamespace } from '../helpers/pid-namespace.js';
import { labelledRow, parseReport } from '../helpers/report.js';
import { type RunningWorkload, startWorkload } from '../helpers/workloads.js';
import { tempDir } from '../helpers/temp-dirs.js';

const ROOT = join(import.meta.dirname, '..', '..');
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

/** What may be in the tarball: what runs, and what a user reads. Nothing else (no sources, tests, scripts). */
const ALLOWED = [
  /^package\.json$/,
  /^README\.md$/,
  /^LICENSE$/,
  /^bin\/kdelay\.js$/,
  /^dist\/kdelay\.mjs$/,
  /^dist\/report-loops\.wasm$/,
  /^bundles\/[a-z0-9_-]+\.wasm$/,
  /^keys\/[a-z0-9_-]+\.pub$/,
  /^schema\/kdelay-output\.schema\.json$/,
  /^vendor\/libbpf\/(x64|arm64)\/libbpf\.so\.1$/,
  /^vendor\/libbpf\/(LICENSE[\w.-]*|README\.md)$/,
];

/** The Containerfile's instructions, continuation lines joined. */
function containerfile(): { instruction: string; args: string }[] {
  const text = readFileSync(join(ROOT, 'Containerfile'), 'utf8').replace(/\\\n/g, ' ');
  return text
    .split('\n')
    .filter((l) => l.trim() && !l.trimStart().startsWith('#'))
    .map((l) => {
      const [, instruction, args] = /^\s*([A-Z]+)\s+(.*)$/.exec(l)!;
      return { instruction, args: args.replace(/\s+/g, ' ').trim() };
    });
}

let work: string;
let tarball: string;
let files: string[];
let prefix: string;
let installedBin: string;

// Asynchronous: packing (a full build) and installing take long enough that a blocked event loop upsets vitest.
const run = promisify(execFile);

beforeAll(async () => {
  work = tempDir('kdelay-pack-');
  // npm pack runs prepack (the build) first, as from a clean clone.
  const [packed] = JSON.parse((await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8' })).stdout);
  tarball = join(work, packed.filename);
  files = packed.files.map((f: { path: string }) => f.path).sort();
  // Install exactly as the Containerfile does, into an empty prefix instead of /usr/local.
  const step = containerfile().find((i) => i.instruction === 'RUN' && i.args.includes('npm install'))!;
  const install = step.args.split(' && ').find((command) => command.startsWith('npm install'))!;
  prefix = join(work, 'prefix');
  await run('sh', ['-c', `${install.replace('/tmp/kdelay-*.tgz', tarball)} --prefix ${prefix}`]);
  installedBin = join(prefix, 'bin', 'kdelay');
}, 300_000);

afterAll(() => {
  if (work) execFileSync('rm', ['-rf', work]);
});

describe('the npm package', () => {
  it('holds only what runs, and everything that does', () => {
    expect(files.filter((f) => !ALLOWED.some((re) => re.test(f)))).toEqual([]);
    const bundles = readdirSync(join(ROOT, 'bundles'))
      .filter((f) => f.endsWith('.wasm'))
      .map((f) => `bundles/${f}`);
    for (const needed of ['bin/kdelay.js', 'dist/kdelay.mjs', 'dist/report-loops.wasm', 'keys/kdelay-release.pub', 'schema/kdelay-output.schema.json', 'LICENSE', ...bundles]) {
      expect(files).toContain(needed);
    }
  });

  it('installs with --ignore-scripts and no devDependencies: kdelay plus koffi and its native half', () => {
    const modules = join(prefix, 'lib', 'node_modules', 'kdelay', 'node_modules');
    const installed = readdirSync(modules).flatMap((name) => (name.startsWith('@') ? readdirSync(join(modules, name)).map((n) => `${name}/${n}`) : [name]));
    expect(installed.filter((n) => !n.startsWith('.')).sort()).toEqual([`@koromix/koffi-linux-${process.arch}`, 'koffi']);
  });

  it('the installed command answers --version from package.json', async () => {
    const { code, stdout } = await runKdelay(['--version'], undefined, { bin: installedBin });
    expect(code).toBe(0);
    expect(stdout).toBe(`kdelay ${PACKAGE.version}\n`);
    expect(PACKAGE.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('npx --package TARBALL runs it too', async () => {
    const { stdout } = await run('npx', ['--yes', '--package', tarball, 'kdelay', '--version'], { cwd: work, encoding: 'utf8' });
    expect(stdout).toBe(`kdelay ${PACKAGE.version}\n`);
  });
});

describe('the Containerfile', () => {
  const steps = containerfile();

  it('builds on a slim Debian with libbpf1 and Node.js 20, from the packed tarball, and runs kdelay', () => {
    expect(steps[0]).toEqual({ instruction: 'FROM', args: expect.stringMatching(/^docker\.io\/library\/debian:trixie-slim$/) });
    const apt = steps.find((s) => s.instruction === 'RUN' && s.args.includes('apt-get install'))!.args;
    for (const pkg of ['libbpf1', 'nodejs']) expect(apt).toMatch(new RegExp(`\\b${pkg}\\b`));
    expect(steps.find((s) => s.instruction === 'ENTRYPOINT')?.args).toBe('["kdelay"]');
  });

  it('copies only what npm pack makes (and nothing from the clone that the package leaves out)', () => {
    const sources = steps.filter((s) => s.instruction === 'COPY').flatMap((s) => s.args.split(' ').slice(0, -1));
    expect(sources).toEqual(['kdelay-*.tgz']);
    const pattern = new RegExp(`^${sources[0].replace('.', '\\.').replace('*', '.*')}$`);
    expect(readdirSync(work).filter((f) => pattern.test(f))).toEqual([`kdelay-${PACKAGE.version}.tgz`]);
  });
});

let workload: RunningWorkload | undefined;
let namespace: PidNamespace | undefined;

describe.skipIf(skipWithoutBpf)('the installed package on the real kernel', () => {
  afterAll(async () => {
    await workload?.stop();
    await namespace?.close();
  });

  it('samples a workload: exact syscall counts', async () => {
    requireBpf();
    workload = await startWorkload('syscall_workload', [2, 400, 0, 4, 0]);
    const { code, stdout, stderr } = await sampleWorkload(workload, [], { bin: installedBin });
    await workload.stop();
    workload = undefined;
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const workers = parseReport(stdout).filter((t) => t.name.startsWith('worker-'));
    expect(workers, stdout).toHaveLength(2);
    for (const w of workers) {
      expect(labelledRow(w.sections.get('SYSCALL STATISTICS'), 'getppid')![1], stdout).toBe(400);
      expect(labelledRow(w.sections.get('SYSCALL STATISTICS'), 'write')![1], stdout).toBe(4);
    }
  });

  it('--json from the installed copy: every line matches the schema it ships', async () => {
    requireBpf();
    const { code, stdout } = await runKdelay(['-p', process.pid, '--sample-time', 0.2, '--json'], undefined, { bin: installedBin });
    expect(code).toBe(0);
    // The first line says the window is open (window_open); the sample follows.
    const sample = stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .find((r) => r.type === 'sample');
    expect(sample).toMatchObject({ schema: 1, type: 'sample', data: { pid: process.pid, interrupted: false } });
    expect(readFileSync(join(prefix, 'lib', 'node_modules', 'kdelay', 'schema', 'kdelay-output.schema.json'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'schema', 'kdelay-output.schema.json'), 'utf8'),
    );
  });

  it("as in a container: in a PID namespace of its own, no host /proc, the namespace's numbers", async () => {
    requireBpf();
    namespace = await createPidNamespace();
    const env = { ...process.env };
    delete env.KDELAY_HOST_PROC;
    workload = await startWorkload('syscall_workload', [1, 250, 0, 2, 0], { wrapper: namespace.enter });
    const { code, stdout, stderr } = await sampleInNamespace(namespace, workload, { bin: installedBin, env });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const [worker] = parseReport(stdout).filter((t) => t.name === 'worker-1');
    expect(worker.tid, stdout).toBeLessThan(10); // the namespace's number, not the host's
    expect(labelledRow(worker.sections.get('SYSCALL STATISTICS'), 'getppid')![1], stdout).toBe(250);
    expect(labelledRow(worker.sections.get('SYSCALL STATISTICS'), 'write')![1], stdout).toBe(2);
  });
});
