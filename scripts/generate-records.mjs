#!/usr/bin/env zx
// First step of `npm run build:probes`: regenerates
// host/runtime/kernel-records.ts (the host's readers of the records in
// probes/include/kdelay_records.bpf.h, see scripts/lib/layouts.mjs),
// host/bundle/accounting-contract.ts (the accounting contract, same header) and
// host/bpf/*.object.ts (the host's own BPF objects) BEFORE
// tsc compiles the host, which imports it: after an edit of that header the
// host code compiles against the new layout. Reading BTF uses the host's
// previous build (dist/); a checkout without one builds it first.
import { fs, path } from 'zx';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
if (!(await fs.pathExists(path.join(ROOT, 'dist', 'host', 'bundle', 'btf.js')))) {
  await $({ cwd: ROOT, stdio: 'inherit' })`node_modules/.bin/tsc -p tsconfig.json`;
}
const { sharedLayouts } = await import('./lib/layouts.mjs');
let hostFiles;
try {
  ({ hostFiles } = await sharedLayouts());
} catch (err) {
  console.error(err.stderr?.trim() || err.message);
  process.exit(1);
}
for (const [file, text] of hostFiles) {
  if ((await fs.readFile(path.join(ROOT, file), 'utf8').catch(() => '')) === text) continue;
  await fs.writeFile(path.join(ROOT, file), text);
  echo(`updated ${file}`);
}
// The host's own BPF objects (scripts/lib/host-objects.mjs), also imported by the host code tsc compiles next.
const { staleHostObjects } = await import('./lib/host-objects.mjs');
try {
  for (const file of await staleHostObjects({ write: true })) echo(`updated ${file}`);
} catch (err) {
  console.error(err.stderr?.trim() || err.message);
  process.exit(1);
}
