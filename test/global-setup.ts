/**
 * Once per test run:
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

export default function setup() {
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

function mountTracefs() {
  const tracefs = '/sys/kernel/tracing';
  if (process.geteuid?.() !== 0 || existsSync(`${tracefs}/events`)) return;
  try {
    execFileSync('mount', ['-t', 'tracefs', 'nodev', tracefs]);
  } catch (err) {
    console.warn(`could not mount tracefs at ${tracefs}: ${(err as Error).message}`);
  }
}
