/**
 * The privileges kdelay needs, as capabilities rather than a uid: since
 * Linux 5.8, CAP_BPF (load programs, create maps) plus CAP_PERFMON (tracing
 * programs, perf events for uprobes) are enough; before 5.8 both were part
 * of CAP_SYS_ADMIN. Read from CapEff in /proc/self/status.
 */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { ExitCode, UserError } from '../base/exit-codes.js';
import { releaseAtLeast } from '../base/kernel-release.js';

/** Capability numbers (include/uapi/linux/capability.h). */
export const Capability = {
  CAP_DAC_READ_SEARCH: 2,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_ADMIN: 21,
  CAP_SYSLOG: 34,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
} as const;
export type CapabilityName = keyof typeof Capability;

/** The effective capability set of this process (or of the status text given). */
export function effectiveCapabilities(status = readFileSync('/proc/self/status', 'utf8')): bigint {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  return hex === undefined ? 0n : BigInt(`0x${hex}`);
}

export function hasCapability(set: bigint, name: CapabilityName): boolean {
  return ((set >> BigInt(Capability[name])) & 1n) === 1n;
}

/**
 * The capabilities missing to load and attach kdelay's probes: none, or
 * the split pair (5.8+), or CAP_SYS_ADMIN on an older kernel. CAP_SYS_ADMIN
 * alone still covers both on new kernels.
 */
export function missingBpfCapabilities(set = effectiveCapabilities(), kernelRelease = release()): CapabilityName[] {
  if (hasCapability(set, 'CAP_SYS_ADMIN')) return [];
  if (!releaseAtLeast(kernelRelease, '5.8')) return ['CAP_SYS_ADMIN'];
  return (['CAP_BPF', 'CAP_PERFMON'] as const).filter((name) => !hasCapability(set, name));
}

/** Throws exit 77 naming exactly what is missing. */
export function requireBpfCapabilities(set = effectiveCapabilities(), kernelRelease = release()): void {
  const missing = missingBpfCapabilities(set, kernelRelease);
  if (missing.length === 0) return;
  const need = releaseAtLeast(kernelRelease, '5.8') ? 'CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)' : `CAP_SYS_ADMIN (this kernel, ${kernelRelease}, predates CAP_BPF)`;
  throw new UserError(`missing ${missing.join(' and ')}: loading BPF probes needs ${need}; run as root or grant them (e.g. setcap, or setpriv --ambient-caps)`, ExitCode.NOPERM);
}
