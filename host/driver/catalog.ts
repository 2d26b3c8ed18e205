/**
 * Which probe bundles a run may use: discovery (built-ins, the probes
 * directory, --probe files and folders), integrity and trust (every bundle's
 * seal is checked before any of its code is compiled), and selection
 * (--only / --skip).
 *
 * Loading a bundle loads kernel code as root, so the rules are strict:
 * - a digest or signature that does not match is refused, always;
 * - a built-in bundle must be signed by the kdelay release key
 *   (keys/kdelay-release.pub, shipped with the package);
 * - any other bundle must be signed by a trusted key (the release key,
 *   $KDELAY_HOME/trusted-keys/*.pub, --trust-key FILE);
 * - --allow-unsigned lifts the last two rules (for your own builds), never
 *   the first;
 * - in a development checkout, an unsigned built-in that is exactly what the
 *   checkout's own sources build to is admitted (development-builds.ts), so
 *   contributors without the release key can build and test new probes.
 */
import { statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ExitCode, UserError } from '../base/exit-codes.js';
import { ManifestError } from '../bundle/manifest.js';
import { BpfError } from '../base/errno.js';
import { bundleFromBytes, embeddedObjects, type ProbeBundle } from '../bundle/bundle.js';
import { FileReadError, filesInFolder, MAX_BUNDLE_BYTES, MAX_KEY_BYTES, readRegularFile } from '../bundle/files.js';
import { checkProgramPolicy } from '../bundle/policy.js';
import { checkSeal, IntegrityError, type SealStatus, splitSeal, type TrustedKey, trustedKey } from '../bundle/seal.js';
import { whyNotDevelopmentBuild } from './development-builds.js';

/** Where a machine's own probes and keys live: probes.d/*.wasm, trusted-keys/*.pub. */
export const DEFAULT_KDELAY_HOME = '/etc/kdelay';
export const RELEASE_KEY_FILE = join('keys', 'kdelay-release.pub');
const RELEASE_KEY_NAME = 'kdelay release key';

export interface TrustConfig {
  /** $KDELAY_HOME (default /etc/kdelay): its trusted-keys/*.pub are trusted. */
  kdelayHome?: string;
  /** --trust-key FILE (repeatable). */
  trustKeyFiles?: string[];
  /** --allow-unsigned: run unsigned or untrusted bundles (never tampered ones). */
  allowUnsigned?: boolean;
  /** --allow-program-kind: kinds and helpers the program policy lets through anyway. */
  allowedProgramKinds?: readonly string[];
}

/**
 * Who vouches for an admitted bundle: its seal, or (an unsigned built-in in a
 * development checkout) that it is this checkout's own fresh build.
 */
export type AdmittedSeal = SealStatus | { kind: 'development' };

export interface CatalogEntry {
  bundle: ProbeBundle;
  /** 'built-in', or the file it was read from. */
  origin: string;
  seal: AdmittedSeal;
}

/** Files of a folder by suffix; a folder that cannot be listed is a refusal, one line. */
function filesIn(dir: string, suffix: string, missingOk = true): string[] {
  try {
    return filesInFolder(dir, suffix, { missingOk });
  } catch (err) {
    if (err instanceof FileReadError) throw new IntegrityError(err.message);
    throw err;
  }
}

function readPem(path: string, what: string): string {
  try {
    return readRegularFile(path, MAX_KEY_BYTES).toString('utf8');
  } catch (err) {
    if (err instanceof FileReadError) throw new IntegrityError(`${what} ${err.message}`);
    throw err;
  }
}

export function releaseKey(packageRoot: string): TrustedKey {
  return trustedKey(readPem(join(packageRoot, RELEASE_KEY_FILE), 'release key'), RELEASE_KEY_NAME);
}

/** Every key whose signature kdelay accepts on a third-party bundle. */
export function trustedKeys(packageRoot: string, config: TrustConfig, release = releaseKey(packageRoot)): TrustedKey[] {
  const keys = [release];
  const dir = join(config.kdelayHome ?? DEFAULT_KDELAY_HOME, 'trusted-keys');
  const files = [...filesIn(dir, '.pub'), ...(config.trustKeyFiles ?? [])];
  for (const file of files) keys.push(trustedKey(readPem(file, 'trusted key'), file));
  return keys;
}

/** One line for `probes list`: who vouches for a bundle. */
export function describeSeal(seal: AdmittedSeal): string {
  switch (seal.kind) {
    case 'development':
      return 'unsigned (built from this checkout)';
    case 'signed':
      return `signed (${seal.by.name})`;
    case 'untrusted':
      return `signed by untrusted key ${seal.signer}`;
    case 'unsigned':
      return seal.sealed ? 'unsigned (digest only)' : 'unsigned (no seal)';
  }
}

/**
 * Checks a file's seal against the trusted keys and decides whether it may
 * run: `builtin` files must carry the release key's signature (or, given
 * the checkout's root as `developmentRoot`, be its own fresh build), others
 * any trusted key's, unless allowUnsigned. Throws IntegrityError with the
 * reason when it may not (a changed file never may).
 */
export function admitSeal(
  bytes: Uint8Array,
  path: string,
  trusted: readonly TrustedKey[],
  options: { builtin: boolean; allowUnsigned: boolean; developmentRoot?: string },
): AdmittedSeal {
  let seal: SealStatus;
  try {
    seal = checkSeal(bytes, trusted);
  } catch (err) {
    if (err instanceof IntegrityError) throw new IntegrityError(`refusing ${path}: ${err.message}`);
    throw err;
  }
  let notDevelopmentBuild: string | undefined;
  if (options.builtin && options.developmentRoot && seal.kind === 'unsigned' && seal.sealed) {
    notDevelopmentBuild = whyNotDevelopmentBuild(options.developmentRoot, basename(path, '.wasm'), splitSeal(bytes).seal!.sha256);
    if (!notDevelopmentBuild) return { kind: 'development' };
  }
  if (!isVouchedFor(seal, options.builtin) && !options.allowUnsigned) {
    const why =
      seal.kind === 'untrusted'
        ? `it is signed by key ${seal.signer}, which kdelay does not trust (add --trust-key KEY.pub, or put the key in ${DEFAULT_KDELAY_HOME}/trusted-keys/)`
        : options.builtin
          ? `this built-in bundle is not signed by the kdelay release key${notDevelopmentBuild && notDevelopmentBuild !== 'not a development checkout' ? ` and ${notDevelopmentBuild}` : ' (a local rebuild? see probes/README.md, "Signing")'}`
          : 'it is not signed';
    throw new IntegrityError(`refusing ${path}: ${why}, and it loads kernel code as root; add --allow-unsigned if you trust it`);
  }
  return seal;
}

const isVouchedFor = (seal: AdmittedSeal, builtin: boolean) => seal.kind === 'signed' && (!builtin || seal.by.name === RELEASE_KEY_NAME);

/**
 * Reads a bundle, admits its seal (admitSeal) and checks its BPF objects
 * against the program policy, all before any of its code runs.
 */
export function admitBundle(
  path: string,
  trusted: readonly TrustedKey[],
  options: { builtin: boolean; allowUnsigned: boolean; allowedProgramKinds?: readonly string[]; developmentRoot?: string },
): CatalogEntry {
  let bytes: Buffer<ArrayBuffer>;
  try {
    bytes = readRegularFile(path, MAX_BUNDLE_BYTES);
  } catch (err) {
    if (err instanceof FileReadError) throw new IntegrityError(err.message);
    throw err;
  }
  const seal = admitSeal(bytes, path, trusted, options);
  // Built-ins the release key vouches for compile when first started (bundle.ts, bundleFromBytes).
  const vouched = options.builtin && isVouchedFor(seal, true);
  const bundle = bundleFromBytes(bytes, path, { compileLazily: vouched });
  if (seal.kind === 'development' && bundle.manifest.name !== basename(path, '.wasm')) {
    throw new IntegrityError(`refusing ${path}: an unsigned built-in must be named after its probe (${bundle.manifest.name}.wasm)`);
  }
  // The kernel code it carries, checked before any of the guest's code runs
  // (GuestSession checks again what the guest actually opens). Built-ins
  // signed by the release key skip this first pass: the release vouches for
  // them (test/unit/policy.test.ts checks every committed one), and it costs
  // start-up time on every run.
  for (const elf of vouched ? [] : embeddedObjects(bytes)) {
    try {
      checkProgramPolicy(elf, path, options.allowedProgramKinds);
    } catch (err) {
      if (err instanceof BpfError) throw new IntegrityError(`refusing ${err.message}`);
      throw err;
    }
  }
  return { bundle, origin: options.builtin ? 'built-in' : path, seal };
}

/**
 * The bundles shipped in the package (bundles/*.wasm), each checked against
 * the release key; in a development checkout, also this checkout's own
 * unsigned builds (development-builds.ts).
 */
export function builtinEntries(packageRoot: string, options: { allowUnsigned?: boolean; release?: TrustedKey } = {}): CatalogEntry[] {
  const trusted = [options.release ?? releaseKey(packageRoot)];
  return filesIn(join(packageRoot, 'bundles'), '.wasm', false).map((file) =>
    admitBundle(file, trusted, { builtin: true, allowUnsigned: options.allowUnsigned ?? false, developmentRoot: packageRoot }),
  );
}

export interface DiscoveryConfig extends TrustConfig {
  packageRoot: string;
  /** --probe PATH (repeatable): a bundle, or a folder of them. */
  probePaths?: string[];
}

/**
 * Every bundle this run could use, in load order: built-ins, then
 * $KDELAY_HOME/probes.d/*.wasm, then --probe paths. Names must be unique.
 */
export function discoverBundles(config: DiscoveryConfig): CatalogEntry[] {
  const allowUnsigned = config.allowUnsigned ?? false;
  // The release key is read and parsed once: it vouches for the built-ins and is trusted for the rest.
  const release = releaseKey(config.packageRoot);
  const entries = builtinEntries(config.packageRoot, { allowUnsigned, release });
  const trusted = trustedKeys(config.packageRoot, config, release);
  const probesDir = join(config.kdelayHome ?? DEFAULT_KDELAY_HOME, 'probes.d');
  const files = filesIn(probesDir, '.wasm');
  for (const path of config.probePaths ?? []) {
    let folder = false;
    try {
      folder = statSync(path).isDirectory();
    } catch {
      /* admitBundle reports the unreadable path */
    }
    files.push(...(folder ? filesIn(path, '.wasm', false) : [path]));
  }
  for (const file of files) {
    const entry = admitBundle(file, trusted, { builtin: false, allowUnsigned, allowedProgramKinds: config.allowedProgramKinds });
    const clash = entries.find((e) => e.bundle.manifest.name === entry.bundle.manifest.name);
    if (clash)
      throw new ManifestError(`${file}: a probe named ${entry.bundle.manifest.name} is already loaded (${clash.origin === 'built-in' ? clash.bundle.source : clash.origin})`);
    entries.push(entry);
  }
  return entries;
}

/**
 * --only / --skip: the names of probes not to run. Probes without report
 * sections (the trigger probe) are infrastructure and never skipped by
 * --only. Unknown names are a usage error, listing the known ones.
 */
export function unselectedProbes(entries: readonly CatalogEntry[], only: readonly string[], skip: readonly string[]): Set<string> {
  const names = entries.map((e) => e.bundle.manifest.name);
  for (const name of [...only, ...skip]) {
    if (!names.includes(name)) throw new UserError(`unknown probe '${name}' (available: ${names.join(', ')})`, ExitCode.USAGE);
  }
  const unselected = new Set(skip);
  if (only.length) {
    for (const entry of entries) {
      const { name, sections } = entry.bundle.manifest;
      if (sections.length > 0 && !only.includes(name)) unselected.add(name);
    }
  }
  return unselected;
}
