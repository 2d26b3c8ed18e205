/**
 * Gates for tests that need the real kernel. Outside CI a machine without
 * BPF skips them with a printed reason; under CI=true they fail instead,
 * because CI has the kernel and a skipped kernel test would hide a break.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const IN_CI = Boolean(process.env.CI);

function whyNoBpf(): string | undefined {
  if (process.geteuid?.() !== 0) return 'not running as root';
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'the kernel has no BTF';
  if (!existsSync('/usr/lib/x86_64-linux-gnu/libbpf.so.1') && !existsSync('/usr/lib/aarch64-linux-gnu/libbpf.so.1')) return 'libbpf.so.1 is not installed';
  return undefined;
}

const reason = whyNoBpf();
if (reason && !IN_CI) console.warn(`skipping kernel tests: ${reason}`);

/** True when kernel tests must be skipped (never under CI). */
export const skipWithoutBpf = reason !== undefined && !IN_CI;

/** Call at the top of a kernel test: under CI, missing BPF is a failure. */
export function requireBpf(): void {
  if (reason) throw new Error(`kernel test cannot run: ${reason}`);
}

/** Name prefixes of the built-in probes' programs (each probe names its programs after itself). */
export const KDELAY_PROGRAM_PREFIXES = ['syscalls_', 'sched_', 'irq_', 'trigger_', 'upcall_'];

/** IDs of loaded BPF programs whose name starts with one of kdelay's program prefixes. */
export function loadedKdelayPrograms(prefixes = KDELAY_PROGRAM_PREFIXES): string[] {
  const out = execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' });
  const progs = JSON.parse(out) as { id: number; name?: string }[];
  return progs.filter((p) => p.name && prefixes.some((x) => p.name!.startsWith(x))).map((p) => `${p.id}:${p.name}`);
}

/** Programs are freed shortly after their last fd closes (RCU); wait for that. */
export async function waitUntilNoKdelayPrograms(prefixes = KDELAY_PROGRAM_PREFIXES, timeoutMs = 3000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let left = loadedKdelayPrograms(prefixes);
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    left = loadedKdelayPrograms(prefixes);
  }
  return left;
}
