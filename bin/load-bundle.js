// Compiles and runs the one-file CLI, dist/kdelay.cjs (scripts/bundle-cli.mjs),
// as Node runs a CommonJS module, but through vm.Script so that V8 can take
// the code cache the build made beside it (Node 20 has no compile cache of
// its own for modules). The cache is used only when the SHA-256 it starts
// with is the bundle's: V8's own check is the source's length. Data from
// another V8 is refused by V8 (script.cachedDataRejected) and the bundle
// compiles as it would without. Nothing is written here.
'use strict';
const { createHash } = require('node:crypto');
const { readFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { dirname, resolve } = require('node:path');
const { Script } = require('node:vm');

function readCache(file, bytes) {
  let cache;
  try {
    cache = readFileSync(`${file}.cache`);
  } catch {
    return undefined; // none shipped, or built without one
  }
  // V8's cache is its machine's: the key names the architecture and the Node that made it (an x86_64 cache crashed arm64's V8).
  // The file's bytes, not the source string: hashing the string encodes its 0.6 MB to UTF-8 again (~3 ms a start).
  const hash = createHash('sha256')
    .update(bytes)
    .update('\0' + process.arch + '\0' + process.version)
    .digest();
  return cache.length > hash.length && hash.equals(cache.subarray(0, hash.length)) ? cache.subarray(hash.length) : undefined;
}

/** The bundle's exports, and its Script (the build, with useCache false, asks it for the code cache). */
function loadBundle(path, { useCache = true } = {}) {
  const file = resolve(path);
  const bytes = readFileSync(file);
  const source = bytes.toString('utf8');
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    cachedData: useCache ? readCache(file, bytes) : undefined,
  });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
  return { exports: module.exports, script };
}

module.exports = { loadBundle, readCache };
