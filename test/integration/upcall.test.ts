/**
 * UPCALL STATISTICS. This machine has no Open vSwitch kernel datapath, so
 * the measured path here is "not available": one line, exit 0, the rest of
 * the report intact. The decisions and the layout are tested on their own.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BpfBackend, type MapInfo, MapType, type OpenedObject } from '../../host/libbpf/backend.js';
import { bundleFromBytes } from '../../host/bundle/bundle.js';
import { ProbeGuest } from '../../host/runtime/probe-guest.js';
import { SharedMaps } from '../../host/runtime/shared-maps.js';
import { describe, expect, it } from 'vitest';
import { builtinBundles, ProbeSet } from '../../host/driver/probe-set.js';
import { formatSystemSections } from '../../host/report/system-sections.js';
import { unavailableLine } from '../../host/report/text-renderer.js';
import { hostArch, SyscallTable } from '../../host/syscalls/table.js';
import { kallsymsHasFunction, type KernelFacts, returnProbePlan } from '../../host/system/trigger-targets.js';
import { requireBpf, skipWithoutBpf, waitUntilNoKdelayPrograms } from '../helpers/bpf.js';
import { runKdelay } from '../helpers/kdelay.js';
import { tempDir } from '../helpers/temp-dirs.js';

const ROOT = join(import.meta.dirname, '..', '..');
const facts = (hasFunction: boolean, hasKprobes: boolean, release = '6.18.0', machine = 'x86_64'): KernelFacts => ({
  tracefs: () => undefined,
  release: () => release,
  machine: () => machine,
  hasKprobes: () => hasKprobes,
  hasKernelFunction: (name) => hasFunction && name === 'ovs_dp_upcall',
});

describe('kallsymsHasFunction', () => {
  // Lines as /proc/kallsyms prints them: vmlinux symbols end the line, a module's carry "\t[module]".
  const kallsyms = [
    'ffffffff81000000 T _stext',
    'ffffffff810a1230 t do_nanosleep',
    'ffffffffc0a01230 t ovs_dp_upcall\t[openvswitch]',
    'ffffffffc0a01400 t ovs_dp_upcall_more\t[openvswitch]',
    'ffffffffc0a02000 d ovs_net_ops\t[openvswitch]',
  ].join('\n');
  it.each([
    ['do_nanosleep', true],
    ['ovs_dp_upcall', true], // a module function: the matrix found this missed when only a space could follow
    ['ovs_dp_up', false],
    ['ovs_net_ops', false], // data, not a function
    ['_stext', true],
  ])('%s: %s', (name, found) => expect(kallsymsHasFunction(kallsyms, name)).toBe(found));
});

describe('returnProbePlan (the upcall probe\'s "from": "return_probe.ovs_dp_upcall")', () => {
  // A fake /sys with openvswitch loadable (initstate) and one with it built in (no initstate).
  const loadable = tempDir('kdelay-sys-');
  mkdirSync(join(loadable, 'module', 'openvswitch'), { recursive: true });
  writeFileSync(join(loadable, 'module', 'openvswitch', 'initstate'), 'live\n');
  const builtIn = tempDir('kdelay-sys-');
  mkdirSync(join(builtIn, 'module', 'openvswitch'), { recursive: true });
  const plan = (kernel: KernelFacts, sys: string) => returnProbePlan('ovs_dp_upcall', ['openvswitch'], kernel, sys);

  it.each([
    [false, true, { unavailable: 'the kernel has no ovs_dp_upcall function' }],
    [true, true, { attach: 'kretprobe' }],
    [true, false, { attach: 'fexit' }],
  ])('function %s, kprobes %s', (fn, kprobes, expected) => {
    expect(plan(facts(fn as boolean, kprobes as boolean), builtIn)).toEqual(expected);
  });

  it('without kprobes, fexit needs module BTF for a module (5.11) and a BPF trampoline on arm64 (6.0)', () => {
    expect(plan(facts(true, false, '5.10.0-32-amd64'), loadable)).toEqual({
      unavailable: 'needs kprobes or fexit: this kernel has no kprobes, and fentry/fexit on a module function need module BTF, from 5.11 on (this kernel is 5.10.0-32-amd64)',
    });
    expect(plan(facts(true, true, '5.10.0-32-amd64'), loadable)).toEqual({ attach: 'kretprobe' });
    expect(plan(facts(true, false, '6.1.0-28-amd64'), loadable)).toEqual({ attach: 'fexit' });
    // Built into vmlinux: its BTF is there on 5.10 too.
    expect(plan(facts(true, false, '5.10.0-32-amd64'), builtIn)).toEqual({ attach: 'fexit' });
    expect(plan(facts(true, false, '5.15.0-1-arm64', 'arm64'), builtIn)).toEqual({
      unavailable: 'needs kprobes or fexit: this kernel has no kprobes, and fentry/fexit need BPF trampolines, which arm64 has from 6.0 on (this kernel is 5.15.0-1-arm64)',
    });
    expect(plan(facts(true, true, '5.10.0-32-arm64', 'arm64'), loadable)).toEqual({ attach: 'kretprobe' });
  });
});

/**
 * The upcall probe's guest over a stand-in backend: the object "loads" and
 * "attaches" without a kernel, and upcall_results holds the given entries.
 * Everything else (the guest's code, the ABI, bounds checks) is the real one.
 */
function upcallGuestOver(entries: [cpu: number, ret: number, count: number][]): ProbeGuest {
  const fds: Record<string, number> = { upcall_results: 100, kdelay_map_full: 101, kdelay_gate: 102 };
  const infos: Record<number, MapInfo> = {
    100: { name: 'upcall_results', type: MapType.HASH, keySize: 8, valueSize: 8, maxEntries: 4096 },
    101: { name: 'kdelay_map_full', type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1 },
    102: { name: 'kdelay_gate', type: MapType.ARRAY, keySize: 4, valueSize: 64, maxEntries: 1 },
  };
  const object: OpenedObject = {
    name: 'upcall',
    setGlobal: () => {},
    setMaxEntries: () => {},
    setAutoload: () => {},
    reuseMap: () => {},
    mapInfo: (name) => infos[fds[name]],
    load: () => {},
    mapFd: (name) => fds[name],
    attach: () => ({ destroy: () => {} }),
    attachTo: () => ({ destroy: () => {} }),
    setAttachTarget: () => {},
    readIterator: () => new Uint8Array(),
    close: () => {},
  };
  const backend = {
    open: () => object,
    mapInfoByFd: (fd: number) => infos[fd],
    valueBytes: (info: MapInfo) => info.valueSize,
    possibleCpus: () => 4,
    lookup: () => 0, // kdelay_map_full: nothing lost
    lookupAll: (fd: number, keys: Uint8Array, values: Uint8Array) => {
      if (fd !== 100) return 0;
      const k = new DataView(keys.buffer, keys.byteOffset, keys.byteLength);
      const v = new DataView(values.buffer, values.byteOffset, values.byteLength);
      entries.forEach(([cpu, ret, count], i) => {
        k.setUint32(8 * i, cpu, true);
        k.setInt32(8 * i + 4, ret, true);
        v.setBigUint64(8 * i, BigInt(count), true);
      });
      return entries.length;
    },
    clear: () => {},
    closeFd: () => {},
    dupFd: (fd: number) => fd,
  } as unknown as BpfBackend;
  const bundle = bundleFromBytes(readFileSync(join(ROOT, 'bundles', 'upcall.wasm')), 'upcall.wasm');
  return new ProbeGuest(bundle, backend, new SharedMaps(backend), {
    option: () => undefined,
    optionString: (name) => (name === 'upcall.attach' ? 'kretprobe' : undefined),
    syscallNumber: () => undefined,
    syscallName: () => undefined,
  });
}

describe('system-wide sections', () => {
  it("UPCALL STATISTICS in the reference's layout (test/fixtures/upcall-layout.txt, from its format strings)", async () => {
    const { parseManifest } = await import('../../host/bundle/manifest.js');
    const manifest = parseManifest(readFileSync(join(ROOT, 'probes', 'upcall', 'manifest.json'), 'utf8'), 'upcall');
    const golden = readFileSync(join(ROOT, 'test', 'fixtures', 'upcall-layout.txt'), 'utf8').split('----\n');
    // The fixture's two samples as the kernel half leaves them: upcall_results entries {cpu, ret} -> count.
    const samples: [cpu: number, ret: number, count: number][][] = [
      [
        [0, 0, 1490],
        [1, 0, 3000],
        [0, -105, 10],
        [1, -11, 2],
        [3, -200, 1],
      ],
      [
        [0, 0, 5],
        [3, 0, 7],
      ],
    ];
    for (const [i, entries] of samples.entries()) {
      // The real guest (bundles/upcall.wasm) collects them through a backend that serves the map.
      const guest = upcallGuestOver(entries);
      try {
        guest.init();
        const tables = guest.collect();
        // The renderer prints these lines after the table's last newline: "\n\n# UPCALL ..." as the reference's print.
        expect(`${formatSystemSections(manifest.sections, tables).join('\n')}\n`).toBe(golden[i]);
      } finally {
        guest.close();
      }
    }
    expect(formatSystemSections(manifest.sections, new Map())).toEqual([]);
  });
});

describe.skipIf(skipWithoutBpf)('upcall statistics on this kernel', () => {
  it('not available: one line, exit 0, the rest of the report intact; --skip-upcall-stats: no line', async () => {
    requireBpf();
    // The reference's layout: the default one leaves UPCALL out for a target that is not ovs-vswitchd (newcomer.test.ts).
    const shown = await runKdelay(['-p', process.pid, '--sample-time', 0.2, '--format', 'reference']);
    expect(shown.code).toBe(0);
    expect(shown.stderr).toBe('');
    expect(shown.stdout).toMatch(/^TID {8}THREAD/m);
    expect(shown.stdout.match(/^# UPCALL STATISTICS: .*$/gm)).toEqual(['# UPCALL STATISTICS: not available (the openvswitch kernel module is not loaded)']);
    const skipped = await runKdelay(['-p', process.pid, '--sample-time', 0.2, '--format', 'reference', '--skip-upcall-stats']);
    expect(skipped.code).toBe(0);
    expect(skipped.stdout).not.toContain('UPCALL');
  });

  it('an optional probe that cannot attach is reported not available, and the others keep running', async () => {
    requireBpf();
    const { LibbpfBackend } = await import('../../host/libbpf/libbpf-backend.js');
    // Force the kretprobe: it loads here, but ovs_dp_upcall does not exist to attach to.
    const probes = ProbeSet.start(new LibbpfBackend(), builtinBundles(ROOT), {
      targetTgid: process.pid,
      syscalls: SyscallTable.for(hostArch() ?? 'x86_64'),
      stringOptions: { 'upcall.attach': 'kretprobe' },
    });
    try {
      expect(probes.unavailable).toHaveLength(1);
      expect(unavailableLine(probes.unavailable[0])).toMatch(
        /^# UPCALL STATISTICS: not available \(probe upcall: kdelay_probe_init failed with \w+ \(could not attach upcall_kretprobe\)\)$/,
      );
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
