#!/usr/bin/env zx
// npm run build:probes [-- NAME...]: (after scripts/generate-records.mjs and
// tsc) rebuilds the committed bundles in bundles/
// and signs them with the release key ($KDELAY_SIGNING_KEY, default
// ~/.config/kdelay/release-signing-key.pem), which only maintainers hold.
//
// Without the key, a bundle whose code did not change keeps its committed
// (signed) file; a changed or new one is written with a digest only, and
// recorded as this checkout's own build (probes/NAME/build/development-build.json):
// kdelay run from this checkout admits it while it matches its sources
// (host/driver/development-builds.ts); installed copies and `npm run
// check:probes` (CI) do not, until a maintainer signs it.
import { fs, path } from 'zx';
import { buildFailed, buildProbeBody, BUNDLES_DIR, probeNames, RELEASE_SIGNING_KEY, ROOT, sealBody, splitBundle } from './lib/probe-build.mjs';
import { updateProbesTable } from './lib/probes-table.mjs';

const { developmentRecordFile, probeSourcesDigest } = await import(path.join(ROOT, 'dist', 'host', 'driver', 'development-builds.js'));
const { sha256Hex } = await import(path.join(ROOT, 'dist', 'host', 'bundle', 'seal.js'));

const key = (await fs.pathExists(RELEASE_SIGNING_KEY)) ? RELEASE_SIGNING_KEY : undefined;
const wanted = argv._.length ? argv._ : await probeNames();
const unsigned = [];
for (const name of wanted) {
  const out = path.join(ROOT, BUNDLES_DIR, `${name}.wasm`);
  const body = await buildProbeBody(name).catch(buildFailed);
  const committed = (await fs.pathExists(out)) ? await splitBundle(await fs.readFile(out)) : undefined;
  const record = developmentRecordFile(ROOT, name);
  if (!key && committed?.seal?.signature && Buffer.from(committed.body).equals(body)) {
    await fs.remove(record);
    echo(`unchanged ${path.relative(ROOT, out)} (kept its signature)`);
    continue;
  }
  await fs.writeFile(out, await sealBody(body, key));
  if (key) await fs.remove(record);
  else {
    await fs.writeJson(record, { bundle_sha256: sha256Hex(body), sources_sha256: probeSourcesDigest(ROOT, name) });
    unsigned.push(name);
  }
  echo(`built ${path.relative(ROOT, out)}${key ? ' (signed)' : ' (UNSIGNED)'}`);
}
if (unsigned.length) {
  echo(`no release signing key at ${RELEASE_SIGNING_KEY}: ${unsigned.join(', ')} now carry a digest only;`);
  echo(`kdelay run from this checkout admits them while they match their sources; 'npm run check:probes' (CI)`);
  echo(`and installed copies refuse them until a maintainer runs 'npm run build:probes' with the key`);
}
if (await updateProbesTable()) echo('updated the built-in probes table in ARCHITECTURE.md');
