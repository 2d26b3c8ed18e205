#!/usr/bin/env node
// npm run build:libbpf: builds the libbpf that ships with kdelay,
// vendor/libbpf/<x64|arm64>/libbpf.so.1, from Debian's libbpf source package,
// for hosts whose own libbpf is missing or older than 1.0 (Debian 11 has 0.3,
// Ubuntu 22.04 0.5). host/libbpf/locate.ts falls back to it.
//
//   node scripts/build-libbpf.mjs           rebuild both and rewrite vendor/libbpf/
//   node scripts/build-libbpf.mjs --check   rebuild into a temporary folder and
//                                           fail unless it equals what is committed
//
// Runs on the oldest userspace kdelay supports: compiled with clang against a
// Debian 11 (bullseye, glibc 2.31) sysroot that is unpacked from .debs into
// the cache (never installed), cross-compiled for arm64 the same way. It links
// dynamically to libc.so.6, libelf.so.1 and libz.so.1 only: Debian's static
// libelf.a is PIE code with local-exec TLS (R_X86_64_TPOFF32 relocations),
// which cannot go into a shared object, and a dynamic libelf keeps getting
// the distribution's security fixes. Byte-reproducible: pinned source and sysroot
// versions (checked by SHA-256), fixed flags, no paths in the output
// (-ffile-prefix-map), SOURCE_DATE_EPOCH from the package's changelog, stripped.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CACHE_DIR, debianApt } from './lib/debian-apt.mjs';
import { LIBBPF, SYSROOT_PACKAGES } from './lib/libbpf-pins.mjs';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const VENDOR_DIR = path.join(ROOT, 'vendor', 'libbpf');
const WORK_DIR = path.join(CACHE_DIR, 'libbpf');

/** node's process.arch -> Debian architecture and clang target. */
export const ARCHES = [
  { node: 'x64', debian: 'amd64', triple: 'x86_64-linux-gnu', loader: 'ld-linux-x86-64.so.2' },
  { node: 'arm64', debian: 'arm64', triple: 'aarch64-linux-gnu', loader: 'ld-linux-aarch64.so.1' },
];

/**
 * What the shipped copy may need at run time: present on every supported
 * host. (On arm64 the stack protector's __stack_chk_guard lives in the
 * dynamic loader, which every dynamically linked program has.)
 */
const ALLOWED_NEEDED = ['libc.so.6', 'libelf.so.1', 'libz.so.1'];
const MAX_GLIBC = [2, 31];

const CFLAGS = [
  '-O2',
  '-g0',
  '-std=gnu89',
  '-Wall',
  '-Wno-unused-command-line-argument',
  // Debian's hardening defaults (dpkg-buildflags, hardening=+all).
  '-fstack-protector-strong',
  '-D_FORTIFY_SOURCE=2',
  '-fstack-clash-protection',
  '-fno-ident',
];
// -z defs: every symbol must resolve against the bullseye sysroot's libc,
// libelf and zlib at link time, so the copy cannot need a newer libelf either.
const LDFLAGS = ['-fuse-ld=lld', '-Wl,-z,defs', '-Wl,-z,relro', '-Wl,-z,now', '-Wl,--as-needed', '-Wl,--build-id=sha1', '-Wl,--hash-style=both'];

function run(args, options = {}) {
  const result = spawnSync(args[0], args.slice(1), { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (result.status !== 0) {
    const detail = `${result.stderr || ''}${result.stdout || ''}`.trim().split('\n').slice(-8).join('\n');
    throw new Error(`${args.join(' ')} failed (exit ${result.status ?? result.signal}):\n${detail}`);
  }
  return result.stdout;
}

const sha256 = (file) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const have = (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

/** clang, lld, llvm-strip, make and dpkg-source; installed with apt when missing (CI runs as root). */
function ensureTools() {
  const needs = { clang: 'clang', 'ld.lld': 'lld', 'llvm-strip': 'llvm', 'llvm-readelf': 'llvm', make: 'make', 'dpkg-source': 'dpkg-dev' };
  const missing = [
    ...new Set(
      Object.entries(needs)
        .filter(([tool]) => !have(tool))
        .map(([, pkg]) => pkg),
    ),
  ];
  if (!missing.length) return;
  if (process.geteuid?.() !== 0) throw new Error(`missing tools; install the Debian packages: ${missing.join(' ')}`);
  console.log(`installing ${missing.join(' ')}`);
  run(['apt-get', 'install', '-y', '-q', '--no-install-recommends', ...missing], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/** Debian's source package, checked against the pinned hashes and unpacked (patches applied). */
function fetchSource(apt) {
  const dir = path.join(WORK_DIR, `source-${LIBBPF.version}`);
  const tree = path.join(dir, `libbpf-${LIBBPF.upstreamVersion}`);
  const complete = () => Object.keys(LIBBPF.files).every((f) => fs.existsSync(path.join(dir, f))) && fs.existsSync(tree);
  if (!complete()) {
    fs.rmSync(dir, { recursive: true, force: true });
    apt.update();
    apt.source(`libbpf=${LIBBPF.version}`, dir);
  }
  for (const [file, expected] of Object.entries(LIBBPF.files)) {
    const actual = sha256(path.join(dir, file));
    if (actual !== expected) throw new Error(`${file}: SHA-256 ${actual}, expected ${expected}`);
  }
  return { dir, tree };
}

/** One architecture's bullseye sysroot, unpacked from pinned .debs. Rebuilt when the package list changes. */
function sysroot(apt, arch) {
  const dir = path.join(WORK_DIR, `sysroot-bullseye-${arch.debian}`);
  const debDir = path.join(WORK_DIR, 'debs');
  const specs = Object.entries(SYSROOT_PACKAGES).map(([name, version]) => `${name}:${arch.debian}=${version}`);
  const stamp = path.join(dir, '.kdelay-packages');
  const debs = specs.map((spec) => {
    try {
      return apt.download(spec, debDir); // the cached .deb when there is one
    } catch {
      apt.update(); // lists missing or too old for this version
      return apt.download(spec, debDir);
    }
  });
  const listing = debs.map((deb) => `${path.basename(deb)} ${sha256(deb)}`).join('\n') + '\n';
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === listing) return { dir, debs };
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const deb of debs) run(['dpkg-deb', '-x', deb, dir]);
  relativizeSymlinks(dir, dir);
  fs.writeFileSync(stamp, listing);
  return { dir, debs };
}

/**
 * Packages link e.g. libz.so -> /lib/x86_64-linux-gnu/libz.so.1.2.11: an
 * absolute target would resolve on the build machine, not in the sysroot.
 */
function relativizeSymlinks(root, dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) relativizeSymlinks(root, file);
    else if (entry.isSymbolicLink()) {
      const target = fs.readlinkSync(file);
      if (!target.startsWith('/')) continue;
      fs.unlinkSync(file);
      fs.symlinkSync(path.relative(dir, path.join(root, target)), file);
    }
  }
}

/** Builds libbpf.so.1 for one architecture into outFile; returns nothing, throws on failure. */
function buildOne(source, arch, root, outFile, epoch) {
  const buildDir = fs.mkdtempSync(path.join(os.tmpdir(), `kdelay-libbpf-${arch.node}-`));
  try {
    // A private copy of the tree: make writes into src/ (libbpf.pc) and the
    // build must not depend on what an earlier build left there.
    const tree = path.join(buildDir, 'libbpf');
    fs.cpSync(source.tree, tree, { recursive: true });
    const objDir = path.join(buildDir, 'obj');
    const cc = ['clang', `--target=${arch.triple}`, `--sysroot=${root}`, `-ffile-prefix-map=${buildDir}=.`, `-ffile-prefix-map=${root}=`].join(' ');
    run(
      [
        'make',
        '-C',
        path.join(tree, 'src'),
        '-j2',
        `OBJDIR=${objDir}`,
        'NO_PKG_CONFIG=1',
        'V=1',
        `CC=${cc}`,
        `CFLAGS=${CFLAGS.join(' ')}`,
        `LDFLAGS=${LDFLAGS.join(' ')}`,
        `${objDir}/libbpf.so.${LIBBPF.upstreamVersion}`,
      ],
      {
        env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch), LC_ALL: 'C', TZ: 'UTC' },
      },
    );
    fs.mkdirSync(path.dirname(outFile), { recursive: true });
    run(['llvm-strip', '--strip-all', '-o', outFile, path.join(objDir, `libbpf.so.${LIBBPF.upstreamVersion}`)]);
    fs.chmodSync(outFile, 0o644);
    verifyLinkage(outFile, arch);
  } finally {
    fs.rmSync(buildDir, { recursive: true, force: true });
  }
}

/** The copy needs only libc/libelf/libz, and nothing newer than GLIBC_2.31. */
function verifyLinkage(file, arch) {
  const dynamic = run(['llvm-readelf', '--dynamic-table', file]);
  const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const allowed = [...ALLOWED_NEEDED, arch.loader];
  const extra = needed.filter((n) => !allowed.includes(n));
  if (extra.length) throw new Error(`${arch.node}: libbpf.so.1 needs ${extra.join(', ')}; only ${allowed.join(', ')} are allowed`);
  const versions = run(['llvm-readelf', '--version-info', file]);
  const glibc = [...versions.matchAll(/GLIBC_(\d+)\.(\d+)(?:\.(\d+))?/g)].map((m) => [Number(m[1]), Number(m[2])]);
  const newest = glibc.reduce((a, b) => (b[0] > a[0] || (b[0] === a[0] && b[1] > a[1]) ? b : a), [0, 0]);
  if (newest[0] > MAX_GLIBC[0] || (newest[0] === MAX_GLIBC[0] && newest[1] > MAX_GLIBC[1])) {
    throw new Error(`${arch.node}: libbpf.so.1 needs GLIBC_${newest.join('.')}, newer than ${MAX_GLIBC.join('.')}`);
  }
  return { needed, newestGlibc: newest.join('.') };
}

/**
 * kdelay's koffi option structs (host/libbpf/structs.ts) against the C
 * compiler's view of the shipped version's own headers: every field kdelay
 * declares must sit where this libbpf expects it. (A newer libbpf may add
 * fields at the end: `sz` tells it how much kdelay passes.)
 */
async function verifyOptsLayouts(source) {
  const { OPTS_STRUCTS } = await import(path.join(ROOT, 'dist', 'host', 'libbpf', 'structs.js'));
  const { default: koffi } = await import('koffi');
  const fields = Object.fromEntries(Object.entries(OPTS_STRUCTS).map(([name, type]) => [name, Object.keys(type.members).filter((f) => !f.startsWith('removed_'))]));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdelay-libbpf-layout-'));
  try {
    const printf = Object.entries(fields).flatMap(([type, names]) => names.map((f) => `printf("${type}.${f} %zu\\n", offsetof(struct ${type}, ${f}));`));
    fs.writeFileSync(
      path.join(dir, 'layout.c'),
      `#include <stddef.h>\n#include <stdio.h>\n#include "libbpf.h"\n#include "bpf.h"\nint main(void) {\n${printf.join('\n')}\nreturn 0; }\n`,
    );
    const src = path.join(source.tree, 'src');
    run(['clang', '-o', path.join(dir, 'layout'), '-I', src, '-I', path.join(source.tree, 'include', 'uapi'), path.join(dir, 'layout.c')]);
    const expected = Object.fromEntries(
      run([path.join(dir, 'layout')])
        .trim()
        .split('\n')
        .map((line) => [line.split(' ')[0], Number(line.split(' ')[1])]),
    );
    for (const [name, names] of Object.entries(fields)) {
      for (const f of names) {
        const ours = koffi.offsetof(OPTS_STRUCTS[name], f);
        if (ours !== expected[`${name}.${f}`]) {
          throw new Error(`host/libbpf/structs.ts: ${name}.${f} is at ${ours}, libbpf ${LIBBPF.upstreamVersion} has it at ${expected[`${name}.${f}`]}`);
        }
      }
    }
    console.log(`koffi option structs match libbpf ${LIBBPF.upstreamVersion}'s headers (${Object.keys(fields).join(', ')})`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Loads the copy on Debian 11's own glibc 2.31, libelf and zlib (the
 * sysroot's dynamic loader, natively for x64, under qemu-aarch64 for arm64
 * when it is installed) and calls into it: the version, and a libelf-backed
 * open of a buffer that is not ELF, which must fail cleanly with
 * LIBBPF_ERRNO__FORMAT. Proves the copy resolves every symbol on the oldest
 * userspace kdelay supports, not just that it links.
 */
const SMOKE_TEST_C = `
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
int main(int argc, char **argv) {
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) { printf("dlopen: %s\\n", dlerror()); return 1; }
  unsigned (*major)(void) = dlsym(lib, "libbpf_major_version");
  unsigned (*minor)(void) = dlsym(lib, "libbpf_minor_version");
  void *(*open_mem)(const void *, size_t, const void *) = dlsym(lib, "bpf_object__open_mem");
  if (!major || !minor || !open_mem) { printf("dlsym failed\\n"); return 1; }
  static const char not_elf[64] = "not an ELF object";
  void *obj = open_mem(not_elf, sizeof(not_elf), NULL);
  printf("libbpf %u.%u, open_mem(not ELF) = %s, errno %d\\n", major(), minor(), obj ? "object" : "NULL", errno);
  return obj != NULL;
}
`;

function smokeTest(file, arch, root) {
  const loader = path.join(root, 'lib', arch.triple, arch.loader);
  let runner;
  if (arch.node === process.arch) runner = [];
  else if (have(`qemu-${arch.triple.split('-')[0]}`)) runner = [`qemu-${arch.triple.split('-')[0]}`];
  else {
    console.log(`  (not run: no qemu-${arch.triple.split('-')[0]} to run ${arch.node} code here)`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdelay-libbpf-smoke-'));
  try {
    fs.writeFileSync(path.join(dir, 'smoke.c'), SMOKE_TEST_C);
    run(['clang', `--target=${arch.triple}`, `--sysroot=${root}`, '-fuse-ld=lld', '-o', path.join(dir, 'smoke'), path.join(dir, 'smoke.c'), '-ldl']);
    const libraryPath = [path.join(root, 'lib', arch.triple), path.join(root, 'usr', 'lib', arch.triple)].join(':');
    const out = run([...runner, loader, '--library-path', libraryPath, path.join(dir, 'smoke'), file]).trim();
    const expected = `libbpf ${LIBBPF.upstreamVersion.split('.').slice(0, 2).join('.')}, open_mem(not ELF) = NULL, errno 4001`;
    if (out !== expected) throw new Error(`${arch.node}: smoke test on Debian 11's glibc printed "${out}", expected "${expected}"`);
    console.log(`  runs on Debian 11's glibc 2.31 (${runner.length ? runner[0] : 'native'}): ${out}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function changelogEpoch(tree) {
  return Number(run(['dpkg-parsechangelog', '-l', path.join(tree, 'debian', 'changelog'), '-STimestamp']).trim());
}

/** libbpf's licence: LICENSE names the choice, the other two are the texts. */
const LICENCE_FILES = ['LICENSE', 'LICENSE.BSD-2-Clause', 'LICENSE.LGPL-2.1'];

/** vendor/libbpf/README.md: what was built from what, so anyone can check it. */
function manifest(source, sysroots, outputs) {
  const lines = [
    '# libbpf shipped with kdelay',
    '',
    'Generated by `npm run build:libbpf` (scripts/build-libbpf.mjs); do not edit.',
    '`npm run check:libbpf` rebuilds both and fails unless they are byte-identical to these files.',
    '',
    'kdelay uses these only when the host has no usable libbpf of its own',
    '(see ARCHITECTURE.md, "Which libbpf"). Licence: LGPL-2.1 OR BSD-2-Clause (libbpf\'s own: LICENSE, LICENSE.BSD-2-Clause, LICENSE.LGPL-2.1 here).',
    '',
    `Source: Debian source package \`libbpf\` ${LIBBPF.version} (libbpf ${LIBBPF.upstreamVersion}, Debian patches applied)`,
    '',
    '| source file | SHA-256 |',
    '| --- | --- |',
    ...Object.keys(LIBBPF.files).map((f) => `| ${f} | ${sha256(path.join(source.dir, f))} |`),
    '',
    `Built with ${run(['clang', '--version']).split('\n')[0]} and ld.lld, flags: \`${CFLAGS.join(' ')}\`, \`${LDFLAGS.join(' ')}\`,`,
    'against a Debian 11 (bullseye) sysroot of these packages:',
    '',
    '| package | SHA-256 |',
    '| --- | --- |',
    ...sysroots.flatMap(({ debs }) => debs.map((deb) => `| ${path.basename(deb)} | ${sha256(deb)} |`)),
    '',
    'Outputs:',
    '',
    '| file | needs | newest glibc symbol | SHA-256 |',
    '| --- | --- | --- | --- |',
    ...outputs.map((o) => `| ${o.name} | ${o.needed.join(', ')} | GLIBC_${o.newestGlibc} | ${o.sha256} |`),
    '',
  ];
  return lines.join('\n');
}

async function main() {
  const check = process.argv.includes('--check');
  ensureTools();
  const apt = debianApt({ withSources: true });
  const source = fetchSource(apt);
  await verifyOptsLayouts(source);
  const epoch = changelogEpoch(source.tree);
  const outDir = check ? fs.mkdtempSync(path.join(os.tmpdir(), 'kdelay-libbpf-check-')) : VENDOR_DIR;
  try {
    const sysroots = [];
    const outputs = [];
    for (const arch of ARCHES) {
      const root = sysroot(apt, arch);
      sysroots.push(root);
      const outFile = path.join(outDir, arch.node, 'libbpf.so.1');
      console.log(`building ${path.relative(outDir, outFile)} (${arch.triple})`);
      buildOne(source, arch, root.dir, outFile, epoch);
      smokeTest(outFile, arch, root.dir);
      outputs.push({ name: `${arch.node}/libbpf.so.1`, sha256: sha256(outFile), ...verifyLinkage(outFile, arch) });
    }
    fs.writeFileSync(path.join(outDir, 'README.md'), manifest(source, sysroots, outputs));
    // libbpf's licence texts travel with the binaries built from it (LGPL-2.1 OR BSD-2-Clause).
    for (const name of LICENCE_FILES) fs.copyFileSync(path.join(source.tree, name), path.join(outDir, name));
    if (!check) {
      for (const o of outputs) console.log(`${o.sha256}  vendor/libbpf/${o.name}`);
      return 0;
    }
    const problems = [];
    for (const name of ['README.md', ...LICENCE_FILES, ...outputs.map((o) => o.name)]) {
      const committed = path.join(VENDOR_DIR, name);
      if (!fs.existsSync(committed)) problems.push(`vendor/libbpf/${name} is missing`);
      else if (!fs.readFileSync(committed).equals(fs.readFileSync(path.join(outDir, name)))) problems.push(`vendor/libbpf/${name} differs from a fresh build`);
      else console.log(`ok vendor/libbpf/${name}`);
    }
    for (const p of problems) console.log(p);
    if (problems.length) console.log("run 'npm run build:libbpf' and commit vendor/libbpf/");
    return problems.length ? 1 : 0;
  } finally {
    if (check) fs.rmSync(outDir, { recursive: true, force: true });
  }
}

try {
  process.exitCode = await main();
} catch (err) {
  console.error(`build-libbpf: ${err.message}`);
  process.exitCode = 1;
}
