/**
 * Temporary folders for tests, removed when the test file that made them
 * ends: importing this module registers an afterAll on the importing file
 * (vitest evaluates modules afresh for each test file, so each file gets its
 * own list). They are made in os.tmpdir(), which test/global-setup.ts points
 * at the run's own folder, removed after the run with whatever else is left
 * there.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const made: string[] = [];

afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh empty folder named `${prefix}XXXXXX`, removed after this test file. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
