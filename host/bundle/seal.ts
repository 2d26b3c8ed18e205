/**
 * A bundle's seal: its digest and, optionally, its author's Ed25519
 * signature, carried in the bundle itself as its LAST section, the custom
 * section `kdelay.seal`. A bundle stays one file to hand over, and the seal
 * covers every byte before it (the "body": code, embedded BPF object,
 * manifest).
 *
 * The payload is JSON, so `strings bundle.wasm | tail -1` shows it:
 *   {"format":1,"sha256":"<hex of the body>","signer":"<key id>","signature":"<base64>"}
 * An unsigned bundle has only format and sha256. The signature is over the
 * text `kdelay-bundle-seal-v1:<sha256 hex>` (domain-separated, so a
 * signature made for anything else never verifies as a bundle's).
 *
 * Ed25519 signatures are deterministic: the same body signed with the same
 * key gives the same bytes, which keeps signed bundles reproducible.
 */
import { ManifestError } from './manifest.js';
import { appendCustomSection, customSectionName, moduleSections } from './bundle.js';
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';

export const SEAL_SECTION = 'kdelay.seal';
const SEAL_FORMAT = 1;
const SIGNED_PREFIX = 'kdelay-bundle-seal-v1:';

export class IntegrityError extends Error {}

export interface Seal {
  format: number;
  sha256: string;
  signer?: string;
  signature?: string;
}

/** The bundle split at its seal: body (what the seal covers) and the seal, if any. */
export function splitSeal(bytes: Uint8Array): { body: Uint8Array; seal?: Seal } {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new IntegrityError('not a WebAssembly module');
  }
  let sealAt = -1;
  let seal: Uint8Array | undefined;
  try {
    for (const section of moduleSections(bytes)) {
      if (sealAt >= 0) throw new IntegrityError(`${SEAL_SECTION} is not the last section`);
      if (section.id !== 0) continue;
      const { name, payload } = customSectionName(bytes, section);
      if (name === SEAL_SECTION) {
        sealAt = section.start;
        seal = bytes.subarray(payload, section.end);
      }
    }
  } catch (err) {
    // A file cut short: the same refusal as any other changed file.
    if (err instanceof ManifestError) throw new IntegrityError(err.message);
    throw err;
  }
  if (sealAt < 0 || !seal) return { body: bytes };
  let parsed: Seal;
  try {
    parsed = JSON.parse(Buffer.from(seal).toString('utf8')) as Seal;
  } catch {
    throw new IntegrityError(`${SEAL_SECTION} is not JSON`);
  }
  if (!isObject(parsed) || parsed.format !== SEAL_FORMAT || typeof parsed.sha256 !== 'string') throw new IntegrityError(`${SEAL_SECTION} has an unknown format`);
  checkCanonical(parsed, seal);
  return { body: bytes.subarray(0, sealAt), seal: parsed };
}

const isObject = (v: unknown): v is Seal => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What sealBundle writes for these fields, byte for byte. */
const canonicalSeal = ({ format, sha256, signer, signature }: Seal): string =>
  JSON.stringify(signer === undefined && signature === undefined ? { format, sha256 } : { format, sha256, signer, signature });

/**
 * A seal is accepted only in the one encoding sealBundle writes: lower-case
 * hex digest and key id, canonical base64 of a 64-byte signature (base64
 * decoders ignore non-zero padding bits, so without this one signature had
 * several spellings that all verified), and no other bytes or fields.
 */
function checkCanonical(seal: Seal, payload: Uint8Array): void {
  const fail = (what: string): never => {
    throw new IntegrityError(`${SEAL_SECTION} is not in canonical form (${what})`);
  };
  if (!/^[0-9a-f]{64}$/.test(seal.sha256)) fail('sha256 must be 64 lower-case hex digits');
  if (seal.signer !== undefined && (typeof seal.signer !== 'string' || !/^[0-9a-f]{16}$/.test(seal.signer))) fail('signer must be 16 lower-case hex digits');
  if (seal.signature !== undefined) {
    if (typeof seal.signature !== 'string' || !/^[A-Za-z0-9+/]{86}==$/.test(seal.signature)) fail('signature must be the base64 of 64 bytes');
    if (Buffer.from(seal.signature, 'base64').toString('base64') !== seal.signature) fail('signature has non-canonical base64 padding bits');
  }
  if (Buffer.from(payload).toString('utf8') !== canonicalSeal(seal)) fail('extra fields, spacing or key order');
}

export const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** A short, stable name for a public key: the first 16 hex digits of SHA-256 of its raw 32 bytes. */
export function keyId(key: KeyObject): string {
  const raw = Buffer.from(key.export({ format: 'jwk' }).x as string, 'base64url');
  return sha256Hex(raw).slice(0, 16);
}

/** Appends a seal to a module that has none; signed when a private key is given. */
export function sealBundle(body: Uint8Array, privateKeyPem?: string): Buffer {
  if (splitSeal(body).seal) throw new IntegrityError('the bundle is already sealed');
  const sha256 = sha256Hex(body);
  const seal: Seal = { format: SEAL_FORMAT, sha256 };
  if (privateKeyPem) {
    const key = createPrivateKey(privateKeyPem);
    if (key.asymmetricKeyType !== 'ed25519') throw new IntegrityError('signing keys must be Ed25519');
    seal.signer = keyId(createPublicKey(key));
    seal.signature = sign(null, Buffer.from(SIGNED_PREFIX + sha256), key).toString('base64');
  }
  return appendCustomSection(body, SEAL_SECTION, Buffer.from(canonicalSeal(seal), 'utf8'));
}

/** A public key kdelay trusts, and where the trust came from (for messages). */
export interface TrustedKey {
  id: string;
  key: KeyObject;
  /** e.g. "kdelay release key", or the .pub file it was read from. */
  name: string;
}

export function trustedKey(publicKeyPem: string, name: string): TrustedKey {
  let key: KeyObject;
  try {
    key = createPublicKey(publicKeyPem);
  } catch (err) {
    throw new IntegrityError(`${name}: not a PEM public key (${(err as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new IntegrityError(`${name}: not an Ed25519 key`);
  return { id: keyId(key), key, name };
}

/** What checking a bundle's seal found. Bundles that fail the check never get here: it throws. */
export type SealStatus =
  | { kind: 'signed'; by: TrustedKey }
  /** Signed, correctly, by a key kdelay does not trust. */
  | { kind: 'untrusted'; signer: string }
  /** A digest only, or (plain wasm-bpf guests) no seal at all. */
  | { kind: 'unsigned'; sealed: boolean };

/**
 * Checks a bundle's digest and signature. Throws IntegrityError when either
 * does not match (the file was changed after it was sealed); otherwise says
 * who signed it. Whether an unsigned or untrusted bundle may run is the
 * caller's decision.
 */
export function checkSeal(bytes: Uint8Array, trusted: readonly TrustedKey[]): SealStatus {
  const { body, seal } = splitSeal(bytes);
  if (!seal) return { kind: 'unsigned', sealed: false };
  const digest = sha256Hex(body);
  if (digest !== seal.sha256) throw new IntegrityError(`digest mismatch: the file was changed after it was sealed (sha256 ${digest}, sealed as ${seal.sha256})`);
  if (seal.signature === undefined && seal.signer === undefined) return { kind: 'unsigned', sealed: true };
  if (typeof seal.signature !== 'string' || typeof seal.signer !== 'string') throw new IntegrityError(`${SEAL_SECTION} has a signer without a signature`);
  const key = trusted.find((k) => k.id === seal.signer);
  if (!key) return { kind: 'untrusted', signer: seal.signer };
  if (!verify(null, Buffer.from(SIGNED_PREFIX + digest), key.key, Buffer.from(seal.signature, 'base64'))) {
    throw new IntegrityError(`the signature does not match (claims to be by ${key.name}, key ${key.id})`);
  }
  return { kind: 'signed', by: key };
}
