#!/usr/bin/env zx
// npm run build:probes [-- NAME...]: rebuilds the committed bundles in bundles/.
import { path } from 'zx';
import { buildProbe, BUNDLES_DIR, probeNames, ROOT } from './lib/probe-build.mjs';

const wanted = argv._.length ? argv._ : await probeNames();
for (const name of wanted) {
  const out = await buildProbe(name, path.join(ROOT, BUNDLES_DIR));
  echo(`built ${path.relative(ROOT, out)}`);
}
