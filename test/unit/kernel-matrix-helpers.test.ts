/**
 * The kernel matrix's pure helpers (scripts/lib/kernel-matrix.mjs), which
 * npm run test:kernel-matrix relies on but which need no qemu to check.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// Plain JavaScript, shared with scripts/kernel-matrix.mjs.
import { matrixGuests, moduleNeeds, verifierReason } from '../../scripts/lib/kernel-matrix.mjs';

const dir = mkdtempSync(join(tmpdir(), 'kdelay-matrix-helpers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('moduleNeeds', () => {
  it('reads depends= and softdep pre: from the .modinfo strings', () => {
    const ko = join(dir, 'libcrc32c.ko');
    writeFileSync(ko, Buffer.from('\x7fELF junk\0license=GPL\0softdep=pre: crc32c\0depends=\0name=libcrc32c\0'));
    expect(moduleNeeds(ko)).toEqual(['crc32c']);
    const ovs = join(dir, 'openvswitch.ko');
    writeFileSync(ovs, Buffer.from('\0depends=nf_conntrack,nsh,libcrc32c\0softdep=pre: a b post: c\0'));
    expect(moduleNeeds(ovs)).toEqual(['nf_conntrack', 'nsh', 'libcrc32c', 'a', 'b']);
  });
});

describe('verifierReason', () => {
  it("takes the line before libbpf's END PROG LOAD LOG, with the program", () => {
    const log = [
      "libbpf: prog 'trigger_usdt_start': BPF program load failed: Invalid argument",
      "libbpf: prog 'trigger_usdt_start': -- BEGIN PROG LOAD LOG --",
      '0: R1=ctx(off=0,imm=0) R10=fp0',
      'BPF_STX uses reserved fields',
      'processed 12 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0',
      '-- END PROG LOAD LOG --',
      "libbpf: prog 'trigger_usdt_start': failed to load: -22",
    ].join('\n');
    expect(verifierReason(log)).toBe('BPF_STX uses reserved fields (program trigger_usdt_start)');
    // A long log kept only by its end (the guest keeps stderr's last 16 KB): the program from libbpf's next line.
    const tail = [
      'regs=40 stack=0 before 1318: (79) r6 = *(u64 *)(r8 +0)',
      'math between map_value pointer and register with unbounded min value is not allowed',
      'processed 1679 insns (limit 1000000) max_states_per_insn 4 total_states 107 peak_states 107 mark_read 29',
      '-- END PROG LOAD LOG --',
      "libbpf: prog 'account_switch': failed to load: -22",
    ].join('\n');
    expect(verifierReason(tail)).toBe('math between map_value pointer and register with unbounded min value is not allowed (program account_switch)');
    expect(verifierReason('libbpf: loading object ok\n')).toBeUndefined();
    expect(verifierReason(undefined)).toBeUndefined();
  });
});

describe('matrixGuests', () => {
  const pins = {
    kernels: [
      { kernel: '5.10', userspace: 'bullseye' },
      { kernel: '6.1', userspace: 'bookworm' },
    ],
  };
  it('every kernel on every architecture, narrowed by KDELAY_MATRIX_*', () => {
    expect(matrixGuests(pins, {}).map((g: { name: string }) => g.name)).toEqual(['5.10 amd64', '5.10 arm64', '6.1 amd64', '6.1 arm64']);
    const narrowed = matrixGuests(pins, { KDELAY_MATRIX_KERNELS: '5.10', KDELAY_MATRIX_ARCHES: 'arm64', KDELAY_MATRIX_USERSPACE: 'bookworm' });
    expect(narrowed).toEqual([{ name: '5.10 arm64', arch: 'arm64', kernel: { kernel: '5.10', userspace: 'bookworm' } }]);
  });
  it('names what it does not know', () => {
    expect(() => matrixGuests(pins, { KDELAY_MATRIX_KERNELS: '4.19' })).toThrow('KDELAY_MATRIX_KERNELS: no kernel 4.19 in pins.json');
    expect(() => matrixGuests(pins, { KDELAY_MATRIX_ARCHES: 'riscv64' })).toThrow('KDELAY_MATRIX_ARCHES: no architecture riscv64 (amd64, arm64)');
  });
});
