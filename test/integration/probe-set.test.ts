/** Starting a set of probes is all or nothing: a failure releases what was already attached. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinBundles, ProbeError, ProbeSet } from '../../host/driver/probe-set.js';
import { hostArch, SyscallTable } from '../../host/syscalls/table.js';
import { loadedKdelayPrograms, requireBpf, skipWithoutBpf, waitUntilNoKdelayPrograms } from '../helpers/bpf.js';
import { guestBundle } from '../helpers/guests.js';

const ROOT = join(import.meta.dirname, '..', '..');
const manifest = (name: string, sectionId: string) => ({
  name,
  version: '0.0.0',
  abi: 1,
  description: 'test guest',
  sections: [{ id: sectionId, title: 'TEST', order: 999, columns: [{ header: 'COUNT', width: 10, gap: 0, format: 'int' }] }],
});

describe.skipIf(skipWithoutBpf)('probe set', () => {
  it('releases the probes already attached when a later one fails to start', async () => {
    requireBpf();
    const { LibbpfBackend } = await import('../../host/libbpf/libbpf-backend.js');
    const failing = await guestBundle('failing_probe', manifest('failing', 'failing_rows'));
    const bundles = [...builtinBundles(ROOT), failing];
    let error: unknown;
    try {
      ProbeSet.start(new LibbpfBackend(), bundles, { targetTgid: process.pid, syscalls: SyscallTable.for(hostArch() ?? 'x86_64') });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ProbeError);
    expect((error as Error).message).toBe('probe failing: kdelay_probe_init failed with EINVAL (no target)');
    // The syscalls probe had attached before the failure; nothing of it may remain.
    expect(await waitUntilNoKdelayPrograms()).toEqual([]);
  });

  it('refuses two probes that report the same section', async () => {
    requireBpf();
    const { LibbpfBackend } = await import('../../host/libbpf/libbpf-backend.js');
    const twin = await guestBundle('failing_probe', manifest('twin', 'syscalls'));
    const before = loadedKdelayPrograms();
    expect(() => ProbeSet.start(new LibbpfBackend(), [...builtinBundles(ROOT), twin], { targetTgid: process.pid, syscalls: SyscallTable.for(hostArch() ?? 'x86_64') })).toThrow(
      'probes syscalls and twin both report section "syscalls"',
    );
    expect(loadedKdelayPrograms()).toEqual(before);
  });
});
