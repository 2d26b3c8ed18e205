#!/usr/bin/env node
// CommonJS (bin/package.json): no ES module loader is started for kdelay.
//
// First of all: SIGUSR1 would make Node open its inspector on 127.0.0.1:9229,
// a debugger port in a process holding BPF rights, and SIGUSR2 would kill
// kdelay without its report. A listener replaces both default actions: the
// two signals do nothing (README, "Usage"). Listeners do not keep Node alive.
for (const signal of ['SIGUSR1', 'SIGUSR2']) process.on(signal, () => {});
// Thin shim: the CLI is compiled and bundled into dist/kdelay.cjs by
// `npm run build` (tsc, then scripts/bundle-cli.mjs; `npm pack` runs it),
// and load-bundle.js runs it with the code cache the build made.
const { join } = require('node:path');
const { loadBundle } = require('./load-bundle.js');

let main;
try {
  ({ main } = loadBundle(join(__dirname, '..', 'dist', 'kdelay.cjs')).exports);
} catch (err) {
  // koffi's native half is an optional dependency (@koromix/koffi-<os>-<cpu>):
  // an install with --omit=optional has none, and koffi throws while loading.
  if (!/native Koffi module/.test(err?.message)) throw err;
  process.stderr.write("kdelay: BPF is unavailable: koffi's native module is missing (installed with --omit=optional? reinstall without it)\n");
  process.exit(72);
}
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
