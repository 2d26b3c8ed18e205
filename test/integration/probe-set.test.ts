/**
 * Starting a set of probes is all or nothing: a failure releases what was
 * already attached. The built-ins load apart: every probe's objects are
 * loaded, one after another on the main thread (libbpf-backend.ts, load),
 * before anything attaches.
 */
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
  it('loads every built-in in turn, and attaches only once all are loaded', async () => {
    requireBpf();
    const { LibbpfBackend } = await import('../../host/libbpf/libbpf-backend.js');
    const events: string[] = [];
    class Watched extends LibbpfBackend {
      override open(elf: Uint8Array, name: string) {
        const obj = super.open(elf, name);
        const [load, attach] = [obj.load.bind(obj), obj.attach.bind(obj)];
        obj.load = () => {
          events.push(`load ${name}`);
          load();
          events.push(`loaded ${name}`);
        };
        obj.attach = (program) => (events.push(`attach ${name}`), attach(program));
        return obj;
      }
    }
    const probes = await ProbeSet.start(new Watched(), builtinBundles(ROOT), { targetTgid: process.pid, syscalls: SyscallTable.for(hostArch() ?? 'x86_64') });
    try {
      const loads = events.filter((e) => e.startsWith('load '));
      // irq, sched and syscalls by default (trigger loads nothing without a trigger; account and upcall are not asked for or not available here).
      expect(loads).toEqual(expect.arrayContaining(['load irq', 'load sched', 'load syscalls']));
      // Each load ends before the next begins: libbpf's BTF parse reuses the last one's memory.
      const lastEnd = events.findLastIndex((e) => e.startsWith('loaded '));
      expect(events.slice(0, lastEnd + 1)).toEqual(loads.flatMap((l) => [l, l.replace('load ', 'loaded ')]));
      expect(events.slice(lastEnd + 1).length).toBeGreaterThan(0);
      expect(events.slice(lastEnd + 1).every((e) => e.startsWith('attach '))).toBe(true);
      expect(probes.sections.map((s) => s.id)).toEqual(expect.arrayContaining(['syscalls', 'run', 'hardirq']));
    } finally {
      await probes.close();
    }
    expect(await waitUntilNoKdelayPrograms()).toEqual([]);
  });

  it('releases the probes already attached when a later one fails to start', async () => {
    requireBpf();
    const { LibbpfBackend } = await import('../../host/libbpf/libbpf-backend.js');
    const failing = await guestBundle('failing_probe', manifest('failing', 'failing_rows'));
    const bundles = [...builtinBundles(ROOT), failing];
    let error: unknown;
    try {
      await ProbeSet.start(new LibbpfBackend(), bundles, { targetTgid: process.pid, syscalls: SyscallTable.for(hostArch() ?? 'x86_64') });
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
    await expect(
      ProbeSet.start(new LibbpfBackend(), [...builtinBundles(ROOT), twin], { targetTgid: process.pid, syscalls: SyscallTable.for(hostArch() ?? 'x86_64') }),
    ).rejects.toThrow('probes syscalls and twin both report section "syscalls"');
    expect(loadedKdelayPrograms()).toEqual(before);
  });
});
