/**
 * The installed package's root (holds bundles/, keys/ and vendor/): the
 * nearest folder above this file with kdelay's package.json. Code runs both
 * from dist/host/ (tsc's output, for tests and scripts) and from the one-file
 * CLI bundle dist/kdelay.cjs, at different depths. Depends on nothing in
 * kdelay, so every layer may use it.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_ROOT = packageRoot(dirname(fileURLToPath(import.meta.url)));

function packageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    try {
      if (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name === 'kdelay') return dir;
    } catch {
      /* no package.json here, or not ours: keep going up */
    }
    if (dirname(dir) === dir) throw new Error(`kdelay: cannot find its package root above ${from}`);
  }
}
