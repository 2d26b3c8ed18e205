#!/usr/bin/env zx
// npm run check:probes: fails when a committed bundle is not what its sources
// build to (like cilium/ebpf's "generated files are up to date" gate).
import { fs, os, path } from 'zx';
import { buildProbe, BUNDLES_DIR, probeNames, ROOT } from './lib/probe-build.mjs';

const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'kdelay-check-'));
const stale = [];
try {
  for (const name of await probeNames()) {
    const fresh = await fs.readFile(await buildProbe(name, tmp));
    const committedPath = path.join(ROOT, BUNDLES_DIR, `${name}.wasm`);
    const committed = (await fs.pathExists(committedPath)) ? await fs.readFile(committedPath) : null;
    if (!committed || !committed.equals(fresh)) stale.push(name);
    else echo(`ok ${BUNDLES_DIR}/${name}.wasm`);
  }
} finally {
  await fs.remove(tmp);
}
if (stale.length) {
  echo(`stale or missing bundles: ${stale.join(', ')}; run 'npm run build:probes' and commit bundles/`);
  process.exit(1);
}
