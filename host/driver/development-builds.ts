/**
 * Built-in bundles a contributor built in their own checkout, without the
 * release key (`npm run build:probes` with no key at hand).
 *
 * Such a bundle carries a digest only, and kdelay refuses unsigned built-ins
 * (catalog.ts). In a development checkout (a git work tree with probe
 * sources: never an installed package, which has neither .git nor probes/)
 * it is admitted when it is exactly what this checkout's own sources build
 * to: build:probes records, next to the probe's other build outputs, the
 * digest of the bundle it wrote and of every source file the build read;
 * kdelay admits the bundle when both still match. An edited bundle, or
 * sources edited after the build, are refused as before, with a line that
 * says to rebuild.
 *
 * This trusts nothing an attacker could not already change: whoever can
 * write the record can write kdelay's own code in the same checkout. What
 * stays gated on the release key is what ships: `npm run check:probes` (CI)
 * refuses any committed bundle the release key did not sign.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Where build:probes records a bundle it built unsigned (probes/NAME/build/ is gitignored). */
export const developmentRecordFile = (root: string, name: string): string => join(root, 'probes', name, 'build', 'development-build.json');

export interface DevelopmentRecord {
  /** The bundle body's SHA-256 (what its seal's digest says). */
  bundle_sha256: string;
  /** probeSourcesDigest() when it was built. */
  sources_sha256: string;
}

/** A git work tree (.git is a folder, or a file in a linked worktree) holding the probes' sources. */
export function isDevelopmentCheckout(root: string): boolean {
  return existsSync(join(root, '.git')) && existsSync(join(root, 'probes', 'include'));
}

function filesUnder(root: string, dir: string, skip: (name: string) => boolean): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    if (skip(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...filesUnder(root, path, skip));
    else if (entry.isFile()) files.push(path);
  }
  return files;
}

/**
 * SHA-256 over every file a probe's build reads, names included: the
 * probe's folder (not its build/ outputs), the shared C headers and
 * AssemblyScript library, and the AssemblyScript configuration.
 */
export function probeSourcesDigest(root: string, name: string): string {
  const skipBuild = (entry: string) => entry === 'build';
  const files = [
    ...filesUnder(root, join('probes', name), skipBuild),
    ...filesUnder(root, join('probes', 'include'), skipBuild),
    ...filesUnder(root, join('probes', 'lib'), skipBuild),
    'asconfig.json',
  ].sort();
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(`${relative(root, join(root, file))}\0${statSync(join(root, file)).size}\0`);
    hash.update(readFileSync(join(root, file)));
  }
  return hash.digest('hex');
}

/**
 * Whether an unsigned built-in bundle (its name, its body's digest) is this
 * checkout's own fresh build. Undefined when it is; otherwise why not, for
 * the refusal's message.
 */
export function whyNotDevelopmentBuild(root: string, name: string, bundleSha256: string): string | undefined {
  if (!isDevelopmentCheckout(root)) return 'not a development checkout';
  let record: DevelopmentRecord;
  try {
    record = JSON.parse(readFileSync(developmentRecordFile(root, name), 'utf8')) as DevelopmentRecord;
  } catch {
    return `this checkout did not build it (no ${relative(root, developmentRecordFile(root, name))})`;
  }
  if (record.bundle_sha256 !== bundleSha256) return 'it is not the bundle this checkout last built';
  if (!existsSync(join(root, 'probes', name)) || record.sources_sha256 !== probeSourcesDigest(root, name))
    return `probes/${name} changed since it was built: run 'npm run build:probes -- ${name}'`;
  return undefined;
}
