#!/usr/bin/env zx
// zx scripts/build-plain-guest.mjs DIR [OUT_DIR]: builds a plain wasm-bpf
// guest folder (DIR/<name>.bpf.c + DIR/<name>.ts, <name> = the folder's
// name) into OUT_DIR/<name>.wasm (default: DIR itself), to run with
// `kdelay run`. Probe bundles are built by build-probe(s).mjs instead.
import { path } from 'zx';
import { buildPlainGuest, ROOT } from './lib/plain-guest-build.mjs';

const [dir, outDir = dir] = argv._;
if (!dir) {
  echo('usage: zx scripts/build-plain-guest.mjs DIR [OUT_DIR]');
  process.exit(2);
}
const out = await buildPlainGuest(path.relative(ROOT, path.resolve(dir)), path.resolve(outDir));
echo(`built ${path.relative(process.cwd(), out)}`);
