/**
 * UPCALL STATISTICS. This machine has no Open vSwitch kernel datapath, so
 * the measured path here is "not available": one line, exit 0, the rest of
 * the report intact. The decisions and the layout are tested on their own.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
const facts = (hasFunction: boolean, hasKprobes: boolean, release = '6.18.0', machine = 'x86_64'): KernelFacts => ({
  tracefs: () => undefined,
  release: () => release,
  machine: () => machine,
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

  it('without kprobes, fexit needs module BTF for a module (5.11) and a BPF trampoline on arm64 (6.0)', () => {
    const moduleDir = mkdtempSync(join(tmpdir(), 'kdelay-ovs-'));
    writeFileSync(join(moduleDir, 'initstate'), 'live\n');
    expect(upcallPlan(facts(true, false, '5.10.0-32-amd64'), moduleDir)).toEqual({
      unavailable: 'needs kprobes or fexit: this kernel has no kprobes, and fentry/fexit on a module function need module BTF, from 5.11 on (this kernel is 5.10.0-32-amd64)',
    });
    expect(upcallPlan(facts(true, true, '5.10.0-32-amd64'), moduleDir)).toEqual({ attach: 'kretprobe' });
    expect(upcallPlan(facts(true, false, '6.1.0-28-amd64'), moduleDir)).toEqual({ attach: 'fexit' });
    // Built into vmlinux: its BTF is there on 5.10 too.
    expect(upcallPlan(facts(true, false, '5.10.0-32-amd64'), ROOT)).toEqual({ attach: 'fexit' });
    expect(upcallPlan(facts(true, false, '5.15.0-1-arm64', 'arm64'), ROOT)).toEqual({
      unavailable: 'needs kprobes or fexit: this kernel has no kprobes, and fentry/fexit need BPF trampolines, which arm64 has from 6.0 on (this kernel is 5.15.0-1-arm64)',
    });
    expect(upcallPlan(facts(true, true, '5.10.0-32-arm64', 'arm64'), moduleDir)).toEqual({ attach: 'kretprobe' });
  });
});

describe('system-wide sections', () => {
  it('print after the thread table, rows in the order the probe gave them', async () => {
    const { parseManifest } = await import('../host/report/manifest.js');
    const { readFileSync } = await import('node:fs');
    const manifest = parseManifest(readFileSync(join(ROOT, 'probes', 'upcall', 'manifest.json'), 'utf8'), 'upcall');
    const tables: SampleTables = new Map();
    const t = tableFor(tables, 'upcall', 2);
    t.add(0, 'Total upcalls', [1, 1500]);
    t.add(0, 'Successful upcalls', [1, 1490]);
    t.add(0, 'Failed upcalls', [1, 10]);
    t.add(0, '  ENOBUFS', [1, 10]);
    const indent = ' '.repeat(28);
    expect(formatSystemSections(manifest.sections, tables)).toEqual([
      '',
      '# UPCALL STATISTICS:',
      `${indent}${'RESULT'.padEnd(20)} ${'CPU'.padStart(6)}  ${'COUNT'.padStart(16)}`,
      [
        `${indent}${'Total upcalls'.padEnd(20)} ${'1'.padStart(6)}  ${'1,500'.padStart(16)}`,
        `${indent}${'Successful upcalls'.padEnd(20)} ${'1'.padStart(6)}  ${'1,490'.padStart(16)}`,
        `${indent}${'Failed upcalls'.padEnd(20)} ${'1'.padStart(6)}  ${'10'.padStart(16)}`,
        `${indent}${'  ENOBUFS'.padEnd(20)} ${'1'.padStart(6)}  ${'10'.padStart(16)}`,
      ].join('\n'),
    ]);
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
