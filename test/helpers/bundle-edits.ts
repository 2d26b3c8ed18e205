/**
 * Bundles changed after they were built, for the cases kdelay must refuse:
 * a built-in bundle with its manifest rewritten and the result sealed again
 * (unsigned, or by a test key), as someone could hand over with
 * --allow-unsigned. Much faster than compiling a variant.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { appendCustomSection, customSectionName, MANIFEST_SECTION, moduleSections } from '../../host/bundle/bundle.js';
import { sealBundle, splitSeal } from '../../host/bundle/seal.js';

const ROOT = join(import.meta.dirname, '..', '..');

export const builtinBundle = (name: string): Buffer => readFileSync(join(ROOT, 'bundles', `${name}.wasm`));

/** The manifest JSON text of a bundle. */
export function manifestText(bytes: Uint8Array): string {
  for (const section of moduleSections(bytes)) {
    if (section.id !== 0) continue;
    const { name, payload } = customSectionName(bytes, section);
    if (name === MANIFEST_SECTION) return Buffer.from(bytes.subarray(payload, section.end)).toString('utf8');
  }
  throw new Error('no manifest section');
}

/**
 * The bundle's body (without its seal) with the manifest replaced by text,
 * sealed again: digest only, or signed with privatePem.
 */
export function withManifestText(bytes: Uint8Array, text: string, privatePem?: string): Buffer {
  const { body } = splitSeal(bytes);
  const parts: Uint8Array[] = [body.subarray(0, 8)];
  for (const section of moduleSections(body)) {
    const isManifest = section.id === 0 && customSectionName(body, section).name === MANIFEST_SECTION;
    if (!isManifest) parts.push(body.subarray(section.start, section.end));
  }
  return sealBundle(appendCustomSection(Buffer.concat(parts), MANIFEST_SECTION, Buffer.from(text, 'utf8')), privatePem);
}

/** withManifestText for an edit of the parsed manifest. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a parsed manifest, edited freely to break it
export function withManifest(bytes: Uint8Array, edit: (manifest: Record<string, any>) => void, privatePem?: string): Buffer {
  const manifest = JSON.parse(manifestText(bytes));
  edit(manifest);
  return withManifestText(bytes, JSON.stringify(manifest), privatePem);
}
