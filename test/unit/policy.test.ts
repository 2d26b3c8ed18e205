/** The program-kind allow-list applied to every BPF object before it is opened. */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BpfError } from '../../host/base/errno.js';
import { checkProgramPolicy, programSections } from '../../host/bundle/policy.js';
import { bundleFromBytes, embeddedObjects } from '../../host/bundle/bundle.js';
import { sealBundle, splitSeal } from '../../host/bundle/seal.js';
import { BUILTIN_PROBES } from '../helpers/bpf.js';
import { runKdelay } from '../helpers/kdelay.js';
import { tempDir } from '../helpers/temp-dirs.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** Compiles a one-program BPF object with clang (as the probe build does). */
function bpfObject(section: string, body = 'return 0;'): Uint8Array {
  const dir = tempDir('kdelay-policy-');
  writeFileSync(
    join(dir, 'p.bpf.c'),
    `#define SEC(n) __attribute__((section(n), used))\nSEC("${section}") int prog(void *ctx) { ${body} }\nchar LICENSE[] SEC("license") = "GPL";\n`,
  );
  execFileSync('clang', ['-O2', '-target', 'bpf', '-c', join(dir, 'p.bpf.c'), '-o', join(dir, 'p.o')]);
  return readFileSync(join(dir, 'p.o'));
}

describe('program policy', () => {
  it.each(['tp_btf/sched_switch', 'raw_tp', 'tracepoint', 'kprobe/do_sys_openat2', 'uretprobe', 'usdt', 'fexit/ovs_dp_upcall'])('allows %s', (section) => {
    expect(programSections(bpfObject(section))).toContain(section);
    expect(() => checkProgramPolicy(bpfObject(section), 'test')).not.toThrow();
  });

  it.each(['xdp', 'tc', 'lsm/file_open', 'cgroup_skb/ingress', 'struct_ops/x', 'socket'])('refuses %s', (section) => {
    expect(() => checkProgramPolicy(bpfObject(section), 'test')).toThrow(BpfError);
    expect(() => checkProgramPolicy(bpfObject(section), 'test')).toThrow(`test: program section "${section}" is not an allowed kind`);
  });

  it.each([
    ['probe_write_user', 36],
    ['override_return', 58],
    ['send_signal', 109],
    ['send_signal_thread', 117],
  ])('refuses a tracing program that calls bpf_%s (helper %i)', (name, id) => {
    // Calling a helper by its number is what bpf_helper_defs.h expands to.
    const elf = bpfObject('tp_btf/sys_enter', `long (*helper)(long, long, long) = (void *)${id}; return helper(0, 0, 0);`);
    expect(() => checkProgramPolicy(elf, 'test')).toThrow(`test: program section "tp_btf/sys_enter" calls bpf_${name}, which changes the traced system`);
    expect(() => checkProgramPolicy(elf, 'test', [name])).not.toThrow();
  });

  it('lets through an observing helper, and a refused kind the user names', () => {
    expect(() => checkProgramPolicy(bpfObject('tp_btf/sys_enter', 'long (*helper)(void) = (void *)14; return helper();'), 'test')).not.toThrow();
    expect(() => checkProgramPolicy(bpfObject('xdp'), 'test', ['xdp'])).not.toThrow();
    expect(() => checkProgramPolicy(bpfObject('xdp/eth0'), 'test', ['xdp'])).not.toThrow();
    expect(() => checkProgramPolicy(bpfObject('tc'), 'test', ['xdp'])).toThrow('"tc" is not an allowed kind');
  });

  it('refuses what is not an ELF object', () => {
    expect(() => checkProgramPolicy(new Uint8Array(100), 'test')).toThrow('not an ELF64 little-endian object');
  });

  it('lets every committed bundle through (every embedded object, one per architecture or one for all)', () => {
    const bundles = readdirSync(join(ROOT, 'bundles')).filter((f) => f.endsWith('.wasm'));
    expect(bundles.length).toBeGreaterThanOrEqual(5);
    for (const file of bundles) {
      const bytes = readFileSync(join(ROOT, 'bundles', file));
      const { manifest } = bundleFromBytes(bytes, file);
      expect(manifest.architectures, file).toEqual(['x86_64', 'arm64']);
      const objects = embeddedObjects(bytes);
      // upcall and trigger read pt_regs (kretprobe, USDT), syscalls the number of the call a
      // sys_exit returns from, and account the registers a thread first seen entered the kernel
      // with (and so do sched's programs, which do the account's work with --verdict), so they
      // differ per architecture.
      expect(objects, file).toHaveLength(['upcall.wasm', 'trigger.wasm', 'syscalls.wasm', 'account.wasm', 'sched.wasm'].includes(file) ? 2 : 1);
      for (const elf of objects) {
        expect(programSections(elf).length, file).toBeGreaterThan(1);
        expect(() => checkProgramPolicy(elf, file)).not.toThrow();
      }
    }
  });
});

describe('third-party bundles on the command line', () => {
  it('kdelay probes list shows the built-in bundles', async () => {
    const { code, stdout } = await runKdelay(['probes', 'list']);
    expect(code).toBe(0);
    expect(stdout.split('\n')[0]).toMatch(/^NAME +VERSION +ARCH +SOURCE +SIGNATURE +SECTIONS$/);
    // A contributor's new or changed probe, built without the release key, is admitted as this checkout's build.
    for (const name of BUILTIN_PROBES)
      expect(stdout).toMatch(new RegExp(`^${name} +\\S+ +x86_64,arm64 +built-in +(signed \\(kdelay release key\\)|unsigned \\(built from this checkout\\)) `, 'm'));
  });

  it('an unsigned --probe is refused without --allow-unsigned (exit 78)', async () => {
    // The upcall bundle under another name, with its signature taken off (a digest only).
    const renamed = Buffer.from(splitSeal(readFileSync(join(ROOT, 'bundles', 'upcall.wasm'))).body);
    const file = join(tempDir('kdelay-unsigned-'), 'upcall.wasm');
    writeFileSync(file, sealBundle(renamed));
    const { code, stderr, stdout } = await runKdelay(['-p', process.pid, '--probe', file]);
    expect(code).toBe(78);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^kdelay: refusing .*upcall\.wasm: it is not signed, and it loads kernel code as root; add --allow-unsigned if you trust it\n$/);
  });

  it('a file that is not a bundle is one clear line (exit 78)', async () => {
    const { code, stderr } = await runKdelay(['probes', 'list', '--probe', join(ROOT, 'package.json')]);
    expect(code).toBe(78);
    expect(stderr).toMatch(/^kdelay: .*package\.json: not a WebAssembly module/);
  });
});
