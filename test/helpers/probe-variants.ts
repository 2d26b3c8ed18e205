/**
 * Third-party probe bundles for tests, built at test time from the example
 * probe (examples/pagefaults) exactly as an author would build theirs:
 * `npm run build:probe-folder -- DIR OUT [--key KEY.pem]`. A variant is a renamed
 * copy with changes (an extra BPF program, manifest fields), for the cases
 * kdelay must refuse or skip.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './temp-dirs.js';

const ROOT = join(import.meta.dirname, '..', '..');
const EXAMPLE = 'pagefaults';

export interface KeyPair {
  privatePem: string;
  publicPem: string;
  /** The two as files (KEY.pem, KEY.pub) in a temporary folder. */
  privateFile: string;
  publicFile: string;
}

export function makeKeyPair(): KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const dir = tempDir('kdelay-key-');
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  writeFileSync(join(dir, 'key.pem'), privatePem, { mode: 0o600 });
  writeFileSync(join(dir, 'key.pub'), publicPem);
  return { privatePem, publicPem, privateFile: join(dir, 'key.pem'), publicFile: join(dir, 'key.pub') };
}

export interface Variant {
  /** Appended to the BPF C source (e.g. a forbidden program). */
  extraBpf?: string;
  /** Merged into manifest.json (e.g. requires). */
  manifest?: Record<string, unknown>;
}

/**
 * Builds examples/pagefaults (name 'pagefaults') or a variant of it under
 * another name, into a fresh temporary folder; returns the bundle's path.
 */
export function buildExampleProbe(name = EXAMPLE, variant: Variant = {}, key?: KeyPair): string {
  let dir = join('examples', EXAMPLE);
  if (name !== EXAMPLE) {
    // Two levels below the root, like examples/pagefaults, so its relative imports still resolve.
    dir = join('.test-probes', name);
    const abs = join(ROOT, dir);
    rmSync(abs, { recursive: true, force: true });
    mkdirSync(abs, { recursive: true });
    for (const ext of ['.bpf.c', '.ts']) cpSync(join(ROOT, 'examples', EXAMPLE, `${EXAMPLE}${ext}`), join(abs, `${name}${ext}`));
    const ts = join(abs, `${name}.ts`);
    writeFileSync(ts, readFileSync(ts, 'utf8').replaceAll(`./build/${EXAMPLE}.`, `./build/${name}.`)); // .bpf and .layout
    if (variant.extraBpf) writeFileSync(join(abs, `${name}.bpf.c`), readFileSync(join(abs, `${name}.bpf.c`), 'utf8') + variant.extraBpf);
    const manifest = JSON.parse(readFileSync(join(ROOT, 'examples', EXAMPLE, 'manifest.json'), 'utf8'));
    writeFileSync(join(abs, 'manifest.json'), JSON.stringify({ ...manifest, ...variant.manifest, name }));
  }
  const out = tempDir('kdelay-probe-');
  const args = [join(ROOT, 'scripts', 'build-probe-folder.mjs'), dir, out, ...(key ? ['--key', key.privateFile] : [])];
  try {
    execFileSync(join(ROOT, 'node_modules', '.bin', 'zx'), args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  } catch (err) {
    // What the author would read: the build's own message.
    throw new Error(`build of ${dir} failed: ${(err as { stderr?: string }).stderr?.trim()}`, { cause: err });
  }
  return join(out, `${name}.wasm`);
}

/** Moves a built bundle into dir (e.g. $KDELAY_HOME/probes.d) and returns its new path. */
export function moveInto(bundle: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const to = join(dir, bundle.split('/').pop()!);
  renameSync(bundle, to);
  return to;
}
