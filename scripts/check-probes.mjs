#!/usr/bin/env zx
// npm run check:probes: fails when a committed bundle is not what its sources
// build to (like cilium/ebpf's "generated files are up to date" gate), or is
// not signed by the release key whose public half ships in keys/ (a
// development build, admitted by a checkout's own kdelay, fails here), or
// ARCHITECTURE.md's table of built-in probes is not generated from them, or
// host/runtime/kernel-records.ts or host/bundle/accounting-contract.ts from
// probes/include/kdelay_records.bpf.h, or
// host/bpf/*.object.ts from host/bpf/*.bpf.c.
// Needs no private key: it compares the bundle's body (everything before its
// seal) and verifies the committed signature.
import { fs, path } from 'zx';
import { buildFailed, buildProbeBody, BUNDLES_DIR, probeNames, ROOT } from './lib/probe-build.mjs';
import { staleProbesTable } from './lib/probes-table.mjs';
import { sharedLayoutsOnce } from './lib/layouts.mjs';

const { checkSeal, splitSeal } = await import(path.join(ROOT, 'dist', 'host', 'bundle', 'seal.js'));
const { releaseKey } = await import(path.join(ROOT, 'dist', 'host', 'driver', 'catalog.js'));
const key = releaseKey(ROOT);
const problems = [];
const { hostFiles } = await sharedLayoutsOnce().catch(buildFailed);
for (const [file, text] of hostFiles) {
  if ((await fs.readFile(path.join(ROOT, file), 'utf8').catch(() => '')) !== text) {
    problems.push(`${file} does not match probes/include/kdelay_records.bpf.h; run 'npm run build:probes' and commit it`);
  } else echo(`ok ${file}`);
}
const { staleHostObjects } = await import('./lib/host-objects.mjs');
const staleObjects = await staleHostObjects({ write: false }).catch(buildFailed);
for (const file of staleObjects) problems.push(`${file} is not what host/bpf/ builds to; run 'npm run build:probes' and commit it`);
if (!staleObjects.length) echo('ok host/bpf/*.object.ts');
for (const name of await probeNames()) {
  const file = path.join(BUNDLES_DIR, `${name}.wasm`);
  const fresh = await buildProbeBody(name).catch(buildFailed);
  if (!(await fs.pathExists(path.join(ROOT, file)))) {
    problems.push(`${file} is missing; run 'npm run build:probes' and commit bundles/`);
    continue;
  }
  const committed = await fs.readFile(path.join(ROOT, file));
  let status;
  try {
    status = checkSeal(committed, [key]);
  } catch (err) {
    problems.push(`${file}: ${err.message}; run 'npm run build:probes' and commit bundles/`);
    continue;
  }
  if (!Buffer.from(splitSeal(committed).body).equals(fresh)) problems.push(`${file} is stale; run 'npm run build:probes' and commit bundles/`);
  else if (status.kind !== 'signed') problems.push(`${file} is not signed by the release key (${key.id}); a maintainer must run 'npm run build:probes' with the key`);
  else echo(`ok ${file} (signed, key ${key.id})`);
}
const table = await staleProbesTable();
if (table) problems.push(table);
else echo('ok ARCHITECTURE.md built-in probes table');
if (problems.length) {
  for (const p of problems) echo(p);
  process.exit(1);
}
