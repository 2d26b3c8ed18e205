#!/usr/bin/env node
// Bundles the CLI (tsc's dist/host/cli/main.js and everything it imports,
// commander included) into one ESM file, dist/kdelay.mjs, which bin/kdelay.js
// loads. Resolving and loading ~60 modules one by one took about 20 ms of
// kdelay's ~200 ms start-up budget; one file takes a few. koffi stays
// external: it is a native addon; gecko-profiler-demangle too, whose .wasm
// host/symbols/demangle.ts reads from its folder. Tests and scripts keep using dist/host/.
import asc from 'assemblyscript/asc';
import { build } from 'esbuild';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { metafile } = await build({
  metafile: true,
  entryPoints: [join(ROOT, 'dist', 'host', 'cli', 'main.js')],
  outfile: join(ROOT, 'dist', 'kdelay.mjs'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  external: ['koffi', 'gecko-profiler-demangle'],
  // commander is CommonJS and require()s Node built-ins; give it a require.
  banner: { js: "import { createRequire as kdelayCreateRequire } from 'node:module';\nconst require = kdelayCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});

// The licences of what was bundled (commander, MIT): the MIT licence asks for
// its notice in every copy, and dist/kdelay.mjs is one. Found from esbuild's
// list of inputs, so a dependency bundled later is named too.
const bundled = new Set(Object.keys(metafile.inputs).flatMap((input) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1] ?? []));
const notices = [...bundled].sort().map((name) => {
  const dir = join(ROOT, 'node_modules', name);
  const { version, license } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  if (!file || !existsSync(join(dir, file))) throw new Error(`${name} is bundled into dist/kdelay.mjs but has no licence file to ship`);
  return `${name} ${version} (${license}), bundled into dist/kdelay.mjs:\n\n${readFileSync(join(dir, file), 'utf8').trim()}\n`;
});
writeFileSync(
  join(ROOT, 'dist', 'THIRD-PARTY-NOTICES.txt'),
  `Third-party code in dist/kdelay.mjs (written by scripts/bundle-cli.mjs). vendor/libbpf/ carries libbpf's own licence files.\n\n${notices.join('\n---\n\n')}`,
);

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
