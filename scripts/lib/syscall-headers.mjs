// The kernel UAPI headers the syscall tables (host/syscalls/*.ts) are
// generated from, and that test/unit/syscall-table.test.ts compares them with:
// one pinned Debian linux-libc-dev, downloaded once through the private apt
// tree (debian-apt.mjs) and unpacked into the cache.
//
// Since 6.x the package is "Architecture: all" and carries every
// architecture's asm/ folder, so one download serves x86_64
// (x86_64-linux-gnu/asm/unistd_64.h) and arm64 (aarch64-linux-gnu/, whose
// unistd_64.h is generated from the asm-generic numbering since 6.11).
//
// The newest headers Debian has are in sid, and a sid version leaves the
// mirror when a newer one replaces it: when the download fails, move the pin
// to the current sid version (`apt-cache show linux-libc-dev/sid` through
// debianApt) and run `node scripts/generate-syscall-tables.mjs`.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CACHE_DIR, debianApt } from './debian-apt.mjs';

export const SYSCALL_HEADERS_PACKAGE = 'linux-libc-dev';
export const SYSCALL_HEADERS_VERSION = '7.2.13-1'; // Debian sid, kernel 7.2 headers

/** The unpacked package's usr/include, downloading and unpacking it on first use. */
export function syscallHeadersDir(cacheDir = CACHE_DIR) {
  const root = path.join(cacheDir, 'syscall-headers', `${SYSCALL_HEADERS_PACKAGE}_${SYSCALL_HEADERS_VERSION}`);
  const include = path.join(root, 'usr', 'include');
  if (fs.existsSync(path.join(include, 'linux', 'version.h'))) return include;
  const apt = debianApt({ cacheDir });
  updateSharingTheTree(apt);
  let deb;
  try {
    deb = apt.download(`${SYSCALL_HEADERS_PACKAGE}=${SYSCALL_HEADERS_VERSION}`, path.join(cacheDir, 'debs'));
  } catch (err) {
    throw new Error(
      `${SYSCALL_HEADERS_PACKAGE} ${SYSCALL_HEADERS_VERSION} cannot be downloaded (${err.message}); ` +
        'if the mirror moved on, pin the current sid version in scripts/lib/syscall-headers.mjs and regenerate',
      { cause: err },
    );
  }
  // Unpack beside the final folder and rename, so an interrupted run leaves no half tree behind.
  const partial = `${root}.partial-${process.pid}`;
  fs.rmSync(partial, { recursive: true, force: true });
  fs.mkdirSync(partial, { recursive: true });
  const result = spawnSync('dpkg-deb', ['-x', deb, partial], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`dpkg-deb -x ${deb}: ${result.stderr.trim()}`);
  fs.rmSync(root, { recursive: true, force: true });
  fs.renameSync(partial, root);
  return include;
}

/**
 * apt-get update on the shared private tree. Another user of the cache (the
 * kernel matrix test) may be updating it at this moment, and apt then fails
 * at once on its lock instead of waiting: try again a few times.
 */
function updateSharingTheTree(apt, tries = 6) {
  for (let attempt = 1; ; attempt++) {
    try {
      return apt.update();
    } catch (err) {
      if (attempt >= tries || !/lock/i.test(err.message)) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
    }
  }
}
