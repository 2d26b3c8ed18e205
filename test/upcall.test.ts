/**
 * UPCALL STATISTICS. This machine has no Open vSwitch kernel datapath, so
 * the measured path here is "not available": one line, exit 0, the rest of
 * the report intact. The decisions and the layout are tested on their own.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinBundles, ProbeSet } from '../host/driver/probe-set.js';
import { formatSystemSections } from '../host/report/format.js';
import { type SampleTables, tableFor } from '../host/report/section-table.js';
import { hostArch, SyscallTable } from '../host/syscalls/table.js';
import { type KernelFacts, upcallPlan } from '../host/target/trigger-targets.js';
import { requireBpf, skipWithoutBpf, waitUntilNoKdelayPrograms } from './helpers/bpf.js';
import { runKdelay } from './helpers/kdelay.js';

const ROOT = join(import.meta.dirname, '..');
const facts = (hasFunction: boolean, hasKprobes: boolean): KernelFacts => ({
  tracefs: () => undefined,
  hasKprobes: () => hasKprobes,
  hasKernelFunction: (name) => hasFunction && name === 'ovs_dp_upcall',
});

describe('upcallPlan', () => {
  it.each([
    ['/nonexistent', true, true, { unavailable: 'the openvswitch kernel module is not loaded' }],
    [ROOT, false, true, { unavailable: 'the kernel has no ovs_dp_upcall function' }],
    [ROOT, true, true, { attach: 'kretprobe' }],
    [ROOT, true, false, { attach: 'fexit' }],
  ])('module dir %s, function %s, kprobes %s', (dir, fn, kprobes, plan) => {
    expect(upcallPlan(facts(fn as boolean, kprobes as boolean), dir as string)).toEqual(plan);
  });
});

describe('system-wide sections', () => {
  it("UPCALL STATISTICS in the reference's layout (test/fixtures/upcall-layout.txt, from its format strings)", async () => {
    const { parseManifest } = await import('../host/report/manifest.js');
    const { readFileSync } = await import('node:fs');
    const manifest = parseManifest(readFileSync(join(ROOT, 'probes', 'upcall', 'manifest.json'), 'utf8'), 'upcall');
    const golden = readFileSync(join(ROOT, 'test', 'fixtures', 'upcall-layout.txt'), 'utf8').split('----\n');
    // The rows probes/upcall/upcall.ts reports for the fixture's two samples: per (cpu, -errno) map entry,
    // a Total row; with failures, Successfull rows (errno 0), Failed rows, then each errno's rows.
    const samples: [cpu: number, errno: number, count: number][][] = [
      [[0, 0, 1490], [1, 0, 3000], [0, 105, 10], [1, 11, 2], [3, 200, 1]],
      [[0, 0, 5], [3, 0, 7]],
    ];
    const names: Record<number, string> = { 11: 'EAGAIN', 105: 'ENOBUFS' };
    samples.forEach((entries, i) => {
      const tables: SampleTables = new Map();
      const t = tableFor(tables, 'upcall', 2);
      for (const [cpu, , n] of entries) t.add(0, 'Total upcalls', [cpu, n]);
      if (entries.some(([, e, n]) => e !== 0 && n > 0)) {
        for (const [cpu, e, n] of entries) if (e === 0) t.add(0, 'Successfull upcalls', [cpu, n]);
        for (const [cpu, e, n] of entries) if (e !== 0) t.add(0, 'Failed upcalls', [cpu, n]);
        for (const errno of [...new Set(entries.map(([, e]) => e).filter((e) => e))].sort((a, b) => a - b)) {
          const label = `  ${String(errno).padStart(3)}, ${(names[errno] ?? '_unknown_').padEnd(13)}`;
          for (const [cpu, e, n] of entries) if (e === errno) t.add(0, label, [cpu, n]);
        }
      }
      // The renderer prints these lines after the table's last newline: "\n\n# UPCALL ..." as the reference's print.
      expect(`${formatSystemSections(manifest.sections, tables).join('\n')}\n`).toBe(golden[i]);
    });
    expect(formatSystemSections(manifest.sections, new Map())).toEqual([]);
  });
});

describe.skipIf(skipWithoutBpf)('upcall statistics on this kernel', () => {
  it('not available: one line, exit 0, the rest of the report intact; --skip-upcall-stats: no line', async () => {
    requireBpf();
    const shown = await runKdelay(['-p', process.pid, '--sample-time', 0.2]);
    expect(shown.code).toBe(0);
    expect(shown.stderr).toBe('');
    expect(shown.stdout).toMatch(/^TID {8}THREAD/m);
    expect(shown.stdout.match(/^# UPCALL STATISTICS: .*$/gm)).toEqual(['# UPCALL STATISTICS: not available (the openvswitch kernel module is not loaded)']);
    const skipped = await runKdelay(['-p', process.pid, '--sample-time', 0.2, '--skip-upcall-stats']);
    expect(skipped.code).toBe(0);
    expect(skipped.stdout).not.toContain('UPCALL');
  });

  it('an optional probe that cannot attach is reported not available, and the others keep running', async () => {
    requireBpf();
    const { LibbpfBackend } = await import('../host/libbpf/libbpf-backend.js');
    // Force the kretprobe: it loads here, but ovs_dp_upcall does not exist to attach to.
    const probes = ProbeSet.start(new LibbpfBackend(), builtinBundles(ROOT), {
      targetTgid: process.pid,
      syscalls: SyscallTable.for(hostArch() ?? 'x86_64'),
      stringOptions: { 'upcall.attach': 'kretprobe' },
    });
    try {
      expect(probes.unavailable).toHaveLength(1);
      expect(probes.unavailable[0]).toMatch(/^# UPCALL STATISTICS: not available \(probe upcall: kdelay_probe_init failed with \w+ \(could not attach upcall_kretprobe\)\)$/);
      probes.gate.open();
      await new Promise((r) => setTimeout(r, 20));
      probes.gate.close();
      expect(probes.collect().tables.get('syscalls')?.count).toBeGreaterThan(0);
    } finally {
      await probes.close();
    }
    expect(await waitUntilNoKdelayPrograms(['upcall_', 'syscalls_'])).toEqual([]);
  });
});
