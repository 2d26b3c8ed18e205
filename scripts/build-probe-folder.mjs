#!/usr/bin/env zx
// npm run build:probe-folder -- DIR [OUT_DIR] [--key KEY.pem]: builds one probe folder
// anywhere in the project (e.g. a third-party probe) into OUT_DIR/<name>.wasm
// (default: DIR itself), signed with KEY.pem when given (npm run keygen makes
// one). The built-in bundles are built by build-probes.mjs instead.
import { path } from 'zx';
import { buildFailed, buildProbe, ROOT } from './lib/probe-build.mjs';

const [dir, outDir = dir] = argv._;
if (!dir) {
  echo('usage: npm run build:probe-folder -- DIR [OUT_DIR] [--key KEY.pem]');
  process.exit(2);
}
const relative = path.relative(ROOT, path.resolve(dir));
const key = argv.key ? path.resolve(argv.key) : undefined;
const out = await buildProbe(path.basename(relative), path.resolve(outDir), relative, key).catch(buildFailed);
echo(`built ${path.relative(process.cwd(), out)}${key ? ' (signed)' : ' (unsigned: kdelay needs --allow-unsigned for it)'}`);
