#!/usr/bin/env node
// Bundles the CLI (tsc's dist/host/cli/main.js and everything it imports,
// commander included) into one file, dist/kdelay.cjs, which bin/kdelay.js
// compiles and runs. Resolving and loading ~60 modules one by one took about
// 20 ms of kdelay's start-up; one file takes a few. koffi stays external: it
// is a native addon; gecko-profiler-demangle too (no licence file to ship
// in a bundle), whose .wasm host/symbols/demangle.ts reads from its folder.
// It is an ES module, which this CommonJS bundle require()s: Node 20.19 on
// (package.json engines). Tests and scripts keep using dist/host/.
//
// The bundle is a CommonJS script, not an ES module, for two reasons of
// start-up time: bin/kdelay.js can hand it to vm.Script with a V8 code cache
// (Node 20 has no code cache for ES modules: module.enableCompileCache is
// 22.1+), and no ES module loader is started at all (bin/ is CommonJS too).
// The cache, dist/kdelay.cjs.cache, is made here, by the node that builds:
// the SHA-256 of the bundle it was made from, then V8's data. bin/kdelay.js
// uses it only when that hash matches the bundle it reads, and V8 itself
// refuses data from another V8 version or flags: then it compiles as usual.
import asc from 'assemblyscript/asc';
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUNDLE = join(ROOT, 'dist', 'kdelay.cjs');
rmSync(join(ROOT, 'dist', 'kdelay.mjs'), { force: true }); // the ES module bundle of earlier builds
// Node's built-in modules that only some commands use (serve: http and
// worker_threads; recordings: zlib and readline; commander's executable
// subcommands, which kdelay has none of: child_process) cost a measurement
// run ~7 ms of its start-up to load. The bundle requires them through a
// stand-in that loads the module at the first read of one of its members.
// esbuild's CommonJS output reads a member at each use (`(0,
// import_node_http.createServer)(...)`), but it copies an imported module's
// member names at import (__toESM), so the stand-in lists them without
// loading: the names are this (building) Node's, the members the running one's.
const LOADED_ON_FIRST_USE = ['node:child_process', 'node:http', 'node:readline', 'node:worker_threads', 'node:zlib'];
const require = createRequire(import.meta.url);
const loadOnFirstUse = {
  name: 'load-on-first-use',
  setup(builder) {
    builder.onResolve({ filter: /^node:/ }, ({ path, namespace }) =>
      LOADED_ON_FIRST_USE.includes(path) && namespace !== 'first-use' ? { path, namespace: 'first-use' } : undefined,
    );
    builder.onLoad({ filter: /.*/, namespace: 'first-use' }, ({ path }) => ({
      contents: `let loaded;
        const real = () => (loaded ??= require(${JSON.stringify(path)}));
        const names = ${JSON.stringify(Object.keys(require(path)))};
        module.exports = new Proxy({}, {
          get: (_, name) => real()[name],
          has: (_, name) => names.includes(name) || name in real(),
          ownKeys: () => names,
          getOwnPropertyDescriptor: (_, name) => (names.includes(name) ? { configurable: true, enumerable: true, writable: true, value: undefined } : undefined),
        });`,
      loader: 'js',
    }));
  },
};
const { metafile } = await build({
  plugins: [loadOnFirstUse],
  metafile: true,
  entryPoints: [join(ROOT, 'dist', 'host', 'cli', 'main.js')],
  outfile: BUNDLE,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['koffi', 'gecko-profiler-demangle'],
  // import.meta.url (package-root.ts, wasm-loops.ts find files next to the code): this file's URL.
  define: { 'import.meta.url': 'kdelayBundleUrl' },
  // import() becomes require(): a script V8 rebuilds from a code cache has no
  // dynamic-import callback (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING on Node 20).
  supported: { 'dynamic-import': false },
  banner: { js: "const kdelayBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});

// The code cache: compiled and run to the end of its top level (every
// module's initialisation) and `kdelay --version`, in a child, so that the
// functions every start runs are in it: bin/load-bundle.js, with no cache.
const made = spawnSync(
  process.execPath,
  [
    '-e',
    `const { createHash } = require('node:crypto');
     const { readFileSync, writeFileSync } = require('node:fs');
     const { loadBundle } = require(${JSON.stringify(join(ROOT, 'bin', 'load-bundle.js'))});
     const file = ${JSON.stringify(BUNDLE)};
     const { exports, script } = loadBundle(file, { useCache: false });
     exports.main(['--version']).then(() => {
       const bytes = readFileSync(file);
       writeFileSync(file + '.cache', Buffer.concat([createHash('sha256').update(bytes).update('\\0' + process.arch + '\\0' + process.version).digest(), script.createCachedData()]));
     });`,
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
if (made.status !== 0) throw new Error(`making ${BUNDLE}.cache failed (exit ${made.status})`);

// The licences of what was bundled (commander, MIT): the MIT licence asks for
// its notice in every copy, and dist/kdelay.cjs is one. Found from esbuild's
// list of inputs, so a dependency bundled later is named too.
const bundled = new Set(Object.keys(metafile.inputs).flatMap((input) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1] ?? []));
const notices = [...bundled].sort().map((name) => {
  const dir = join(ROOT, 'node_modules', name);
  const { version, license } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  if (!file || !existsSync(join(dir, file))) throw new Error(`${name} is bundled into dist/kdelay.cjs but has no licence file to ship`);
  return `${name} ${version} (${license}), bundled into dist/kdelay.cjs:\n\n${readFileSync(join(dir, file), 'utf8').trim()}\n`;
});
writeFileSync(
  join(ROOT, 'dist', 'THIRD-PARTY-NOTICES.txt'),
  `Third-party code in dist/kdelay.cjs (written by scripts/bundle-cli.mjs). vendor/libbpf/ carries libbpf's own licence files.\n\n${notices.join('\n---\n\n')}`,
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
