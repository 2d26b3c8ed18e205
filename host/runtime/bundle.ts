/**
 * A probe bundle: one .wasm file holding the guest code, the CO-RE BPF object
 * it loads (in its data segment) and its manifest (custom section
 * `kdelay.manifest`).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { ManifestError, parseManifest, type ProbeManifest } from '../report/manifest.js';

export const MANIFEST_SECTION = 'kdelay.manifest';

export interface ProbeBundle {
  manifest: ProbeManifest;
  module: WebAssembly.Module;
  /** Where it came from, for messages: a path. */
  source: string;
}

export function bundleFromBytes(bytes: Uint8Array<ArrayBuffer>, source: string): ProbeBundle {
  let module: WebAssembly.Module;
  try {
    module = new WebAssembly.Module(bytes);
  } catch (err) {
    throw new ManifestError(`${source}: not a WebAssembly module (${(err as Error).message})`);
  }
  const sections = WebAssembly.Module.customSections(module, MANIFEST_SECTION);
  if (sections.length !== 1) throw new ManifestError(`${source}: no ${MANIFEST_SECTION} section; not a kdelay probe bundle`);
  const manifest = parseManifest(Buffer.from(sections[0]).toString('utf8'), source);
  return { manifest, module, source };
}

export function readBundle(path: string): ProbeBundle {
  let bytes: Buffer<ArrayBuffer>;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new ManifestError(`${basename(path)}: cannot read (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  return bundleFromBytes(bytes, path);
}
