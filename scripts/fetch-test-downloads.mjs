#!/usr/bin/env node
// Everything `npm test` downloads, fetched once before the first test
// (test/global-setup.ts runs this with a timeout of its own), so that no
// test spends its 60 s on Debian's mirror: the pinned linux-libc-dev the
// syscall tables are compared with, and the Debian 11 runtime packages the
// libbpf-locate test runs kdelay on. Both land in ~/.cache/kdelay
// ($KDELAY_CACHE_DIR); a warm cache downloads nothing.
import { CACHE_DIR, debianApt } from './lib/debian-apt.mjs';
import { BULLSEYE_RUNTIME } from './lib/libbpf-pins.mjs';
import { syscallHeadersDir } from './lib/syscall-headers.mjs';

syscallHeadersDir();
const debArch = process.arch === 'arm64' ? 'arm64' : 'amd64';
const apt = debianApt();
const specs = Object.entries(BULLSEYE_RUNTIME).map(([name, version]) => `${name}:${debArch}=${version}`);
const get = (spec) => apt.download(spec, `${CACHE_DIR}/libbpf/debs`);
try {
  specs.forEach(get);
} catch {
  apt.update();
  specs.forEach(get);
}
