/** Capabilities instead of uid (host/system/capabilities.ts): what is missing, by kernel release. */
import { afterEach, describe, expect, it } from 'vitest';
import { requireBpf, skipWithoutBpf, waitUntilNoKdelayPrograms } from '../helpers/bpf.js';
import { asNobodyWith, sampleWorkload } from '../helpers/kdelay.js';
import { labelledRow, parseReport } from '../helpers/report.js';
import { type RunningWorkload, startWorkload } from '../helpers/workloads.js';
import { ExitCode, UserError } from '../../host/base/exit-codes.js';
import { effectiveCapabilities, missingBpfCapabilities, requireBpfCapabilities } from '../../host/system/capabilities.js';

const bit = (n: number) => 1n << BigInt(n);
const [SYS_ADMIN, PERFMON, BPF] = [bit(21), bit(38), bit(39)];

describe('capabilities', () => {
  it('reads CapEff from /proc/PID/status', () => {
    expect(effectiveCapabilities('Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000000c000000000\n')).toBe(BPF | PERFMON);
  });

  it.each([
    ['root', [], SYS_ADMIN | BPF | PERFMON, '6.18.0'],
    ['CAP_SYS_ADMIN alone, 6.x', [], SYS_ADMIN, '6.18.0'],
    ['CAP_BPF + CAP_PERFMON, 5.8', [], BPF | PERFMON, '5.8.0'],
    ['CAP_BPF only', ['CAP_PERFMON'], BPF, '6.1.0'],
    ['CAP_PERFMON only', ['CAP_BPF'], PERFMON, '6.1.0'],
    ['nothing', ['CAP_BPF', 'CAP_PERFMON'], 0n, '6.1.0'],
    ['CAP_BPF + CAP_PERFMON on 5.4 (no CAP_BPF yet)', ['CAP_SYS_ADMIN'], BPF | PERFMON, '5.4.0-150-generic'],
  ])('%s: missing %j', (_name, missing, set, release) => expect(missingBpfCapabilities(set, release)).toEqual(missing));

  it('exits 77 with one sentence naming what is missing and what would do', () => {
    const error = (() => {
      try {
        requireBpfCapabilities(BPF, '6.1.0');
      } catch (err) {
        return err as UserError;
      }
    })();
    expect(error).toBeInstanceOf(UserError);
    expect(error!.exitCode).toBe(ExitCode.NOPERM);
    expect(error!.message).toBe(
      'missing CAP_PERFMON: loading BPF probes needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN); run as root or grant them (e.g. setcap, or setpriv --ambient-caps)',
    );
    expect(() => requireBpfCapabilities(BPF | PERFMON, '5.4.0')).toThrow('missing CAP_SYS_ADMIN: loading BPF probes needs CAP_SYS_ADMIN (this kernel, 5.4.0, predates CAP_BPF)');
  });
});

let workload: RunningWorkload | undefined;
afterEach(async () => {
  await workload?.stop();
  workload = undefined;
});

describe.skipIf(skipWithoutBpf)('least privilege on the real kernel', () => {
  it("another user with exactly CAP_BPF and CAP_PERFMON measures root's process: exact counts", async () => {
    requireBpf();
    workload = await startWorkload('syscall_workload', [2, 500, 0, 3, 0]);
    const { code, stdout, stderr } = await sampleWorkload(workload, [], { wrapper: asNobodyWith(['bpf', 'perfmon']) });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const workers = parseReport(stdout).filter((t) => t.name.startsWith('worker-'));
    expect(workers, stdout).toHaveLength(2);
    for (const w of workers) {
      expect(labelledRow(w.sections.get('SYSCALL STATISTICS'), 'getppid')![1], stdout).toBe(500);
      expect(labelledRow(w.sections.get('SYSCALL STATISTICS'), 'write')![1], stdout).toBe(3);
    }
    expect(await waitUntilNoKdelayPrograms()).toEqual([]);
  });
});
