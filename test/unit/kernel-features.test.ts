/** Manifest `requires` checked against a kernel (host/system/kernel-features.ts). */
import { execFileSync } from 'node:child_process';
import { buildSync } from 'esbuild';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BpfBackend } from '../../host/libbpf/backend.js';
import { hostElfMachine } from '../../host/runtime/kdelay-imports.js';
import { releaseAtLeast } from '../../host/base/kernel-release.js';
import { KernelFeatures, missingArchitecture, missingRequirement } from '../../host/system/kernel-features.js';
import { tempDir } from '../helpers/temp-dirs.js';

/** A fake /sys with just these paths. */
function fakeSys(paths: string[]): string {
  const sys = tempDir('kdelay-sys-');
  for (const p of paths) mkdirSync(join(sys, p), { recursive: true });
  return sys;
}
const backend = (programs: number[], maps: number[]) =>
  ({ supportsProgramType: (t: number) => programs.includes(t), supportsMapType: (t: number) => maps.includes(t) }) as unknown as BpfBackend;

describe('kernel release comparison', () => {
  it.each([
    ['6.18.0-1-amd64', '5.8', true],
    ['5.8.0', '5.8', true],
    ['5.7.19', '5.8', false],
    ['5.10', '5.8.1', true],
    ['4.19.0-21', '99', false],
    ['6.1.0-rc1', '6.1.0', true],
  ])('%s >= %s: %s', (have, want, expected) => expect(releaseAtLeast(have, want)).toBe(expected));
});

describe('requirements', () => {
  const full = new KernelFeatures(backend([17], [27]), {
    sys: fakeSys(['kernel/btf/vmlinux', 'module/openvswitch', 'bus/event_source/devices/uprobe', 'kernel/tracing/events']),
    release: '6.18.0',
    arch: 'x64',
  });
  const bare = new KernelFeatures(backend([], []), { sys: fakeSys([]), release: '5.4.0', arch: 'arm64' });

  it.each(['btf', 'tp_btf', 'raw_tp', 'ringbuf', 'uprobes', 'tracefs', 'kernel module openvswitch', 'kernel>=5.8', 'x86-64'])('%s is met on a full kernel', (r) =>
    expect(full.check(r)).toBeUndefined(),
  );

  it.each([
    ['btf', 'no kernel BTF (SYS/kernel/btf/vmlinux; CONFIG_DEBUG_INFO_BTF)'],
    ['raw_tp', 'this kernel does not support raw tracepoints'],
    ['ringbuf', 'this kernel does not support BPF ring buffers'],
    ['kprobes', 'no kprobe PMU (CONFIG_KPROBES is off)'],
    ['uprobes', 'no uprobe PMU (CONFIG_UPROBE_EVENTS is off)'],
    ['tracefs', 'tracefs is not mounted'],
    ['kernel module openvswitch', 'the openvswitch kernel module is not loaded'],
    ['kernel>=5.8', 'this kernel is 5.4.0'],
    ['x86-64', 'this machine is arm64'],
    ['quantum_tp', 'a kernel feature this kdelay does not know how to check (a newer probe?)'],
  ])('%s is missing on a bare kernel, saying why', (r, why) => {
    expect(bare.check(r)?.replace(/\/\S*\/kdelay-sys-\w+/, 'SYS')).toBe(why);
  });

  it('names the first unmet requirement', () => {
    expect(missingRequirement(['btf', 'kernel>=99', 'kprobes'], full)).toBe(`needs kernel>=99: this kernel is 6.18.0`);
    expect(missingRequirement(['btf', 'tp_btf'], full)).toBeUndefined();
    expect(missingRequirement([], bare)).toBeUndefined();
  });

  it('without BPF access, says the BPF checks could not be made, and that it is a permission problem', () => {
    const unprivileged = new KernelFeatures(undefined, { sys: fakeSys(['kernel/btf/vmlinux']), release: '6.18.0', arch: 'x64' }, ['CAP_PERFMON']);
    expect(unprivileged.check('ringbuf')).toBe("cannot check whether this kernel supports BPF ring buffers: kdelay lacks CAP_PERFMON (a permission problem, not the kernel's)");
    expect(unprivileged.check('tp_btf')).toMatch(/^cannot check whether this kernel supports raw tracepoints: kdelay lacks CAP_PERFMON/);
  });

  it.skipIf(process.geteuid?.() !== 0)('tracefs that exists but cannot be read is a permission problem, not a missing mount', () => {
    const sys = fakeSys(['kernel/tracing/events/x']);
    chmodSync(sys, 0o755); // only tracing/ itself is closed to other users, as on a real system
    chmodSync(join(sys, 'kernel', 'tracing'), 0o700);
    // Another user's process runs plain JavaScript: the module, compiled by esbuild from host/ (no dist/ needed).
    const { outputFiles } = buildSync({
      stdin: {
        contents: `import { KernelFeatures } from './host/system/kernel-features.ts';
          console.log(new KernelFeatures(undefined, { sys: ${JSON.stringify(sys)}, release: '6.18.0', arch: 'x64' }).check('tracefs'));`,
        resolveDir: join(import.meta.dirname, '..', '..'),
        loader: 'ts',
      },
      bundle: true,
      platform: 'node',
      format: 'esm',
      write: false,
    });
    const code = outputFiles[0].text;
    const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--input-type=module', '-e', code], { encoding: 'utf8' });
    expect(out.trim()).toBe(`no permission to read ${sys}/kernel/tracing (needs root or CAP_DAC_READ_SEARCH)`);
  });
});

describe('the machine a bundle was built for', () => {
  it.each([
    [['x86_64', 'arm64'], 'x64', undefined],
    [['x86_64', 'arm64'], 'arm64', undefined],
    [['x86_64'], 'arm64', 'needs x86_64: this machine is arm64, and the bundle carries no BPF object for it'],
    [['arm64'], 'x64', 'needs arm64: this machine is x86_64, and the bundle carries no BPF object for it'],
    [['x86_64', 'arm64'], 'riscv64', 'needs x86_64 or arm64: this machine is riscv64, and the bundle carries no BPF object for it'],
    // Bundles from before per-architecture objects were built with the x86 pt_regs only.
    [undefined, 'arm64', 'needs x86_64: this machine is arm64, and the bundle carries no BPF object for it'],
  ])('architectures %j on %s', (architectures, arch, why) => {
    expect(missingArchitecture(architectures, arch)).toBe(why);
  });

  it('tells a guest its machine as an ELF e_machine (how it picks its object)', () => {
    expect([hostElfMachine('x64'), hostElfMachine('arm64'), hostElfMachine('riscv64')]).toEqual([62, 183, 0]);
  });
});
