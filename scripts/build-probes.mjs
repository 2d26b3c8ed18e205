#!/usr/bin/env zx
// npm run build:probes [-- NAME...]: rebuilds the committed bundles in bundles/
// and signs them with the release key ($KDELAY_SIGNING_KEY, default
// ~/.config/kdelay/release-signing-key.pem), which only maintainers hold.
//
// Without the key, a bundle whose code did not change keeps its committed
// (signed) file; a changed one is written with a digest only, and kdelay
// refuses it until a maintainer signs it (or you pass --allow-unsigned).
import { fs, path } from 'zx';
import { buildFailed, buildProbeBody, BUNDLES_DIR, probeNames, RELEASE_SIGNING_KEY, ROOT, sealBody, splitBundle } from './lib/probe-build.mjs';

const key = (await fs.pathExists(RELEASE_SIGNING_KEY)) ? RELEASE_SIGNING_KEY : undefined;
const wanted = argv._.length ? argv._ : await probeNames();
const unsigned = [];
for (const name of wanted) {
  const out = path.join(ROOT, BUNDLES_DIR, `${name}.wasm`);
  const body = await buildProbeBody(name).catch(buildFailed);
  const committed = (await fs.pathExists(out)) ? await splitBundle(await fs.readFile(out)) : undefined;
  if (!key && committed?.seal?.signature && Buffer.from(committed.body).equals(body)) {
    echo(`unchanged ${path.relative(ROOT, out)} (kept its signature)`);
    continue;
  }
  await fs.writeFile(out, await sealBody(body, key));
  if (!key) unsigned.push(name);
  echo(`built ${path.relative(ROOT, out)}${key ? ' (signed)' : ' (UNSIGNED)'}`);
}
if (unsigned.length) {
  echo(`no release signing key at ${RELEASE_SIGNING_KEY}: ${unsigned.join(', ')} now carry a digest only;`);
  echo(`kdelay refuses them without --allow-unsigned until a maintainer runs 'npm run build:probes' with the key`);
}
