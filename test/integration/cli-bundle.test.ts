/**
 * bin/load-bundle.js runs the built CLI, dist/kdelay.cjs, with the V8 code
 * cache the build made beside it: V8 takes it, it is used only for the
 * bundle it was made from (its SHA-256, not V8's length check), and the
 * bundle has no import() (a script rebuilt from a cache has no
 * dynamic-import callback on Node 20).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/temp-dirs.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BUNDLE = join(ROOT, 'dist', 'kdelay.cjs');
const { loadBundle, readCache } = createRequire(import.meta.url)(join(ROOT, 'bin', 'load-bundle.js')) as {
  loadBundle: (file: string, options?: { useCache?: boolean }) => { exports: { main: unknown }; script: { cachedDataRejected?: boolean } };
  readCache: (file: string, bytes: Uint8Array) => Buffer | undefined;
};

describe('the CLI bundle and its code cache', () => {
  it('is taken by V8 for the bundle it was made from', () => {
    const { exports, script } = loadBundle(BUNDLE);
    expect(typeof exports.main).toBe('function');
    expect(script.cachedDataRejected).toBe(false);
    expect(loadBundle(BUNDLE, { useCache: false }).script.cachedDataRejected).toBeUndefined();
  });

  it('is not used for another bundle of the same length, nor when it is missing', () => {
    const dir = tempDir('kdelay-bundle-');
    const source = readFileSync(BUNDLE, 'utf8');
    const at = source.indexOf('kdelay');
    const other = `${source.slice(0, at)}Kdelay${source.slice(at + 6)}`;
    expect(other.length).toBe(source.length);
    const file = join(dir, 'kdelay.cjs');
    writeFileSync(file, other);
    expect(readCache(file, Buffer.from(other))).toBeUndefined();
    copyFileSync(`${BUNDLE}.cache`, `${file}.cache`);
    expect(readCache(file, Buffer.from(other))).toBeUndefined();
    expect(readCache(file, Buffer.from(source))?.length).toBeGreaterThan(0);
  });

  it('leaves the built-in modules only some commands use unloaded until one of their members is read', () => {
    // A fresh process: this one has loaded them long ago. The stand-ins list each module's members without loading it.
    const script = `
      const { loadBundle } = require(${JSON.stringify(join(ROOT, 'bin', 'load-bundle.js'))});
      const before = new Set(process.moduleLoadList);
      loadBundle(${JSON.stringify(BUNDLE)});
      const loaded = (name) => process.moduleLoadList.some((m) => !before.has(m) && m === 'NativeModule ' + name);
      const names = ['http', 'zlib', 'readline', 'worker_threads', 'child_process'];
      console.log(JSON.stringify({ atStart: names.filter(loaded), gzip: typeof require('node:zlib').gzipSync }));`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as { atStart: string[] };
    expect(out).toEqual({ atStart: [], gzip: 'function' });
  });

  it('has no import(): the build turns them into require()', () => {
    expect(readFileSync(BUNDLE, 'utf8')).not.toMatch(/\bimport\(/);
  });
});
