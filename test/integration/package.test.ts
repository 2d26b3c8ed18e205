/**
 * The npm package as a user gets it: `npm pack` of this clone, installed
 * with --ignore-scripts into an empty prefix (no devDependencies, no build),
 * then a real sample from the installed copy. The install command is the
 * Containerfile's own, and the installed copy also runs inside a PID
 * namespace of its own with no host /proc (its task iterator, built into
 * dist/kdelay.cjs, finds the kernel's numbers): the layout and the
 * situation of the container image, which cannot be built here (no base
 * image can be downloaded).
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
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
  /^bin\/(kdelay|load-bundle)\.js$/,
  /^bin\/package\.json$/,
  /^dist\/kdelay\.cjs(\.cache)?$/,
  /^dist\/report-loops\.wasm$/,
  /^bundles\/[a-z0-9_-]+\.wasm$/,
  /^keys\/[a-z0-9_-]+\.pub$/,
  /^schema\/kdelay-(output|recording)\.schema\.json$/,
  /^docs\/recording-format\.md$/,
  /^vendor\/libbpf\/(x64|arm64)\/libbpf\.so\.1$/,
  /^vendor\/libbpf\/(LICENSE[\w.-]*|README\.md)$/,
  /^LICENSES\/(README|[\w.-]+\.txt)$/,
  /^dist\/THIRD-PARTY-NOTICES\.txt$/,
  /^kdelay\.1$/,
  /^completions\/(kdelay\.bash|_kdelay)$/,
];

/** Every licence text the package must carry: kdelay's, the BPF C's two, libbpf's own, and the notices of what is bundled. */
const LICENCE_FILES = [
  'LICENSE',
  'LICENSES/README',
  'LICENSES/BSD-2-Clause.txt',
  'LICENSES/LGPL-2.1.txt',
  'vendor/libbpf/LICENSE',
  'vendor/libbpf/LICENSE.BSD-2-Clause',
  'vendor/libbpf/LICENSE.LGPL-2.1',
  'dist/THIRD-PARTY-NOTICES.txt',
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
  it('holds only what runs, what a user reads, and everything that does', () => {
    expect(files.filter((f) => !ALLOWED.some((re) => re.test(f)))).toEqual([]);
    const bundles = readdirSync(join(ROOT, 'bundles'))
      .filter((f) => f.endsWith('.wasm'))
      .map((f) => `bundles/${f}`);
    for (const needed of [
      'bin/kdelay.js',
      'dist/kdelay.cjs',
      'dist/kdelay.cjs.cache',
      'dist/report-loops.wasm',
      'keys/kdelay-release.pub',
      'schema/kdelay-output.schema.json',
      'LICENSE',
      ...bundles,
    ]) {
      expect(files).toContain(needed);
    }
  });

  it('installs with --ignore-scripts and no devDependencies: kdelay plus koffi and its native half, and the demangler', () => {
    const modules = join(prefix, 'lib', 'node_modules', 'kdelay', 'node_modules');
    const installed = readdirSync(modules).flatMap((name) => (name.startsWith('@') ? readdirSync(join(modules, name)).map((n) => `${name}/${n}`) : [name]));
    expect(installed.filter((n) => !n.startsWith('.')).sort()).toEqual([`@koromix/koffi-linux-${process.arch}`, 'gecko-profiler-demangle', 'koffi']);
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

describe("the package's licences and README", () => {
  it('carries the licence text of everything it holds, and says so in package.json', () => {
    for (const file of LICENCE_FILES) expect(files).toContain(file);
    expect(PACKAGE.license).toBe('Apache-2.0 AND (LGPL-2.1-only OR BSD-2-Clause) AND MIT');
    const notices = readFileSync(join(ROOT, 'dist', 'THIRD-PARTY-NOTICES.txt'), 'utf8');
    expect(notices).toMatch(/^commander \d+\.\d+\.\d+ \(MIT\), bundled into dist\/kdelay\.cjs:$/m);
    expect(notices).toContain('Permission is hereby granted, free of charge');
    // Each BPF C file declares the licence LICENSES/ carries, and tells the kernel the matching string.
    for (const probe of readdirSync(join(ROOT, 'probes')).filter((d) => existsSync(join(ROOT, 'probes', d, `${d}.bpf.c`)))) {
      const c = readFileSync(join(ROOT, 'probes', probe, `${probe}.bpf.c`), 'utf8');
      expect(c, probe).toMatch(/^\/[/*] SPDX-License-Identifier: \(LGPL-2\.1 OR BSD-2-Clause\)/);
      expect(c, probe).toContain('char LICENSE[] SEC("license") = "Dual BSD/GPL";');
    }
  });

  it('the packed README has no dead links: files it names are in the package, anchors are its headings, the rest go to the repository', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const anchors = new Set(
      [...readme.matchAll(/^#+ (.*)$/gm)].map((m) =>
        m[1]
          .toLowerCase()
          .replace(/[^\w\- ]/g, '')
          .replace(/ /g, '-'),
      ),
    );
    const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]);
    expect(links.length).toBeGreaterThan(5);
    const repository = 'https://github.com/kdelay/kdelay/';
    const tracked = execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' }).split('\n');
    for (const link of links) {
      if (link.startsWith('#')) expect(anchors, link).toContain(link.slice(1));
      else if (link.startsWith(repository)) {
        const path = link.slice(repository.length).replace(/^(blob|tree)\/main\//, '');
        expect(
          tracked.some((f) => f === path || f.startsWith(`${path}/`)),
          link,
        ).toBe(true);
      } else if (!/^https?:/.test(link)) expect(files, link).toContain(link);
    }
    // Named in the README, shipped or linked: examples/ is not in the package.
    expect(files.some((f) => f.startsWith('examples/'))).toBe(false);
    expect(readme).not.toMatch(/[^/]`examples\/pagefaults` is/);
  });

  it('ships a man page that man renders and completions that bash loads', () => {
    const page = execFileSync('man', ['-l', join(ROOT, 'kdelay.1')], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '100', MAN_KEEP_FORMATTING: '' } });
    expect(page).toMatch(/^NAME\n\s+kdelay - /m);
    for (const usage of ['kdelay [OPTIONS] [PID]', 'kdelay probes list [OPTIONS]', 'kdelay run [OPTIONS] GUEST.wasm [ARGS...]', 'kdelay help [COMMAND | legend]']) {
      expect(page).toContain(usage);
    }
    expect(page).toMatch(/-i, --interval <SECONDS>/);
    const complete = (words: string[]) =>
      execFileSync(
        'bash',
        [
          '-c',
          `source '${join(ROOT, 'completions', 'kdelay.bash')}'; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _kdelay; echo "\${COMPREPLY[*]}"`,
        ],
        {
          encoding: 'utf8',
        },
      ).trim();
    expect(complete(['kdelay', ''])).toBe('probes run serve help');
    expect(complete(['kdelay', 'probes', ''])).toBe('list');
    expect(complete(['kdelay', '--sample-c'])).toBe('--sample-count');
    expect(complete(['kdelay', 'probes', 'list', '--j'])).toBe('--json');
    expect(complete(['kdelay', 'help', ''])).toBe('probes run serve legend');
  });
});

describe('the Containerfile', () => {
  const steps = containerfile();
  const stages = steps.filter((s) => s.instruction === 'FROM');

  it('builds from the repository alone: npm ci && npm pack in a build stage, on a Debian slim pinned by digest', () => {
    const base = steps.find((s) => s.instruction === 'ARG' && s.args.startsWith('BASE='))!.args;
    expect(base).toMatch(/^BASE=docker\.io\/library\/debian:trixie-slim@sha256:[0-9a-f]{64}$/);
    expect(stages.map((s) => s.args)).toEqual(['${BASE} AS build', '${BASE}']);
    const build = steps.slice(steps.indexOf(stages[0]), steps.indexOf(stages[1]));
    expect(build.filter((s) => s.instruction === 'RUN').map((s) => s.args)).toEqual([
      expect.stringContaining('apt-get install -y --no-install-recommends ca-certificates nodejs npm'),
      'npm ci --no-audit --no-fund',
      'npm pack --pack-destination /out',
    ]);
    // The tarball comes from the build stage, not from the clone.
    expect(steps.filter((s) => s.instruction === 'COPY' && s.args.includes('.tgz')).map((s) => s.args)).toEqual(['--from=build /out/kdelay-*.tgz /tmp/']);
  });

  it('runs on a slim Debian with libbpf1 and Node.js 20, and runs kdelay', () => {
    const runtime = steps.slice(steps.indexOf(stages[1]));
    const apt = runtime.find((s) => s.instruction === 'RUN' && s.args.includes('apt-get install'))!.args;
    for (const pkg of ['libbpf1', 'nodejs']) expect(apt).toMatch(new RegExp(`\\b${pkg}\\b`));
    expect(steps.find((s) => s.instruction === 'ENTRYPOINT')?.args).toBe('["kdelay"]');
  });

  it('.containerignore keeps what the build makes, and private keys, out of the build context (.dockerignore is the same file)', () => {
    const ignored = readFileSync(join(ROOT, '.containerignore'), 'utf8').split('\n');
    for (const entry of ['node_modules/', 'dist/', '*.tgz', '*.pem', 'kdelay.1', 'completions/']) expect(ignored).toContain(entry);
    expect(readlinkSync(join(ROOT, '.dockerignore'))).toBe('.containerignore');
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
