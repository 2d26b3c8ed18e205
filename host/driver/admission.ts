/** The bundles a run or `kdelay probes list` may use, from $KDELAY_HOME and the flags (see catalog.ts). */
import { ExitCode, UserError } from '../base/exit-codes.js';
import { ManifestError } from '../bundle/manifest.js';
import { IntegrityError } from '../bundle/seal.js';
import { PACKAGE_ROOT } from '../package-root.js';
import { type CatalogEntry, DEFAULT_KDELAY_HOME, discoverBundles } from './catalog.js';
import type { KdelayOptions } from './options.js';

/** $KDELAY_HOME: a machine's own probes (probes.d/) and trusted keys (trusted-keys/). */
export const kdelayHome = (): string => process.env.KDELAY_HOME || DEFAULT_KDELAY_HOME;

export type DiscoveryOptions = Pick<KdelayOptions, 'probeFiles' | 'trustKeys' | 'allowUnsigned' | 'allowProgramKinds'>;

/** Every bundle this run may use (see catalog.ts); refusals are one line and exit 78. */
export function admittedBundles(options: DiscoveryOptions): CatalogEntry[] {
  try {
    return discoverBundles({
      packageRoot: PACKAGE_ROOT,
      probePaths: options.probeFiles,
      kdelayHome: kdelayHome(),
      trustKeyFiles: options.trustKeys,
      allowUnsigned: options.allowUnsigned,
      allowedProgramKinds: options.allowProgramKinds,
    });
  } catch (err) {
    if (err instanceof ManifestError || err instanceof IntegrityError) throw new UserError(err.message, ExitCode.CONFIG);
    throw err;
  }
}
