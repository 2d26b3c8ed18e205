/**
 * Once per test run:
 * - fetch what the tests download (scripts/fetch-test-downloads.mjs, with its
 *   own timeout: a cold cache on a slow mirror must not eat a test's 60 s);
 * - make sure tracefs is mounted (the syscall-table test reads the running
 *   kernel's syscall events from it; some distributions and VMs do not mount
 *   it by default). Only root can, and only root runs the kernel tests anyway.
 * - give the run its own temporary folder: TMPDIR points into it for the test
 *   files (vitest starts their workers after this setup, with this
 *   process.env) and everything they start (gcc, the build scripts, npm,
 *   kdelay), and the teardown removes it. Tests remove their own folders
 *   after each file (test/helpers/temp-dirs.ts); this catches the rest: what
 *   a child process or a crashed worker left.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A cold cache downloads about 280 MB (Debian's package lists, mostly); a warm one nothing. */
const DOWNLOAD_TIMEOUT_MS = 15 * 60_000;

export default function setup() {
  fetchDownloads();
  const root = mkdtempSync(join(tmpdir(), 'kdelay-test-run-'));
  // As /tmp: tests run some processes as another user (setpriv), which must reach their files here.
  chmodSync(root, 0o1777);
  const outerTmpdir = process.env.TMPDIR;
  process.env.TMPDIR = root;
  mountTracefs();
  return () => {
    if (outerTmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = outerTmpdir;
    rmSync(root, { recursive: true, force: true });
  };
}

function fetchDownloads() {
  const script = join(import.meta.dirname, '..', 'scripts', 'fetch-test-downloads.mjs');
  try {
    execFileSync(process.execPath, [script], { stdio: ['ignore', 'ignore', 'pipe'], timeout: DOWNLOAD_TIMEOUT_MS });
  } catch (err) {
    // The tests that need them say what is missing (under CI=true they fail).
    console.warn(`could not fetch the tests' downloads within ${DOWNLOAD_TIMEOUT_MS / 60_000} min: ${(err as Error).message}`);
  }
}

function mountTracefs() {
  const tracefs = '/sys/kernel/tracing';
  if (process.geteuid?.() !== 0 || existsSync(`${tracefs}/events`)) return;
  try {
    execFileSync('mount', ['-t', 'tracefs', 'nodev', tracefs]);
  } catch (err) {
    console.warn(`could not mount tracefs at ${tracefs}: ${(err as Error).message}`);
  }
}
