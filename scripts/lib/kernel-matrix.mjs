// The kernel matrix's downloads and guest images (npm run test:kernel-matrix).
//
// Everything comes pinned from test/kernel-matrix/pins.json and is kept under
// CACHE_DIR/kernel-matrix/ (see debian-apt.mjs), each piece in its own folder
// that is only renamed into place once complete, so an interrupted run never
// leaves a half-unpacked piece that a later run would trust:
//   debs/<arch>/            .deb files as downloaded
//   kernel/<version>_<arch>/  vmlinuz, modules/*.ko (openvswitch and what it needs), modules/load-order
//   userspace/<suite>_<arch>/ the guest's root: libc, libstdc++, libelf, libbpf, busybox, Node
//   npm/                    npm pack tarballs (Node builds, koffi prebuilts)
//   koffi/<package>-<version>/ koffi's prebuilt addon for a guest architecture, unpacked
//   sysroot/arm64/          Debian's arm64 libc6-dev & co., to cross-build workloads with clang
//   cpio/                   the guest image layers that do not depend on the repository
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CACHE_DIR, debianApt } from './debian-apt.mjs';

export const MATRIX_CACHE = path.join(CACHE_DIR, 'kernel-matrix');
export const REPIN_HINT = 'node scripts/kernel-matrix.mjs pin (then commit test/kernel-matrix/pins.json)';

/** What differs between the guest architectures. */
export const ARCHES = {
  amd64: {
    node: 'x64',
    triplet: 'x86_64-linux-gnu',
    qemu: ['qemu-system-x86_64', '-accel', 'tcg', '-cpu', 'max'],
    console: 'ttyS0',
  },
  arm64: {
    node: 'arm64',
    triplet: 'aarch64-linux-gnu',
    qemu: ['qemu-system-aarch64', '-accel', 'tcg', '-machine', 'virt', '-cpu', 'max'],
    console: 'ttyAMA0',
  },
};

export function loadPins(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/**
 * The guests a run boots: every pinned kernel on every architecture, narrowed
 * by KDELAY_MATRIX_KERNELS (e.g. "5.10,6.1") and KDELAY_MATRIX_ARCHES
 * ("arm64"); KDELAY_MATRIX_USERSPACE=bookworm puts all of them on that
 * userspace (e.g. to see what the 5.10 kernels accept while bullseye's libbpf
 * 0.3 stops kdelay before it loads anything).
 */
export function matrixGuests(pins, env = process.env) {
  const arches = (env.KDELAY_MATRIX_ARCHES || Object.keys(ARCHES).join(',')).split(',');
  const kernels = (env.KDELAY_MATRIX_KERNELS || pins.kernels.map((k) => k.kernel).join(',')).split(',');
  for (const arch of arches) if (!ARCHES[arch]) throw new Error(`KDELAY_MATRIX_ARCHES: no architecture ${arch} (${Object.keys(ARCHES).join(', ')})`);
  for (const kernel of kernels) if (!pins.kernels.some((k) => k.kernel === kernel)) throw new Error(`KDELAY_MATRIX_KERNELS: no kernel ${kernel} in pins.json`);
  return pins.kernels
    .filter((k) => kernels.includes(k.kernel))
    .map((k) => (env.KDELAY_MATRIX_USERSPACE ? { ...k, userspace: env.KDELAY_MATRIX_USERSPACE } : k))
    .flatMap((k) => arches.map((arch) => ({ name: `${k.kernel} ${arch}`, kernel: k, arch })));
}

/** Downloads and unpacks what the guests need (kernels, userspaces, Node, koffi, the arm64 sysroot). */
export function fetchGuestAssets(pins, guests, repoRoot) {
  for (const guest of guests) {
    kernelAssets(guest.kernel, guest.arch);
    userspaceRoot(pins, guest.kernel.userspace, guest.arch);
    koffiPrebuilt(repoRoot, guest.arch);
    if (guest.arch === 'arm64') arm64Sysroot(pins);
  }
}

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 << 20, ...opts });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr || '').trim().split('\n').slice(-3).join(' | ')}`);
  }
  return r.stdout;
}

/**
 * Builds `dir` with fill(tmpDir) unless it is already there. The rename at
 * the end is what marks it complete.
 */
function cachedDir(dir, fill) {
  if (fs.existsSync(dir)) return dir;
  const tmp = `${dir}.partial-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  try {
    fill(tmp);
    fs.renameSync(tmp, dir);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    // Another run (another clone's CI, a helper) may have finished the same piece first.
    if (!fs.existsSync(dir)) throw err;
  }
  return dir;
}

let apt;
let aptRefreshed = false;

/**
 * NAME=VERSION for ARCH as a .deb in the cache. The apt lists are refreshed
 * only when a pinned package is not in the cache yet (and once more if the
 * lists do not know the version); a version the mirror no longer has is an
 * error that says how to re-pin.
 */
export function debianPackage(name, version, arch) {
  const dest = path.join(MATRIX_CACHE, 'debs', arch);
  // apt-get download keeps an epoch in the file name, as %3a ("zlib1g_1%3a1.2.13.dfsg-1_amd64.deb").
  const names = [`${name}_${version.replace(/:/g, '%3a')}`, `${name}_${version.replace(/^\d+:/, '')}`].flatMap((n) => [`${n}_${arch}.deb`, `${n}_all.deb`]);
  const cached = fs.existsSync(dest) && fs.readdirSync(dest).find((f) => names.includes(f));
  if (cached) return path.join(dest, cached);
  apt ??= debianApt();
  apt.update();
  const spec = `${name}:${arch}=${version}`;
  try {
    return apt.download(spec, dest);
  } catch (first) {
    if (!aptRefreshed) {
      aptRefreshed = true;
      apt.update({ force: true });
      try {
        return apt.download(spec, dest);
      } catch {
        // fall through to the explanation
      }
    }
    throw new Error(
      `pinned Debian package ${name} ${version} (${arch}) cannot be downloaded: ${first.message.split('\n')[0]}. ` + `If the mirror no longer has it, re-pin: ${REPIN_HINT}`,
      { cause: first },
    );
  }
}

/** Extracts members of a .deb's data (tar wildcards; all when none) into dir. */
function unpackDeb(deb, dir, members = []) {
  fs.mkdirSync(dir, { recursive: true });
  const tar = members.length ? ['--wildcards', '--no-anchored', ...members] : [];
  execFileSync('sh', ['-c', 'deb=$1 dir=$2; shift 2; dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir" "$@"', 'sh', deb, dir, ...tar], { stdio: ['ignore', 'ignore', 'pipe'] });
}

function decompressModule(file) {
  if (file.endsWith('.xz')) sh('xz', ['-d', '-f', file]);
  else if (file.endsWith('.zst')) sh('zstd', ['-d', '-q', '--rm', '-f', file]);
  else if (file.endsWith('.gz')) sh('gzip', ['-d', '-f', file]);
  return file.replace(/\.(xz|zst|gz)$/, '');
}

/** One .modinfo field of a module ("depends", "softdep", "alias", ...): every value it has. */
export function modinfo(koFile, field) {
  const bytes = fs.readFileSync(koFile);
  const values = [];
  const key = `\0${field}=`;
  for (let at = bytes.indexOf(key); at >= 0; at = bytes.indexOf(key, at + 1)) {
    const start = at + key.length;
    values.push(bytes.subarray(start, bytes.indexOf(0, start)).toString('latin1'));
  }
  return values;
}

/**
 * What must be loaded before a module: its `depends=` (symbols it uses) and
 * its `softdep=pre:` (e.g. libcrc32c needs the crc32c crypto driver, or its
 * init fails), by name or alias.
 */
export function moduleNeeds(koFile) {
  const depends = modinfo(koFile, 'depends').flatMap((d) => (d ? d.split(',') : []));
  const soft = modinfo(koFile, 'softdep').flatMap((d) => /pre:\s*([^:]*?)(?:\s+post:|$)/.exec(d)?.[1].trim().split(/\s+/) ?? []);
  return [...depends, ...soft.filter(Boolean)];
}

/**
 * A pinned kernel for ARCH: its vmlinuz, and `wanted` modules with every
 * module they depend on (read from each .ko's modinfo: the .deb has no
 * modules.dep, depmod makes it at install), decompressed, with the order to
 * insmod them in.
 */
export function kernelAssets(pin, arch, wanted = ['openvswitch']) {
  const dir = path.join(MATRIX_CACHE, 'kernel', `${pin.version}_${arch}`);
  cachedDir(dir, (tmp) => {
    const deb = debianPackage(`${pin.package}-${arch === 'amd64' ? 'amd64' : 'arm64'}`, pin.version, arch);
    const raw = path.join(tmp, 'raw');
    // Networking, lib/ and crypto/ modules cover openvswitch's dependencies (netfilter, nsh, libcrc32c and its crc32c, ...).
    unpackDeb(deb, raw, ['./boot/vmlinuz-*', '*/kernel/net/*', '*/kernel/lib/*', '*/kernel/crypto/*', '*/kernel/arch/*/crypto/*', '*/modules.builtin']);
    const [vmlinuz] = fs.readdirSync(path.join(raw, 'boot'));
    fs.renameSync(path.join(raw, 'boot', vmlinuz), path.join(tmp, 'vmlinuz'));
    const byName = new Map();
    for (const file of fs.readdirSync(raw, { recursive: true })) {
      const m = /([^/]+)\.ko(\.(xz|zst|gz))?$/.exec(file);
      if (m) byName.set(m[1].replace(/-/g, '_'), path.join(raw, file));
    }
    const modules = path.join(tmp, 'modules');
    fs.mkdirSync(modules);
    const order = [];
    const builtin = new Set(
      fs
        .readdirSync(raw, { recursive: true })
        .filter((f) => f.endsWith('modules.builtin'))
        .flatMap((f) =>
          fs
            .readFileSync(path.join(raw, f), 'utf8')
            .split('\n')
            .map((l) => path.basename(l).replace(/\.ko$/, '').replace(/-/g, '_')),
        ),
    );
    /** A module file by name, or by alias (softdeps name crypto algorithms: "crc32c" is crc32c_generic). */
    const find = (name) => {
      const wanted = name.replace(/-/g, '_');
      if (byName.has(wanted)) return [wanted, byName.get(wanted)];
      for (const [candidate, file] of byName) {
        if (!candidate.startsWith(wanted)) continue;
        const ko = decompressModule(file);
        byName.set(candidate, ko);
        const aliases = modinfo(ko, 'alias');
        if (aliases.includes(name) || aliases.includes(`crypto-${name}`)) return [candidate, ko];
      }
      return [wanted, undefined];
    };
    const visit = (name, chain) => {
      const [module, source] = find(name);
      if (order.includes(module) || builtin.has(module)) return;
      if (!source) throw new Error(`kernel ${pin.version} ${arch}: module ${name} (needed by ${chain.join(' <- ')}) is not in the package's net/, lib/ or crypto/`);
      const copy = path.join(modules, path.basename(source));
      fs.copyFileSync(source, copy);
      const ko = decompressModule(copy);
      for (const dep of moduleNeeds(ko)) visit(dep, [module, ...chain]);
      byName.set(module, ko);
      order.push(module);
    };
    for (const name of wanted) visit(name, []);
    fs.writeFileSync(path.join(modules, 'load-order'), order.map((n) => `${path.basename(byName.get(n))}\n`).join(''));
    fs.rmSync(raw, { recursive: true });
  });
  return { vmlinuz: path.join(dir, 'vmlinuz'), modules: path.join(dir, 'modules') };
}

/** `npm pack SPEC` into the cache; returns the tarball. */
function npmPack(spec) {
  const dir = path.join(MATRIX_CACHE, 'npm');
  fs.mkdirSync(dir, { recursive: true });
  const expected = `${spec
    .replace(/^@/, '')
    .replace('/', '-')
    .replace(/@(?=[^@]*$)/, '-')}.tgz`;
  const file = path.join(dir, expected);
  if (fs.existsSync(file)) return file;
  sh('npm', ['pack', spec, '--pack-destination', dir, '--silent']);
  if (!fs.existsSync(file)) throw new Error(`npm pack ${spec} did not produce ${expected}`);
  return file;
}

/**
 * The guest's root file system without the repository: a Debian userspace
 * (pins.userspace[suite]) for ARCH, busybox, and Node for ARCH.
 */
export function userspaceRoot(pins, suite, arch) {
  const packages = pins.userspace[suite];
  if (!packages) throw new Error(`pins.json has no userspace "${suite}"`);
  const key = createHash('sha256')
    .update(JSON.stringify([packages, pins.node]))
    .digest('hex')
    .slice(0, 12);
  return cachedDir(path.join(MATRIX_CACHE, 'userspace', `${suite}_${arch}_${key}`), (root) => {
    for (const [name, version] of Object.entries(packages)) {
      unpackDeb(debianPackage(name, version, arch), root);
    }
    // Only what the guest runs: drop documentation, locales and the like.
    for (const junk of ['usr/share', 'usr/lib/gcc', 'etc/init.d', 'usr/lib/tmpfiles.d']) fs.rmSync(path.join(root, junk), { recursive: true, force: true });
    const nodeTgz = npmPack(`node-linux-${ARCHES[arch].node}@${pins.node}`);
    fs.mkdirSync(path.join(root, 'usr/local/bin'), { recursive: true });
    sh('tar', ['-x', '-z', '-f', nodeTgz, '-C', path.join(root, 'usr/local/bin'), '--strip-components=2', 'package/bin/node']);
    for (const dir of ['proc', 'sys', 'dev', 'tmp', 'run', 'root']) fs.mkdirSync(path.join(root, dir), { recursive: true });
    // The kernel opens /dev/console for /init before anything is mounted.
    sh('mknod', ['-m', '600', path.join(root, 'dev', 'console'), 'c', '5', '1']);
    fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
  });
}

/** koffi's prebuilt addon for ARCH, at the version package-lock.json has (its folder under node_modules/@koromix/). */
export function koffiPrebuilt(repoRoot, arch) {
  const lock = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8'));
  const version = lock.packages['node_modules/koffi'].version;
  const name = `koffi-linux-${ARCHES[arch].node}`;
  return cachedDir(path.join(MATRIX_CACHE, 'koffi', `${name}-${version}`), (dir) => {
    sh('tar', ['-x', '-z', '-f', npmPack(`@koromix/${name}@${version}`), '-C', dir, '--strip-components=1']);
  });
}

/** Debian's arm64 C library and headers for `clang --target=aarch64-linux-gnu --sysroot=...`. */
export function arm64Sysroot(pins) {
  const { packages } = pins.arm64Sysroot;
  const key = createHash('sha256').update(JSON.stringify(packages)).digest('hex').slice(0, 12);
  return cachedDir(path.join(MATRIX_CACHE, 'sysroot', `arm64_${key}`), (root) => {
    for (const [name, version] of Object.entries(packages)) unpackDeb(debianPackage(name, version, 'arm64'), root);
  });
}

/** Compiles a test workload statically for ARCH (gcc for amd64 on amd64, clang + the arm64 sysroot otherwise). */
export function buildStaticWorkload(source, output, arch, pins) {
  fs.mkdirSync(path.dirname(output), { recursive: true });
  const common = ['-O2', '-g', '-fno-omit-frame-pointer', '-pthread', '-Wall', '-Werror', '-static', '-o', output, source];
  if (arch === 'amd64' && process.arch === 'x64') sh('gcc', common);
  else if (arch === 'arm64') sh('clang', ['--target=aarch64-linux-gnu', `--sysroot=${arm64Sysroot(pins)}`, '-fuse-ld=lld', ...common]);
  else throw new Error(`cannot build ${arch} workloads on ${process.arch}`);
  return output;
}

/** A newc cpio archive of dir (owned by root), written to file. */
export function cpioOf(dir, file) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.partial-${process.pid}`;
  execFileSync('sh', ['-c', 'cd "$0" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 > "$1"', dir, tmp]);
  fs.renameSync(tmp, file);
  return file;
}

/** A cpio of dir cached under cpio/NAME (made once). */
export function cachedCpio(name, dir) {
  const file = path.join(MATRIX_CACHE, 'cpio', `${name}.cpio`);
  return fs.existsSync(file) ? file : cpioOf(dir, file);
}

/** Copies what Node loads of the koffi package (its JavaScript and package.json; not its C++ sources). */
function copyKoffiJs(from, to) {
  for (const file of fs.readdirSync(from, { recursive: true })) {
    if (/^(vendor|doc|lib)\//.test(file) || !/\.(m?js|cjs|json)$/.test(file)) continue;
    fs.mkdirSync(path.dirname(path.join(to, file)), { recursive: true });
    fs.copyFileSync(path.join(from, file), path.join(to, file));
  }
}

/**
 * The built-in bundles that carry a digest only (no release signature):
 * this checkout's own development builds (npm run build:probes without the
 * release key; host/driver/development-builds.ts). A guest has no sources to
 * match them against, so its kdelay runs with --allow-unsigned when there
 * are any; a bundle that is unsigned and not this checkout's fresh build is
 * an error. Reads tsc's dist/host/ (npm run build).
 */
export async function developmentBuilds(repoRoot) {
  const dist = path.join(repoRoot, 'dist', 'host');
  const { splitSeal, sha256Hex } = await import(path.join(dist, 'bundle', 'seal.js'));
  const { whyNotDevelopmentBuild } = await import(path.join(dist, 'driver', 'development-builds.js'));
  const names = [];
  for (const file of fs
    .readdirSync(path.join(repoRoot, 'bundles'))
    .filter((f) => f.endsWith('.wasm'))
    .sort()) {
    const { body, seal } = splitSeal(fs.readFileSync(path.join(repoRoot, 'bundles', file)));
    if (seal?.signature !== undefined) continue;
    const name = file.replace(/\.wasm$/, '');
    const why = whyNotDevelopmentBuild(repoRoot, name, sha256Hex(body));
    if (why) throw new Error(`bundles/${file} is unsigned and not a development build of this checkout: ${why}`);
    names.push(name);
  }
  return names;
}

/**
 * The guest's repository layer for ARCH, staged in dir: kdelay as a user
 * would install it (bin/, dist/ from `npm run build`, bundles/, keys/,
 * vendor/ if there is one, koffi with ARCH's prebuilt, the demangler), /init, and the
 * guest-side checks with the workload built for ARCH.
 */
export function stageRepoLayer({ repoRoot, pins, arch, dir, config }) {
  fs.rmSync(dir, { recursive: true, force: true });
  const kdelay = path.join(dir, 'kdelay');
  for (const part of ['bin', 'bundles', 'keys', 'vendor']) {
    if (fs.existsSync(path.join(repoRoot, part))) fs.cpSync(path.join(repoRoot, part), path.join(kdelay, part), { recursive: true });
  }
  for (const file of ['package.json', 'dist/kdelay.cjs', 'dist/kdelay.cjs.cache', 'dist/report-loops.wasm']) {
    if (!fs.existsSync(path.join(repoRoot, file))) throw new Error(`${file} is missing: run npm run build first`);
    fs.mkdirSync(path.dirname(path.join(kdelay, file)), { recursive: true });
    fs.copyFileSync(path.join(repoRoot, file), path.join(kdelay, file));
  }
  copyKoffiJs(path.join(repoRoot, 'node_modules', 'koffi'), path.join(kdelay, 'node_modules', 'koffi'));
  fs.cpSync(koffiPrebuilt(repoRoot, arch), path.join(kdelay, 'node_modules', '@koromix', `koffi-linux-${ARCHES[arch].node}`), { recursive: true });
  // The demangler (host/symbols/demangle.ts) is a runtime dependency the CLI bundle requires, as npm installs it: wasm, no native code.
  fs.cpSync(path.join(repoRoot, 'node_modules', 'gecko-profiler-demangle'), path.join(kdelay, 'node_modules', 'gecko-profiler-demangle'), { recursive: true });

  const guest = path.join(repoRoot, 'test', 'kernel-matrix', 'guest');
  fs.copyFileSync(path.join(guest, 'init'), path.join(dir, 'init'));
  fs.chmodSync(path.join(dir, 'init'), 0o755);
  fs.mkdirSync(path.join(dir, 'matrix'));
  fs.copyFileSync(path.join(guest, 'checks.mjs'), path.join(dir, 'matrix', 'checks.mjs'));
  fs.writeFileSync(path.join(dir, 'matrix', 'config.json'), JSON.stringify(config));
  buildStaticWorkload(path.join(repoRoot, 'test', 'workloads', 'matrix_workload.c'), path.join(dir, 'matrix', 'matrix_workload'), arch, pins);
  return dir;
}

/**
 * The initramfs of one guest: concatenated cpio archives (the kernel unpacks
 * each in turn), the userspace and the modules cached, the repository layer
 * made per run. Uncompressed: unpacking gzip under TCG costs more than
 * reading the bigger file.
 */
export function guestInitramfs({ pins, kernelPin, arch, repoCpio, output }) {
  const userspace = userspaceRoot(pins, kernelPin.userspace, arch);
  const base = cachedCpio(path.basename(userspace), userspace);
  const { modules } = kernelAssets(kernelPin, arch);
  const modulesRoot = cachedDir(path.join(MATRIX_CACHE, 'kernel', `${kernelPin.version}_${arch}`, 'modules-root'), (root) => {
    fs.cpSync(modules, path.join(root, 'lib', 'modules', 'kdelay-matrix'), { recursive: true });
  });
  const modulesCpio = cachedCpio(`modules-${kernelPin.version}_${arch}`, modulesRoot);
  execFileSync('sh', ['-c', 'cat "$@" > "$0"', output, base, modulesCpio, repoCpio]);
  return output;
}

/**
 * Boots one guest under qemu (TCG) and resolves with its console output,
 * or with timedOut once timeoutMs has passed (the guest is killed).
 * @param {{ vmlinuz: string, initrd: string, arch: string, timeoutMs: number, memoryMb?: number,
 *   onLine?: (line: string, ms: number) => void }} options
 */
export function bootGuest({ vmlinuz, initrd, arch, timeoutMs, memoryMb = 1024, onLine }) {
  const a = ARCHES[arch];
  const args = [
    ...a.qemu.slice(1),
    '-m',
    String(memoryMb),
    '-smp',
    '1',
    '-nographic',
    '-no-reboot',
    '-nic',
    'none',
    '-kernel',
    vmlinuz,
    '-initrd',
    initrd,
    '-append',
    `console=${a.console} quiet panic=-1 mitigations=off rdinit=/init`,
  ];
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(a.qemu[0], args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let pending = '';
    child.stdout.on('data', (d) => {
      output += d;
      if (!onLine) return;
      pending += d;
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const line of lines) onLine(line.replace(/\r$/, ''), Date.now() - started);
    });
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ output: output.replace(/\r\n/g, '\n'), code, timedOut: signal === 'SIGKILL', ms: Date.now() - started });
    });
  });
}

/** The `KDELAY-MATRIX {json}` records a guest printed (checks.mjs), in order. */
export function guestRecords(output) {
  const records = [];
  for (const m of output.matchAll(/^KDELAY-MATRIX (\{.*\})$/gm)) records.push(JSON.parse(m[1]));
  return records;
}

/**
 * The verifier's last word in a libbpf log (kdelay -D): the line before
 * "-- END PROG LOAD LOG --", with the program's name; undefined if no
 * program failed to load.
 */
export function verifierReason(log) {
  const lines = log?.split('\n') ?? [];
  const end = lines.findIndex((l) => l.includes('-- END PROG LOAD LOG --'));
  if (end < 0) return undefined;
  const before = lines.slice(0, end).reverse();
  // Named where the log begins, or (when a long log's beginning was cut off) in libbpf's line after it.
  const program =
    /prog '([^']+)': -- BEGIN PROG LOAD LOG --/.exec(before.find((l) => l.includes('BEGIN PROG LOAD LOG')) ?? '')?.[1] ??
    /prog '([^']+)': failed to load/.exec(lines.slice(end).find((l) => /prog '[^']+': failed to load/.test(l)) ?? '')?.[1];
  const reason = before.find((l) => l.trim() && !/^(processed|verification time|stack depth|libbpf: )/.test(l.trim()));
  return `${reason?.trim()}${program ? ` (program ${program})` : ''}`;
}
