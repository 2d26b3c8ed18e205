#!/usr/bin/env node
// The kernel matrix's maintenance commands (the test itself: npm run test:kernel-matrix).
//
//   node scripts/kernel-matrix.mjs pin            re-pin test/kernel-matrix/pins.json to what Debian's main
//                                                 suites and the npm registry have now
//   node scripts/kernel-matrix.mjs fetch          download and unpack the pinned assets into the cache
//                                                 (what the test does first; KDELAY_MATRIX_* narrow it)
//   node scripts/kernel-matrix.mjs boot KERNEL ARCH
//                                                 boot one guest (e.g. `boot 5.10 arm64`) and show its
//                                                 console, to debug it (run `npm run build` first)
//   node scripts/kernel-matrix.mjs readme         put kernel-matrix-results/results.md (written by the last
//                                                 test run) into README.md's support table
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { debianApt } from './lib/debian-apt.mjs';
import * as matrix from './lib/kernel-matrix.mjs';
import { LOAD_CONFIGURATIONS, loadArgs } from './lib/kernel-matrix-loads.mjs';

const ROOT = path.join(import.meta.dirname, '..');
const PINS = path.join(ROOT, 'test', 'kernel-matrix', 'pins.json');

function fail(message) {
  console.error(`kernel-matrix: ${message}`);
  process.exit(1);
}

/** The version of NAME:ARCH in SUITE's main component (never -security: those vanish), or undefined. */
function mainSuiteVersion(apt, name, arch, suite) {
  const r = spawnSync('apt-cache', ['madison', `${name}:${arch}`], { env: apt.env, encoding: 'utf8' });
  for (const line of r.stdout.split('\n')) {
    const [pkg, version, source] = line.split('|').map((s) => s?.trim());
    if (pkg && source?.includes(` ${suite}/main `) && source.endsWith(`${arch === 'all' ? '' : arch} Packages`)) return version;
  }
  return undefined;
}

function pin() {
  const pins = matrix.loadPins(PINS);
  const apt = debianApt();
  apt.update({ force: true });
  // NAME, or NAME-<arch> for kernel images: the same version for both architectures.
  const both = (name, suite, perArch = false) => {
    const versions = ['amd64', 'arm64'].map((arch) => mainSuiteVersion(apt, perArch ? `${name}-${arch}` : name, arch, suite));
    if (!versions[0] || versions[0] !== versions[1]) fail(`${name} in ${suite}/main: amd64 ${versions[0]}, arm64 ${versions[1]}; pin by hand`);
    return versions[0];
  };
  for (const k of pins.kernels) {
    const meta = apt.depends(`linux-image-amd64/${k.suite}`).find((d) => d.startsWith('linux-image-'));
    if (!meta) fail(`cannot resolve linux-image-amd64 in ${k.suite}`);
    k.package = meta.replace(/-amd64$/, '');
    k.version = both(k.package, k.suite, true);
  }
  for (const [suite, packages] of Object.entries(pins.userspace)) {
    for (const name of Object.keys(packages)) packages[name] = both(name, suite);
  }
  for (const name of Object.keys(pins.arm64Sysroot.packages)) {
    pins.arm64Sysroot.packages[name] = mainSuiteVersion(apt, name, 'arm64', pins.arm64Sysroot.suite) ?? fail(`${name}:arm64 not in ${pins.arm64Sysroot.suite}/main`);
  }
  const major = pins.node.split('.')[0];
  const nodeVersions = ['x64', 'arm64'].map((arch) => new Set(JSON.parse(spawnSync('npm', ['view', `node-linux-${arch}`, 'versions', '--json'], { encoding: 'utf8' }).stdout)));
  const common = [...nodeVersions[0]].filter((v) => v.startsWith(`${major}.`) && nodeVersions[1].has(v));
  common.sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  pins.node = common.at(-1) ?? fail(`no Node ${major}.x on the npm registry for both x64 and arm64`);
  fs.writeFileSync(PINS, `${JSON.stringify(pins, null, 2)}\n`);
  console.log(`re-pinned ${path.relative(ROOT, PINS)}; run npm run test:kernel-matrix, then commit it`);
}

/** Everything the guests need, into the cache (honours KDELAY_MATRIX_KERNELS/_ARCHES/_USERSPACE). */
function fetchAll() {
  const pins = matrix.loadPins(PINS);
  matrix.fetchGuestAssets(pins, matrix.matrixGuests(pins), ROOT);
  console.log(`cached under ${matrix.MATRIX_CACHE}`);
}

async function boot(kernel, arch) {
  const pins = matrix.loadPins(PINS);
  const kernelPin = pins.kernels.find((k) => k.kernel === kernel) ?? fail(`no kernel ${kernel} in pins.json`);
  if (!matrix.ARCHES[arch]) fail(`arch must be one of ${Object.keys(matrix.ARCHES).join(', ')}`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kdelay-kernel-matrix-'));
  const config = {
    rounds: 4,
    getppids: 7,
    spinMs: 30,
    gapMs: 1000,
    triggerSamples: 2,
    checkTimeoutMs: 120_000,
    loadsTimeoutMs: 360_000,
    loads: LOAD_CONFIGURATIONS.map((c) => ({ name: c.name, needs: c.needs, args: loadArgs(c, '$PID') })),
    allowUnsigned: (await matrix.developmentBuilds(ROOT)).length > 0,
  };
  const layer = matrix.stageRepoLayer({ repoRoot: ROOT, pins, arch, dir: path.join(work, 'repo'), config });
  const repoCpio = matrix.cpioOf(layer, path.join(work, 'repo.cpio'));
  const initrd = matrix.guestInitramfs({ pins, kernelPin, arch, repoCpio, output: path.join(work, 'initrd.cpio') });
  const { vmlinuz } = matrix.kernelAssets(kernelPin, arch);
  const result = await matrix.bootGuest({
    vmlinuz,
    initrd,
    arch,
    timeoutMs: 600_000,
    onLine: (line, ms) => console.log(`[${(ms / 1000).toFixed(1).padStart(6)}] ${line}`),
  });
  fs.rmSync(work, { recursive: true, force: true });
  console.log(`# ${result.timedOut ? 'timed out' : 'powered off'} after ${(result.ms / 1000).toFixed(1)} s`);
}

function readme() {
  const table = fs.readFileSync(path.join(ROOT, 'kernel-matrix-results', 'results.md'), 'utf8').trim();
  const file = path.join(ROOT, 'README.md');
  const text = fs.readFileSync(file, 'utf8');
  const begin = '<!-- kernel-matrix-table: begin -->';
  const end = '<!-- kernel-matrix-table: end -->';
  const at = text.indexOf(begin);
  if (at < 0 || text.indexOf(end) < at) fail(`README.md has no ${begin} ... ${end} block`);
  fs.writeFileSync(file, `${text.slice(0, at + begin.length)}\n${table}\n${text.slice(text.indexOf(end))}`);
  console.log('README.md: support table updated');
}

const [command, ...args] = process.argv.slice(2);
try {
  if (command === 'pin') pin();
  else if (command === 'fetch') fetchAll();
  else if (command === 'boot' && args.length === 2) await boot(args[0], args[1]);
  else if (command === 'readme') readme();
  else fail('usage: kernel-matrix.mjs pin | fetch | boot KERNEL ARCH | readme');
} catch (err) {
  fail(err.message);
}
