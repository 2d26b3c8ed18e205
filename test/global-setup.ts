/**
 * Once per test run: make sure tracefs is mounted (the syscall-table test
 * reads the running kernel's syscall events from it; some distributions and
 * VMs do not mount it by default). Only root can, and only root runs the
 * kernel tests anyway.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export default function setup() {
  const tracefs = '/sys/kernel/tracing';
  if (process.geteuid?.() !== 0 || existsSync(`${tracefs}/events`)) return;
  try {
    execFileSync('mount', ['-t', 'tracefs', 'nodev', tracefs]);
  } catch (err) {
    console.warn(`could not mount tracefs at ${tracefs}: ${(err as Error).message}`);
  }
}
