#!/usr/bin/env node
// Bundles the CLI (tsc's dist/host/cli/main.js and everything it imports,
// commander included) into one ESM file, dist/kdelay.mjs, which bin/kdelay.js
// loads. Resolving and loading ~60 modules one by one took about 20 ms of
// kdelay's ~200 ms start-up budget; one file takes a few. koffi stays
// external: it is a native addon. Tests and scripts keep using dist/host/.
import asc from 'assemblyscript/asc';
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
await build({
  entryPoints: [join(ROOT, 'dist', 'host', 'cli', 'main.js')],
  outfile: join(ROOT, 'dist', 'kdelay.mjs'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  external: ['koffi'],
  // commander is CommonJS and require()s Node built-ins; give it a require.
  banner: { js: "import { createRequire as kdelayCreateRequire } from 'node:module';\nconst require = kdelayCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});

// The report's per-row loops (host/model/wasm-loops.ts) as WebAssembly, next
// to the bundle; tsc's dist/host/model/ finds it two folders up.
const { error, stderr } = await asc.main([
  join(ROOT, 'host', 'model', 'wasm-loops', 'report-loops.ts'),
  '-O3',
  '--runtime',
  'stub',
  '--noAssert',
  '--outFile',
  join(ROOT, 'dist', 'report-loops.wasm'),
]);
if (error) {
  console.error(stderr.toString());
  throw error;
}
