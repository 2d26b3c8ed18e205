/**
 * The build's kernel-compatibility check (host/bundle/kernel-floor.ts): what
 * a manifest's min_kernel rules out, found in the object before any old
 * kernel's verifier sees it.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BpfObjectFile } from '../../host/bundle/bpf-object.js';
import { bundleFromBytes, embeddedObjects } from '../../host/bundle/bundle.js';
import { newerThanFloor } from '../../host/bundle/kernel-floor.js';
import { tempDir } from '../helpers/temp-dirs.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** Compiles BPF C (with the probes' includes, as the build does) to an object. */
function compile(source: string): Uint8Array {
  const dir = tempDir('kdelay-floor-');
  writeFileSync(join(dir, 'p.bpf.c'), `#include "kdelay_core.bpf.h"\nchar LICENSE[] SEC("license") = "GPL";\n${source}\n`);
  execFileSync('clang', [
    '-g',
    '-O2',
    '-mcpu=v3',
    '-target',
    'bpf',
    '-D__TARGET_ARCH_x86',
    '-I',
    join(ROOT, 'probes', 'include'),
    '-c',
    join(dir, 'p.bpf.c'),
    '-o',
    join(dir, 'p.o'),
  ]);
  return readFileSync(join(dir, 'p.o'));
}

const GATE_MAP = `struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, u32); __type(value, u64); } gate SEC(".maps");`;

describe('kernel floor', () => {
  it('catches a compare-and-swap (BPF atomic cmpxchg, 5.12) for a 5.10 floor, not for 6.1', () => {
    const elf = compile(`${GATE_MAP}
SEC("uprobe") int flip(void *ctx) { u32 zero = 0; u64 *state = bpf_map_lookup_elem(&gate, &zero);
  if (state && __sync_val_compare_and_swap(state, 0, 1) == 0) return 1; return 0; }`);
    expect(newerThanFloor(elf, '5.10')).toEqual(['section uprobe: atomic cmpxchg needs 5.12']);
    expect(newerThanFloor(elf, '6.1')).toEqual([]);
  });

  it('lets a plain atomic add through (the old XADD: every kernel), but not a fetching one', () => {
    const add = `${GATE_MAP}
SEC("uprobe") int count(void *ctx) { u32 zero = 0; u64 *n = bpf_map_lookup_elem(&gate, &zero); if (n) __sync_fetch_and_add(n, 1); return 0; }`;
    expect(newerThanFloor(compile(add), '5.10')).toEqual([]);
    const fetch = add.replace('if (n) __sync_fetch_and_add(n, 1); return 0;', 'return n ? (int)__sync_fetch_and_add(n, 1) : 0;');
    expect(newerThanFloor(compile(fetch), '5.10')).toEqual(['section uprobe: atomic fetch_add needs 5.12']);
  });

  it('catches helpers and map types newer than the floor', () => {
    const elf = compile(`struct { __uint(type, BPF_MAP_TYPE_TASK_STORAGE); __uint(map_flags, BPF_F_NO_PREALLOC); __type(key, int); __type(value, u64); } per_task SEC(".maps");
SEC("tp_btf/sched_switch") int switched(void *ctx) { return bpf_ktime_get_coarse_ns() > 0; }`);
    expect(newerThanFloor(elf, '5.10')).toEqual([
      'section tp_btf/sched_switch: helper 160 is newer than 5.10 (its last is 155)',
      'map per_task: map type 29 is newer than 5.10 (its last is 28)',
    ]);
  });

  it('catches cpu v4 instructions (6.6)', () => {
    // clang 14 cannot emit -mcpu=v4: turn an unsigned division into the signed one v4 encodes as off = 1.
    const elf = Buffer.from(compile(`SEC("uprobe") int divide(struct pt_regs *ctx) { unsigned long a = PT_REGS_PARM1(ctx), b = PT_REGS_PARM2(ctx); return b ? a / b : 0; }`));
    const object = new BpfObjectFile(elf);
    const section = object.executableSections().find((s) => s.name === 'uprobe')!;
    const division = [...object.instructions(section)].find((i) => i.opcode === 0x3f)!; // BPF_ALU64 | BPF_DIV | BPF_X
    const at = section.offset + division.index * 8;
    expect(newerThanFloor(elf, '5.10')).toEqual([]);
    elf.writeInt16LE(1, at + 2);
    expect(newerThanFloor(elf, '5.10')).toEqual(['section uprobe: a signed division (cpu v4) needs 6.6']);
  });

  it('checks only the subprograms a program calls: libbpf leaves the others out', () => {
    const elf = compile(`
__attribute__((noinline)) int called(void) { return bpf_ktime_get_coarse_ns() > 0; }
__weak int never_called(struct pt_regs *ctx) { return bpf_get_attach_cookie(ctx) > 0; }
SEC("uprobe") int entry(void *ctx) { return called(); }`);
    // helper 160 is reached through a call into .text; 174 (get_attach_cookie) sits in a function nothing calls.
    expect(newerThanFloor(elf, '5.10')).toEqual(['section .text: helper 160 is newer than 5.10 (its last is 155)']);
  });

  it("passes every committed bundle at its manifest's min_kernel, for every architecture", () => {
    for (const file of readdirSync(join(ROOT, 'bundles')).filter((f) => f.endsWith('.wasm'))) {
      const bytes = readFileSync(join(ROOT, 'bundles', file));
      const { manifest } = bundleFromBytes(bytes, file);
      expect(manifest.min_kernel, file).toBe('5.10');
      for (const elf of embeddedObjects(bytes)) expect(newerThanFloor(elf, manifest.min_kernel!), file).toEqual([]);
    }
  });

  it('refuses a floor older than the releases it knows', () => {
    expect(() => newerThanFloor(compile('SEC("uprobe") int p(void *ctx) { return 0; }'), '4.19')).toThrow('kdelay knows helpers and map types from 5.10 on only');
  });
});
