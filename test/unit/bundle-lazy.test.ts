/**
 * Built-ins the release key vouches for are compiled when first started
 * (bundle.ts, compileLazily): the manifest read from the bytes must be the
 * one the compiled module's custom section holds, and a broken module must
 * still be refused, only later.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendCustomSection, bundleFromBytes, MANIFEST_SECTION } from '../../host/bundle/bundle.js';

const BUNDLES = join(import.meta.dirname, '..', '..', 'bundles');

describe('bundleFromBytes with compileLazily', () => {
  for (const file of readdirSync(BUNDLES).filter((f) => f.endsWith('.wasm'))) {
    it(`reads ${file}'s manifest as the eager path does, and compiles the same module`, () => {
      const bytes = new Uint8Array(readFileSync(join(BUNDLES, file)));
      const eager = bundleFromBytes(bytes, file);
      const lazy = bundleFromBytes(bytes, file, { compileLazily: true });
      expect(lazy.manifest).toEqual(eager.manifest);
      expect(WebAssembly.Module.exports(lazy.module)).toEqual(WebAssembly.Module.exports(eager.module));
      expect(lazy.module).toBe(lazy.module); // compiled once
    });
  }

  it('refuses a file with no manifest or no wasm header at once, and a module that does not compile when it is used', () => {
    const empty = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    expect(() => bundleFromBytes(empty, 'empty.wasm', { compileLazily: true })).toThrow(/no kdelay.manifest section/);
    expect(() => bundleFromBytes(new Uint8Array(8), 'zeros.wasm', { compileLazily: true })).toThrow(/not a WebAssembly module/);
    // A real manifest after a section id no module may have: found by the section walk, refused by the compiler.
    const irq = bundleFromBytes(new Uint8Array(readFileSync(join(BUNDLES, 'irq.wasm'))), 'irq.wasm');
    const manifest = new Uint8Array(WebAssembly.Module.customSections(irq.module, MANIFEST_SECTION)[0]);
    const broken = new Uint8Array(appendCustomSection(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0x7f, 0]), MANIFEST_SECTION, manifest));
    expect(() => bundleFromBytes(broken, 'broken.wasm')).toThrow(/broken.wasm: not a WebAssembly module/);
    const lazy = bundleFromBytes(broken, 'broken.wasm', { compileLazily: true });
    expect(lazy.manifest).toEqual(irq.manifest);
    expect(() => lazy.module).toThrow(/broken.wasm: not a WebAssembly module/);
  });

  it('compiles in the background when asked, the module then being the one compiled there', async () => {
    const bytes = new Uint8Array(readFileSync(join(BUNDLES, 'sched.wasm')));
    const lazy = bundleFromBytes(bytes, 'sched.wasm', { compileLazily: true });
    const compiling = lazy.compileInBackground!();
    expect(lazy.compileInBackground!()).toBe(compiling); // asked twice, compiled once
    await compiling;
    const compiled = lazy.module;
    expect(WebAssembly.Module.exports(compiled)).toContainEqual({ name: 'kdelay_probe_load', kind: 'function' });
    expect(lazy.module).toBe(compiled);
  });

  it('a module that does not compile in the background is refused when it is used, with the same message', async () => {
    const irq = bundleFromBytes(new Uint8Array(readFileSync(join(BUNDLES, 'irq.wasm'))), 'irq.wasm');
    const manifest = new Uint8Array(WebAssembly.Module.customSections(irq.module, MANIFEST_SECTION)[0]);
    const broken = new Uint8Array(appendCustomSection(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0x7f, 0]), MANIFEST_SECTION, manifest));
    const lazy = bundleFromBytes(broken, 'broken.wasm', { compileLazily: true });
    await expect(lazy.compileInBackground!()).resolves.toBeUndefined();
    expect(() => lazy.module).toThrow(/broken.wasm: not a WebAssembly module/);
  });
});
