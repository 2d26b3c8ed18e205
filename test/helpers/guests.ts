/** Builds AssemblyScript test guests from test/guests/ in memory, optionally as probe bundles. */
import asc from 'assemblyscript/asc';
import { join } from 'node:path';
import { appendCustomSection, bundleFromBytes, MANIFEST_SECTION, type ProbeBundle } from '../../host/bundle/bundle.js';

export async function compileGuest(name: string): Promise<Uint8Array<ArrayBuffer>> {
  let binary: Uint8Array<ArrayBuffer> | undefined;
  const { error, stderr } = await asc.main([join(import.meta.dirname, '..', 'guests', `${name}.ts`), '--runtime', 'stub', '--exportTable', '--outFile', `${name}.wasm`], {
    // asc writes the .wasm as bytes (text outputs as strings); a copy owns a plain ArrayBuffer, as WebAssembly.Module wants.
    writeFile: (file, contents) => void (file.endsWith('.wasm') && typeof contents !== 'string' && (binary = new Uint8Array(contents))),
  });
  if (error) throw new Error(`asc failed on ${name}: ${error.message}\n${stderr.toString()}`);
  return binary!;
}

export async function guestBundle(name: string, manifest: object): Promise<ProbeBundle> {
  const wasm: Buffer = appendCustomSection(Buffer.from(await compileGuest(name)), MANIFEST_SECTION, Buffer.from(JSON.stringify(manifest)));
  return bundleFromBytes(new Uint8Array(wasm), `test/guests/${name}.ts`);
}
