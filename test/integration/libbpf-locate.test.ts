/**
 * Which libbpf kdelay uses (host/libbpf/locate.ts): the choice as a pure
 * function of what each candidate turned out to be, then the real CLI with
 * libbpfs hidden by bind mounts of /dev/null inside a private mount
 * namespace (`unshare -m`: the machine's own files are never touched).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Candidate, type CandidateFacts, chooseLibbpf, describeChoice, judge, libbpfCandidates, noUsableLibbpf } from '../../host/libbpf/locate.js';
import { PACKAGE_ROOT } from '../../host/package-root.js';
import { requireBpf, skipWithoutBpf, waitUntilNoKdelayPrograms } from '../helpers/bpf.js';
import { hideFilesScript, SHIPPED_LIBBPF, systemLibbpfFiles } from '../helpers/libbpf.js';
import { runKdelay, sampleWorkload, startKdelay } from '../helpers/kdelay.js';
import { labelledRow, parseReport } from '../helpers/report.js';
import { type RunningWorkload, startWorkload } from '../helpers/workloads.js';
import { tempDir } from '../helpers/temp-dirs.js';

const [system1, system0, shipped] = libbpfCandidates({ arch: 'x64', packageRoot: '/opt/kdelay' });
const facts = (candidate: Candidate, more: Partial<CandidateFacts> = {}): CandidateFacts => ({
  candidate,
  missingSymbols: [],
  strictMode: true,
  version: { major: 1, minor: 1 },
  path: `/lib/${candidate.file}`,
  ...more,
});

describe('choosing a libbpf (pure)', () => {
  it('tries the system libbpf.so.1, then .so.0, then the shipped copy for this architecture', () => {
    expect([system1, system0, shipped].map((c) => [c.kind, c.file])).toEqual([
      ['system', 'libbpf.so.1'],
      ['system', 'libbpf.so.0'],
      ['shipped', '/opt/kdelay/vendor/libbpf/x64/libbpf.so.1'],
    ]);
    expect(libbpfCandidates({ arch: 'arm64', packageRoot: '/p' }).at(-1)!.file).toBe('/p/vendor/libbpf/arm64/libbpf.so.1');
  });

  it('$KDELAY_LIBBPF is the only candidate: an explicit choice is never silently replaced', () => {
    expect(libbpfCandidates({ override: '/tmp/libbpf.so.1', arch: 'x64', packageRoot: '/p' })).toEqual([
      { kind: 'override', file: '/tmp/libbpf.so.1', label: '$KDELAY_LIBBPF (/tmp/libbpf.so.1)' },
    ]);
  });

  it('judges each candidate by what it is, not by its file name', () => {
    expect(judge(facts(system1))).toEqual({ usable: true });
    expect(judge(facts(system1, { notFound: true, version: undefined }))).toEqual({ usable: false, reason: 'not installed' });
    expect(judge(facts(shipped, { notFound: true }))).toEqual({ usable: false, reason: 'not found (kdelay ships one for x64 and arm64)' });
    expect(judge(facts(system1, { loadError: '/lib/libbpf.so.1: file too short', version: undefined }))).toEqual({
      usable: false,
      reason: 'cannot be loaded (/lib/libbpf.so.1: file too short)',
    });
    // Ubuntu 22.04's libbpf 0.5: no USDT, no bpf_map_create.
    const missing = ['bpf_map_create', 'bpf_program__attach_usdt', 'libbpf_probe_bpf_prog_type', 'libbpf_probe_bpf_map_type'];
    expect(judge(facts(system0, { version: { major: 0, minor: 5 }, missingSymbols: missing }))).toEqual({
      usable: false,
      reason: 'libbpf 0.5 lacks functions kdelay calls: bpf_map_create, bpf_program__attach_usdt, libbpf_probe_bpf_prog_type, ... (4 in all)',
    });
    // Debian 11's libbpf 0.3 has not even libbpf_major_version().
    expect(judge(facts(system0, { version: undefined, missingSymbols: ['bpf_map_create'], strictMode: false }))).toEqual({
      usable: false,
      reason: 'a libbpf older than 0.6 lacks functions kdelay calls: bpf_map_create',
    });
    expect(judge(facts(system0, { version: undefined })).usable).toBe(false);
    // A 0.8 with every function is usable once switched to 1.0 semantics, which needs libbpf_set_strict_mode().
    expect(judge(facts(system0, { version: { major: 0, minor: 8 } }))).toEqual({ usable: true });
    expect(judge(facts(system0, { version: { major: 0, minor: 8 }, strictMode: false }))).toEqual({
      usable: false,
      reason: 'libbpf 0.8 cannot be switched to libbpf 1.0 semantics (no libbpf_set_strict_mode())',
    });
  });

  it('takes the first usable one, says why each before it was passed over, and examines no further', () => {
    const examined: string[] = [];
    function* lazily(all: CandidateFacts[]) {
      for (const f of all) {
        examined.push(f.candidate.file);
        yield f;
      }
    }
    const choice = chooseLibbpf(
      lazily([
        facts(system1, { notFound: true, path: undefined }),
        facts(system0, { version: { major: 0, minor: 5 }, missingSymbols: ['bpf_map_create'] }),
        facts(shipped, { version: { major: 1, minor: 5 }, path: shipped.file }),
      ]),
    );
    expect(choice.chosen?.candidate).toBe(shipped);
    expect(describeChoice(choice)).toEqual([
      'using libbpf 1.5 from /opt/kdelay/vendor/libbpf/x64/libbpf.so.1: the libbpf shipped with kdelay (vendor/libbpf/x64/libbpf.so.1)',
      'passed over the system libbpf.so.1: not installed',
      'passed over the system libbpf.so.0 at /lib/libbpf.so.0: libbpf 0.5 lacks functions kdelay calls: bpf_map_create',
    ]);

    examined.length = 0;
    const system = chooseLibbpf(lazily([facts(system1), facts(system0), facts(shipped)]));
    expect(system.chosen?.candidate).toBe(system1);
    expect(system.passedOver).toEqual([]);
    expect(examined).toEqual(['libbpf.so.1']);
  });

  it('with none usable: one line, with the remedy that fits what failed', () => {
    const none = chooseLibbpf([
      facts(system1, { notFound: true }),
      facts(system0, { notFound: true }),
      facts(shipped, { loadError: 'libelf.so.1: cannot open shared object file: No such file or directory' }),
    ]);
    expect(none.chosen).toBeUndefined();
    const message = noUsableLibbpf(none.passedOver);
    expect(message).not.toContain('\n');
    expect(message).toBe(
      'no usable libbpf (the system libbpf.so.1: not installed; the system libbpf.so.0: not installed; ' +
        'the libbpf shipped with kdelay (vendor/libbpf/x64/libbpf.so.1): cannot be loaded (libelf.so.1: cannot open shared object file: No such file or directory)); ' +
        'install libelf1 and zlib1g (which the shipped copy needs) or libbpf1',
    );
    expect(noUsableLibbpf(chooseLibbpf([facts(shipped, { loadError: 'file too short' })]).passedOver)).toMatch(
      /; install libbpf 1\.x \(Debian\/Ubuntu: libbpf1\) or set \$KDELAY_LIBBPF to one$/,
    );
  });
});

/** Runs the rest of a command with these files replaced by /dev/null, in a private mount namespace. */
const hiding = (files: string[]) => ['unshare', '-m', 'sh', '-c', `${hideFilesScript(files)} || exit 99; exec "$@"`, 'hide-libbpf'];
const SHIPPED = SHIPPED_LIBBPF;

/** What a one-line error looks like: exactly one line, no stack frames. */
function expectOneLine(stderr: string) {
  expect(stderr.trimEnd().split('\n'), stderr).toHaveLength(1);
  expect(stderr).not.toMatch(/\bat .*\.(m?js|ts):\d+/);
}

/**
 * A Debian 11 userspace to run kdelay in (chroot): glibc 2.31, libstdc++,
 * libelf, zlib and libbpf0 0.3 from pinned .debs (cached), plus this
 * machine's Node (it needs glibc 2.28) and this checkout, bind-mounted.
 */
async function bullseyeUserspace(without: string[] = []): Promise<string> {
  const { BULLSEYE_RUNTIME } = await import(join(PACKAGE_ROOT, 'scripts', 'lib', 'libbpf-pins.mjs'));
  const debArch = process.arch === 'arm64' ? 'arm64' : 'amd64';
  const specs = Object.entries(BULLSEYE_RUNTIME as Record<string, string>)
    .filter(([name]) => !without.includes(name))
    .map(([name, version]) => `${name}:${debArch}=${version}`);
  const script = `
    import { debianApt, CACHE_DIR } from ${JSON.stringify(join(PACKAGE_ROOT, 'scripts', 'lib', 'debian-apt.mjs'))};
    const apt = debianApt();
    const specs = ${JSON.stringify(specs)};
    const get = (spec) => apt.download(spec, CACHE_DIR + '/libbpf/debs');
    let debs;
    try { debs = specs.map(get); } catch { apt.update(); debs = specs.map(get); }
    process.stdout.write(debs.join('\\n'));`;
  const debs = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).split('\n');
  const root = tempDir('kdelay-bullseye-'); // removed by the test once done, else after the file
  for (const deb of debs) execFileSync('dpkg-deb', ['-x', deb, root]);
  for (const dir of ['proc', 'sys', 'dev', 'tmp', 'kdelay', 'usr/bin']) mkdirSync(join(root, dir), { recursive: true });
  writeFileSync(join(root, 'usr', 'bin', 'node'), '');
  return root;
}

/** Runs kdelay (the rest of the command's arguments) inside that userspace, in a private mount namespace. */
function inUserspace(root: string): string[] {
  const mounts = [
    `mount --rbind /proc '${root}/proc'`,
    `mount --rbind /sys '${root}/sys'`,
    `mount --rbind /dev '${root}/dev'`,
    `mount --bind '${process.execPath}' '${root}/usr/bin/node'`,
    `mount --bind '${PACKAGE_ROOT}' '${root}/kdelay'`,
  ]
    .map((m) => `${m} || exit 99; `)
    .join('');
  // "$1" "$2" are the host's node and bin/kdelay.js: replaced by their places in the chroot.
  // A clean environment: this machine's variables name its own files (NODE_EXTRA_CA_CERTS).
  return ['unshare', '-m', 'sh', '-c', `${mounts}shift 2; exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot '${root}' /usr/bin/node /kdelay/bin/kdelay.js "$@"`, 'bullseye'];
}

let workload: RunningWorkload | undefined;
afterEach(async () => {
  await workload?.stop();
  workload = undefined;
});

describe.skipIf(skipWithoutBpf)('the libbpf kdelay runs on (real CLI, libbpfs hidden in a private mount namespace)', () => {
  let systemFiles: string[] = [];
  beforeAll(() => {
    systemFiles = systemLibbpfFiles();
  });

  it('with the system libbpf hidden, it falls back to the shipped copy, says so under -D, and counts exactly', async () => {
    requireBpf();
    workload = await startWorkload('syscall_workload', [2, 500, 0, 3, 0]);
    const { code, stdout, stderr } = await sampleWorkload(workload, ['-D'], { wrapper: hiding(systemFiles) });
    expect(code, stderr).toBe(0);
    const ours = stderr.split('\n').filter((l) => l.startsWith('kdelay: '));
    expect(ours[0]).toBe(`kdelay: using libbpf 1.5 from ${SHIPPED}: the libbpf shipped with kdelay (vendor/libbpf/${process.arch}/libbpf.so.1)`);
    // CI installs libbpf1, hidden here; a machine without one has nothing to hide.
    const systemOne = systemFiles.some((f) => /\/libbpf\.so\.1[.\d]*$/.test(f))
      ? /^kdelay: passed over the system libbpf\.so\.1: cannot be loaded \(\/\S*\/libbpf\.so\.1: file too short\)$/
      : /^kdelay: passed over the system libbpf\.so\.1: not installed$/;
    expect(ours).toContainEqual(expect.stringMatching(systemOne));
    const workers = parseReport(stdout).filter((t) => t.name.startsWith('worker-'));
    expect(workers, stdout).toHaveLength(2);
    for (const worker of workers) {
      const syscalls = worker.sections.get('SYSCALL STATISTICS');
      expect(labelledRow(syscalls, 'getppid')![1], stdout).toBe(500);
      expect(labelledRow(syscalls, 'write')![1], stdout).toBe(3);
    }
    expect(await waitUntilNoKdelayPrograms()).toEqual([]);
  });

  it('on a Debian 11 userspace (glibc 2.31, only libbpf 0.3) passes over the 0.3, takes the shipped copy and counts exactly', async () => {
    requireBpf();
    const root = await bullseyeUserspace();
    try {
      workload = await startWorkload('syscall_workload', [2, 300, 0, 2, 0]);
      const { code, stdout, stderr } = await sampleWorkload(workload, ['-D', '--only', 'syscalls'], { wrapper: inUserspace(root) });
      expect(code, stderr).toBe(0);
      const ours = stderr.split('\n').filter((l) => l.startsWith('kdelay: '));
      expect(ours).toEqual([
        `kdelay: using libbpf 1.5 from /kdelay/vendor/libbpf/${process.arch}/libbpf.so.1: the libbpf shipped with kdelay (vendor/libbpf/${process.arch}/libbpf.so.1)`,
        'kdelay: passed over the system libbpf.so.1: not installed',
        expect.stringMatching(
          /^kdelay: passed over the system libbpf\.so\.0 at \/usr\/lib\/\S+\/libbpf\.so\.0\.3\.0: a libbpf older than 0\.6 lacks functions kdelay calls: \S+, \S+, \S+, \.\.\. \(\d+ in all\)$/,
        ),
      ]);
      const workers = parseReport(stdout).filter((t) => t.name.startsWith('worker-'));
      expect(workers, stdout).toHaveLength(2);
      for (const worker of workers) {
        const syscalls = worker.sections.get('SYSCALL STATISTICS');
        expect(labelledRow(syscalls, 'getppid')![1], stdout).toBe(300);
        expect(labelledRow(syscalls, 'write')![1], stdout).toBe(2);
      }
      expect(await waitUntilNoKdelayPrograms()).toEqual([]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('on a Debian 11 userspace without libelf1, says in one line (exit 72) that the shipped copy needs it', async () => {
    requireBpf();
    const root = await bullseyeUserspace(['libelf1']);
    try {
      const run = await startKdelay(['-p', process.pid], { wrapper: inUserspace(root) }).done;
      expect(run.code, run.stderr).toBe(72);
      expect(run.stdout).toBe('');
      expectOneLine(run.stderr);
      expect(run.stderr).toMatch(
        /^kdelay: BPF is unavailable: no usable libbpf \(the system libbpf\.so\.1: not installed; the system libbpf\.so\.0: cannot be loaded \(libelf\.so\.1: cannot open shared object file: No such file or directory\); the libbpf shipped with kdelay \(vendor\/libbpf\/\w+\/libbpf\.so\.1\): cannot be loaded \(libelf\.so\.1: cannot open shared object file: No such file or directory\)\); install libelf1 and zlib1g \(which the shipped copy needs\) or libbpf1\n$/,
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('with every libbpf hidden, --help and option errors still work, and a run is one line and exit 72', async () => {
    requireBpf();
    expect(existsSync(SHIPPED)).toBe(true);
    const wrapper = hiding([...systemFiles, SHIPPED]);
    const help = await startKdelay(['--help'], { wrapper }).done;
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: kdelay/m);
    expect(help.stderr).toBe('');

    const runHelp = await startKdelay(['run', '--help'], { wrapper }).done;
    expect(runHelp.code).toBe(0);
    expect(runHelp.stdout).toMatch(/^usage: kdelay run/);

    const badOption = await startKdelay(['--sample-count', '-1'], { wrapper }).done;
    expect(badOption.code).toBe(2);
    expectOneLine(badOption.stderr);

    const list = await startKdelay(['probes', 'list'], { wrapper }).done;
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^syscalls /m);

    const run = await startKdelay(['-p', process.pid], { wrapper }).done;
    expect(run.code).toBe(72);
    expect(run.stdout).toBe('');
    expectOneLine(run.stderr);
    expect(run.stderr).toMatch(
      /^kdelay: BPF is unavailable: no usable libbpf \(the system libbpf\.so\.1: cannot be loaded .*; the libbpf shipped with kdelay \(vendor\/libbpf\/.*\): cannot be loaded \(.*file too short\)\); install libbpf 1\.x/,
    );
  });

  it('$KDELAY_LIBBPF picks the library; a broken one is one line and exit 72, with no fallback', async () => {
    requireBpf();
    const forced = await runKdelay(['-p', process.pid, '--sample-time', 0.1, '-D'], { ...process.env, KDELAY_LIBBPF: SHIPPED });
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toContain(`kdelay: using libbpf 1.5 from ${SHIPPED}: $KDELAY_LIBBPF (${SHIPPED})\n`);

    const broken = await runKdelay(['-p', process.pid], { ...process.env, KDELAY_LIBBPF: '/dev/null' });
    expect(broken.code).toBe(72);
    expectOneLine(broken.stderr);
    expect(broken.stderr).toBe(
      'kdelay: BPF is unavailable: no usable libbpf ($KDELAY_LIBBPF (/dev/null): cannot be loaded (file too short)); install libbpf 1.x (Debian/Ubuntu: libbpf1) or set $KDELAY_LIBBPF to one\n',
    );
  });
});
