// A private apt setup for fetching Debian packages of any release and
// architecture (kernels for the matrix, headers for the syscall tables,
// libbpf's source) without touching the machine's own apt configuration:
// its own sources list, lists, cache and architectures, all under one cache
// folder, selected per command with APT_CONFIG.
//
// The mirror is read from the system's own apt sources at run time, so no
// host name is written into the repository.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Where downloads (kernels, Node builds, sysroots, apt lists) are kept between
 * runs and between clones: CI's fresh clone reuses what an earlier run fetched.
 */
export const CACHE_DIR = process.env.KDELAY_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'kdelay');

export const DEFAULT_SUITES = ['bullseye', 'bookworm', 'trixie', 'sid'];
export const DEFAULT_ARCHITECTURES = ['amd64', 'arm64'];

/** The first http(s) Debian mirror the system's apt sources name (deb822 or one-line). */
export function systemDebianMirror() {
  const files = ['/etc/apt/sources.list'];
  const partsDir = '/etc/apt/sources.list.d';
  if (fs.existsSync(partsDir)) {
    for (const name of fs.readdirSync(partsDir)) {
      if (name.endsWith('.sources') || name.endsWith('.list')) files.push(path.join(partsDir, name));
    }
  }
  for (const file of files) {
    let text;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const match of text.matchAll(/(?:^URIs:\s*|^deb\s+(?:\[[^\]]*\]\s+)?)(https?:\/\/\S+\/debian)\/?\s/gm)) {
      return match[1];
    }
  }
  throw new Error('no Debian mirror found in the system apt sources (/etc/apt/sources.list{,.d})');
}

/**
 * Returns a small client for a private apt tree under `cacheDir`.
 * `update()` is done at most once per `maxAgeHours` (the lists are cached
 * with everything else); pass `{ force: true }` to refresh.
 */
export function debianApt({ cacheDir = CACHE_DIR, suites = DEFAULT_SUITES, architectures = DEFAULT_ARCHITECTURES, withSources = false } = {}) {
  const root = path.resolve(cacheDir, 'apt');
  const mirror = systemDebianMirror();
  const securityMirror = mirror.replace(/\/debian$/, '/debian-security');
  for (const dir of ['lists/partial', 'cache/archives/partial', 'etc', 'state']) {
    fs.mkdirSync(path.join(root, dir), { recursive: true });
  }
  const types = withSources ? 'deb deb-src' : 'deb';
  const sources = suites
    .map((suite) => {
      const blocks = [`Types: ${types}\nURIs: ${mirror}\nSuites: ${suite}\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`];
      if (suite !== 'sid') {
        blocks.push(`Types: ${types}\nURIs: ${securityMirror}\nSuites: ${suite}-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`);
      }
      return blocks.join('\n');
    })
    .join('\n');
  fs.writeFileSync(path.join(root, 'etc', 'kdelay.sources'), sources);
  const aptConf = path.join(root, 'etc', 'apt.conf');
  fs.writeFileSync(
    aptConf,
    [
      `Dir::Etc::SourceList "/dev/null";`,
      `Dir::Etc::SourceParts "${path.join(root, 'etc')}";`,
      `Dir::Etc::Preferences "/dev/null";`,
      `Dir::Etc::PreferencesParts "/nonexistent";`,
      `Dir::State "${path.join(root, 'state')}";`,
      `Dir::State::Lists "${path.join(root, 'lists')}";`,
      `Dir::State::status "/dev/null";`,
      `Dir::Cache "${path.join(root, 'cache')}";`,
      `APT::Architectures { ${architectures.map((a) => `"${a}";`).join(' ')} };`,
      `APT::Get::List-Cleanup "false";`,
      `Acquire::Languages "none";`,
      `Acquire::Retries "3";`,
      '',
    ].join('\n'),
  );
  const env = { ...process.env, APT_CONFIG: aptConf, DEBIAN_FRONTEND: 'noninteractive' };

  function run(args, { cwd } = {}) {
    const result = spawnSync(args[0], args.slice(1), { env, cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
    if (result.status !== 0) {
      throw new Error(`${args.join(' ')} failed (exit ${result.status}): ${(result.stderr || '').trim().split('\n').slice(-3).join(' | ')}`);
    }
    return result.stdout;
  }

  // The lists are fresh for the sources they were fetched with: a tree updated
  // without deb-src (the kernel matrix) has no source lists for build-libbpf,
  // which on a cold cache then failed ("You must put some 'deb-src' URIs").
  const stampFile = path.join(root, 'lists', `.kdelay-updated-${createHash('sha256').update(sources).digest('hex').slice(0, 16)}`);
  return {
    root,
    env,
    /** apt-get update on the private tree, unless done within maxAgeHours. */
    update({ force = false, maxAgeHours = 24 } = {}) {
      const fresh = fs.existsSync(stampFile) && Date.now() - fs.statSync(stampFile).mtimeMs < maxAgeHours * 3600e3;
      if (fresh && !force) return;
      run(['apt-get', 'update', '-q']);
      fs.writeFileSync(stampFile, new Date().toISOString());
    },
    /** `apt-cache policy`-style candidate version of NAME (e.g. 'linux-image-amd64/bookworm', or 'libbpf1:arm64'). */
    candidateVersion(spec) {
      const out = run(['apt-cache', 'show', '--no-all-versions', spec]);
      return /^Version: (.+)$/m.exec(out)?.[1];
    },
    /** Every version apt knows of NAME[:ARCH], newest first. */
    versions(spec) {
      const out = run(['apt-cache', 'show', spec]);
      return [...out.matchAll(/^Version: (.+)$/gm)].map((m) => m[1]);
    },
    /** Direct dependencies of NAME (e.g. resolving a meta package to its ABI-named kernel). */
    depends(spec) {
      const out = run(['apt-cache', 'depends', spec]);
      return [...out.matchAll(/^\s+Depends: (\S+)/gm)].map((m) => m[1]);
    },
    /**
     * Downloads NAME[:ARCH][=VERSION] into `destDir` (cached: a .deb already
     * there is reused) and returns its path.
     */
    download(spec, destDir) {
      fs.mkdirSync(destDir, { recursive: true });
      const [nameArch, version] = spec.split('=');
      const [name, arch] = nameArch.split(':');
      const existing = fs.readdirSync(destDir).find(
        (f) =>
          f.startsWith(`${name}_`) &&
          f.endsWith('.deb') &&
          (!arch || f.endsWith(`_${arch}.deb`) || f.endsWith('_all.deb')) &&
          // apt-get download keeps an epoch as "1%3a"; other sources drop it.
          (!version || [version.replace(/:/g, '%3a'), version.replace(/^\d+:/, '')].some((v) => f.startsWith(`${name}_${v}_`))),
      );
      if (existing) return path.join(destDir, existing);
      const before = new Set(fs.readdirSync(destDir));
      run(['apt-get', 'download', '-q', spec], { cwd: destDir });
      const added = fs.readdirSync(destDir).filter((f) => !before.has(f) && f.endsWith('.deb'));
      if (added.length !== 1) throw new Error(`apt-get download ${spec}: expected one .deb, got ${added.join(', ') || 'none'}`);
      return path.join(destDir, added[0]);
    },
    /** Downloads and unpacks the source package NAME[=VERSION] into destDir (needs withSources and dpkg-dev). */
    source(spec, destDir) {
      fs.mkdirSync(destDir, { recursive: true });
      run(['apt-get', 'source', '-q', spec], { cwd: destDir });
      return destDir;
    },
  };
}
