/**
 * Bundle seals: the digest and Ed25519 signature every bundle carries as its
 * last section, and what kdelay does with them (host/bundle/seal.ts,
 * host/driver/catalog.ts).
 */
import { appendFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinEntries, describeSeal, releaseKey } from '../../host/driver/catalog.js';
import { developmentRecordFile, probeSourcesDigest } from '../../host/driver/development-builds.js';
import { appendCustomSection, MANIFEST_SECTION } from '../../host/bundle/bundle.js';
import { checkSeal, IntegrityError, keyId, sealBundle, sha256Hex, splitSeal, trustedKey } from '../../host/bundle/seal.js';
import { BUILTIN_PROBES } from '../helpers/bpf.js';
import { makeKeyPair } from '../helpers/probe-variants.js';
import { createPublicKey } from 'node:crypto';
import { tempDir } from '../helpers/temp-dirs.js';

const ROOT = join(import.meta.dirname, '..', '..');
const author = makeKeyPair();
const stranger = makeKeyPair();
const trusted = [trustedKey(author.publicPem, 'author.pub')];

/** A small valid module: the header, then a manifest-like custom section. */
const body = (): Buffer => appendCustomSection(Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]), MANIFEST_SECTION, Buffer.from('{"name":"x"}'));
const flip = (bytes: Uint8Array, at: number) => {
  const copy = Buffer.from(bytes);
  copy[at] ^= 0x01;
  return copy;
};

/** The bundle with its seal's JSON replaced by text (same body). */
const resealedAs = (sealed: Uint8Array, edit: (json: string) => string): Buffer => {
  const { body: inner, seal } = splitSeal(sealed);
  return appendCustomSection(inner, 'kdelay.seal', Buffer.from(edit(JSON.stringify(seal)), 'utf8'));
};

describe('bundle seals', () => {
  it('accepts only the canonical encoding: other padding bits, spacing or extra fields are refused', () => {
    const sealed = sealBundle(body(), author.privatePem);
    const { seal } = splitSeal(sealed);
    const sig = seal!.signature!;
    // The last character before "==" carries 4 padding bits that decoders ignore.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const last = alphabet.indexOf(sig[85]);
    const sameBytes = sig.slice(0, 85) + alphabet[(last & ~15) | ((last + 1) & 15)] + '==';
    expect(Buffer.from(sameBytes, 'base64').equals(Buffer.from(sig, 'base64'))).toBe(true);
    expect(() =>
      checkSeal(
        resealedAs(sealed, (j) => j.replace(sig, sameBytes)),
        trusted,
      ),
    ).toThrow(/non-canonical base64/);
    expect(() =>
      checkSeal(
        resealedAs(sealed, (j) => j.replace(sig, sig.slice(0, 86))),
        trusted,
      ),
    ).toThrow(/base64 of 64 bytes/);
    expect(() =>
      checkSeal(
        resealedAs(sealed, (j) => j.replace('{', '{ ')),
        trusted,
      ),
    ).toThrow(/canonical form/);
    expect(() =>
      checkSeal(
        resealedAs(sealed, (j) => j.replace('}', ',"x":1}')),
        trusted,
      ),
    ).toThrow(/canonical form/);
    expect(() =>
      checkSeal(
        resealedAs(sealed, (j) => j.replace(seal!.sha256, seal!.sha256.toUpperCase())),
        trusted,
      ),
    ).toThrow(/canonical form/);
    expect(
      checkSeal(
        resealedAs(sealed, (j) => j),
        trusted,
      ).kind,
    ).toBe('signed');
  });

  it('a signed bundle verifies against its author key, and names it', () => {
    const status = checkSeal(sealBundle(body(), author.privatePem), trusted);
    expect(status).toEqual({ kind: 'signed', by: trusted[0] });
  });

  it('is reproducible: the same body and key give the same bytes (Ed25519 is deterministic)', () => {
    expect(sealBundle(body(), author.privatePem).equals(sealBundle(body(), author.privatePem))).toBe(true);
  });

  it('covers every byte before it: one flipped bit anywhere in the body is a digest mismatch', () => {
    const sealed = sealBundle(body(), author.privatePem);
    for (const at of [4, 12, body().length - 1]) expect(() => checkSeal(flip(sealed, at), trusted)).toThrow(/digest mismatch/);
  });

  it('a changed signature, or a digest re-computed by someone without the key, does not verify', () => {
    const sealed = sealBundle(body(), author.privatePem);
    const { seal } = splitSeal(sealed);
    const sig = Buffer.from(seal!.signature!, 'base64');
    sig[0] ^= 1;
    const forged = Buffer.from(sealed.toString('latin1').replace(seal!.signature!, sig.toString('base64')), 'latin1');
    expect(() => checkSeal(forged, trusted)).toThrow(IntegrityError);
    expect(() => checkSeal(forged, trusted)).toThrow(/signature does not match/);
    // Changing the body and re-sealing with another key leaves a signature by that key: untrusted, not "signed".
    const resealed = sealBundle(splitSeal(flip(sealed, 12)).body, stranger.privatePem);
    expect(checkSeal(resealed, trusted)).toEqual({ kind: 'untrusted', signer: keyId(createPublicKey(stranger.publicPem)) });
  });

  it('tells unsigned bundles apart: a digest only, or no seal at all (plain wasm-bpf guests)', () => {
    expect(checkSeal(sealBundle(body()), trusted)).toEqual({ kind: 'unsigned', sealed: true });
    expect(checkSeal(body(), trusted)).toEqual({ kind: 'unsigned', sealed: false });
    expect(() => checkSeal(flip(sealBundle(body()), 12), trusted)).toThrow(/digest mismatch/);
  });

  it('must be the last section, and is written once', () => {
    const sealed = sealBundle(body());
    expect(() => sealBundle(sealed)).toThrow('already sealed');
    const trailing = appendCustomSection(sealed, 'later', Buffer.from('x'));
    expect(() => checkSeal(trailing, trusted)).toThrow('kdelay.seal is not the last section');
    expect(() => checkSeal(sealed.subarray(0, sealed.length - 3), trusted)).toThrow(/runs past the end/);
  });

  it('accepts only Ed25519 keys', () => {
    expect(() => trustedKey('not a key', 'x.pub')).toThrow('x.pub: not a PEM public key');
  });

  it("every built-in is signed by the release key that ships in keys/, or is this checkout's own build of its sources", () => {
    const entries = builtinEntries(ROOT);
    expect(entries.map((e) => e.bundle.manifest.name)).toEqual(BUILTIN_PROBES);
    // Committed bundles are all signed: `npm run check:probes` (CI) refuses a development build.
    for (const entry of entries) expect([{ kind: 'signed', by: releaseKey(ROOT) }, { kind: 'development' }]).toContainEqual(entry.seal);
  });
});

describe('development builds (a checkout without the release key)', () => {
  const name = 'irq';
  /** A checkout of its own: .git, the probe's sources, an unsigned bundle of it and (unless told otherwise) build:probes' record. */
  function checkout({ git = true, record = true } = {}) {
    const root = tempDir('kdelay-checkout-');
    if (git) mkdirSync(join(root, '.git'));
    for (const dir of [join('probes', name), join('probes', 'include'), join('probes', 'lib'), 'keys']) {
      cpSync(join(ROOT, dir), join(root, dir), { recursive: true, filter: (src) => !src.endsWith('/build') });
    }
    cpSync(join(ROOT, 'asconfig.json'), join(root, 'asconfig.json'));
    const body = splitSeal(readFileSync(join(ROOT, 'bundles', `${name}.wasm`))).body;
    mkdirSync(join(root, 'bundles'));
    writeFileSync(join(root, 'bundles', `${name}.wasm`), sealBundle(body));
    if (record) {
      mkdirSync(join(root, 'probes', name, 'build'));
      writeFileSync(developmentRecordFile(root, name), JSON.stringify({ bundle_sha256: sha256Hex(body), sources_sha256: probeSourcesDigest(root, name) }));
    }
    return root;
  }
  const refusal = (root: string) => {
    try {
      builtinEntries(root);
    } catch (err) {
      return (err as Error).message;
    }
    return undefined;
  };

  it("admits an unsigned built-in that is exactly what the checkout's sources built", () => {
    const [entry] = builtinEntries(checkout());
    expect(entry.seal).toEqual({ kind: 'development' });
    expect(describeSeal(entry.seal)).toBe('unsigned (built from this checkout)');
  });

  it('refuses it when the sources changed since, or it did not build it, or it is not a checkout (an installed copy)', () => {
    const edited = checkout();
    appendFileSync(join(edited, 'probes', 'include', 'kdelay_gate.bpf.h'), '\n');
    expect(refusal(edited)).toMatch(/is not signed by the kdelay release key and probes\/irq changed since it was built: run 'npm run build:probes -- irq'/);
    expect(refusal(checkout({ record: false }))).toMatch(/not signed by the kdelay release key and this checkout did not build it/);
    expect(refusal(checkout({ git: false }))).toMatch(/is not signed by the kdelay release key \(a local rebuild\?/);
    const swapped = checkout();
    writeFileSync(
      join(swapped, 'bundles', `${name}.wasm`),
      sealBundle(appendCustomSection(splitSeal(readFileSync(join(ROOT, 'bundles', `${name}.wasm`))).body, 'x', Buffer.from('y'))),
    );
    expect(refusal(swapped)).toMatch(/it is not the bundle this checkout last built/);
  });
});
