/**
 * The part of a ProbeSetConfig every way of running the probes shares
 * (`kdelay -p`, driver/measure.ts; `kdelay serve`, driver/serve-worker.ts):
 * the target, the plan's options, the syscall table, the host values. Each
 * adds what is its own (triggers, syscall events) by spreading this.
 */
import { ExitCode, UserError } from '../base/exit-codes.js';
import { hostArch, SyscallTable } from '../syscalls/table.js';
import type { Target } from '../system/procfs.js';
import type { KdelayOptions } from './options.js';
import type { ProbePlan } from './probe-plan.js';
import type { ProbeSetConfig } from './probe-set.js';

/**
 * targetThreads: the target's threads now, which probes keeping per-thread
 * state size their maps from (host value `target.threads`). extraText: text
 * options of the run's own (triggers), between --probe-option's and the
 * host's, which win over both.
 */
export function probeSetConfig(
  target: Pick<Target, 'pid' | 'kernelTgid'>,
  plan: Pick<ProbePlan, 'skip' | 'numeric' | 'text' | 'hostText'>,
  options: Pick<KdelayOptions, 'allowProgramKinds' | 'histograms'>,
  targetThreads: number,
  extraText: Record<string, string> = {},
): ProbeSetConfig {
  const arch = hostArch();
  if (!arch) throw new UserError(`no syscall table for this architecture (${process.arch})`, ExitCode.OSFILE);
  return {
    options: plan.numeric,
    targetTgid: target.kernelTgid,
    targetPid: target.pid,
    allowedProgramKinds: options.allowProgramKinds,
    syscalls: SyscallTable.for(arch),
    skip: plan.skip,
    stringOptions: { ...plan.text, ...extraText, ...plan.hostText },
    hostValues: { 'histograms.enabled': options.histograms ? 1n : 0n, 'target.threads': BigInt(targetThreads) },
  };
}
