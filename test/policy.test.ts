/** The program-kind allow-list applied to every BPF object before it is opened. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BpfError } from '../host/libbpf/errors.js';
import { checkProgramPolicy, programSections } from '../host/runtime/policy.js';
import { embeddedObjects } from '../host/runtime/bundle.js';
import { runKdelay } from './helpers/kdelay.js';

const ROOT = join(import.meta.dirname, '..');

/** Compiles a one-program BPF object with clang (as the probe build does). */
function bpfObject(section: string): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'kdelay-policy-'));
  writeFileSync(join(dir, 'p.bpf.c'), `#define SEC(n) __attribute__((section(n), used))\nSEC("${section}") int prog(void *ctx) { return 0; }\nchar LICENSE[] SEC("license") = "GPL";\n`);
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

  it('refuses what is not an ELF object', () => {
    expect(() => checkProgramPolicy(new Uint8Array(100), 'test')).toThrow('not an ELF64 little-endian object');
  });

  it('lets every committed bundle through (its embedded object, as it ships)', () => {
    const bundles = readdirSync(join(ROOT, 'bundles')).filter((f) => f.endsWith('.wasm'));
    expect(bundles.length).toBeGreaterThanOrEqual(5);
    for (const file of bundles) {
      const objects = embeddedObjects(readFileSync(join(ROOT, 'bundles', file)));
      expect(objects, file).toHaveLength(1);
      expect(programSections(objects[0]).length, file).toBeGreaterThan(1);
      expect(() => checkProgramPolicy(objects[0], file)).not.toThrow();
    }
  });
});

describe('third-party bundles on the command line', () => {
  it('kdelay probes list shows the built-in bundles', async () => {
    const { code, stdout } = await runKdelay(['probes', 'list']);
    expect(code).toBe(0);
    expect(stdout.split('\n')[0]).toMatch(/^NAME +VERSION +SOURCE +SECTIONS$/);
    for (const name of ['syscalls', 'sched', 'irq', 'trigger', 'upcall']) expect(stdout).toMatch(new RegExp(`^${name} +1\\.0\\.0 +built-in `, 'm'));
  });

  it('an unsigned --probe is refused without --allow-unsigned (exit 78)', async () => {
    const { code, stderr, stdout } = await runKdelay(['-p', process.pid, '--probe', join(ROOT, 'bundles', 'upcall.wasm')]);
    expect(code).toBe(78);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^kdelay: refusing .*upcall\.wasm: it is not signed, and a probe bundle loads kernel code as root; add --allow-unsigned if you trust it\n$/);
  });

  it('a file that is not a bundle is one clear line (exit 78)', async () => {
    const { code, stderr } = await runKdelay(['probes', 'list', '--probe', join(ROOT, 'package.json')]);
    expect(code).toBe(78);
    expect(stderr).toMatch(/^kdelay: .*package\.json: not a WebAssembly module/);
  });
});
