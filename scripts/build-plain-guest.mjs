#!/usr/bin/env zx
// npm run build:plain-guest -- DIR [OUT_DIR] [--key KEY.pem]: builds a plain
// wasm-bpf guest folder (DIR/<name>.bpf.c + DIR/<name>.ts, <name> = the
// folder's name) into OUT_DIR/<name>.wasm (default: DIR itself), sealed and,
// with --key, signed, to run with `kdelay run`. Probe bundles are built by
// build-probe(s).mjs instead.
import { path } from 'zx';
import { buildPlainGuest, ROOT } from './lib/plain-guest-build.mjs';

const [dir, outDir = dir] = argv._;
if (!dir) {
  echo('usage: npm run build:plain-guest -- DIR [OUT_DIR] [--key KEY.pem]');
  process.exit(2);
}
const key = argv.key ? path.resolve(argv.key) : undefined;
const out = await buildPlainGuest(path.relative(ROOT, path.resolve(dir)), path.resolve(outDir), key);
echo(`built ${path.relative(process.cwd(), out)}${key ? ' (signed)' : ' (unsigned: kdelay run needs --allow-unsigned for it)'}`);
