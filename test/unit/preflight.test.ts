/**
 * The environment's checks before anything loads (driver/preflight.ts),
 * with the facts they read given as data or as small files: the BTF
 * header, the memory limits, -s's kernel buffers.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { btfHeaderProblem, cgroupMemoryLimit, checkEventBufferSizes, checkMemoryLimits } from '../../host/driver/preflight.js';

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'kdelay-preflight-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const MIB = 2 ** 20;
const GIB = 2 ** 30;

describe('the kernel BTF header', () => {
  it("accepts this kernel's BTF", () => {
    expect(btfHeaderProblem('/sys/kernel/btf/vmlinux')).toBeUndefined();
  });

  it('names what is wrong with a damaged copy', () => {
    const real = readFileSync('/sys/kernel/btf/vmlinux');
    const file = (name: string, bytes: Uint8Array) => {
      const path = join(scratch, name);
      writeFileSync(path, bytes);
      return path;
    };
    expect(btfHeaderProblem(file('short', real.subarray(0, 10)))).toBe('10 bytes, shorter than a BTF header');
    expect(btfHeaderProblem(file('magic', Buffer.concat([Buffer.from([0, 0]), real.subarray(2, 64)])))).toBe('not BTF (bad magic)');
    const version = Buffer.from(real.subarray(0, 64));
    version[2] = 2;
    expect(btfHeaderProblem(file('version', version))).toBe('BTF version 2, expected 1');
    expect(btfHeaderProblem(file('cut', real.subarray(0, 4096)))).toMatch(/^its sections \(\d+ bytes\) do not fit in the file \(4096 bytes\)$/);
    expect(btfHeaderProblem(join(scratch, 'absent'))).toBe('cannot read (ENOENT)');
  });
});

describe("-s's kernel buffers", () => {
  it('takes the defaults with memory to spare', () => {
    expect(() => checkEventBufferSizes({ bufferPageCount: 1024, stackTraceSize: 4096 }, 8 * GIB)).not.toThrow();
  });

  it('refuses a ring larger than the kernel takes', () => {
    expect(() => checkEventBufferSizes({ bufferPageCount: 2 ** 20, stackTraceSize: 0 }, undefined)).toThrow(
      "--buffer-page-count 1048576: a ring of 4096 MiB is larger than the kernel's maximum of 2048 MiB (at most 524288 pages)",
    );
  });

  it('refuses buffers needing more than half the memory available', () => {
    expect(() => checkEventBufferSizes({ bufferPageCount: 1024, stackTraceSize: 0 }, 6 * MIB)).toThrow(
      '--buffer-page-count 1024 and --stack-trace-size 0 need 4 MiB of kernel memory (ring 4 MiB, stacks 0 MiB), more than half of the 6 MiB available',
    );
  });
});

describe('memory limits', () => {
  it('refuses an address-space limit under 64 GiB and a memory cgroup under 96 MiB', () => {
    expect(() => checkMemoryLimits(undefined, undefined)).not.toThrow();
    expect(() => checkMemoryLimits(8 * GIB, undefined)).toThrow('the address-space limit (RLIMIT_AS, ulimit -v) is 8192 MiB; kdelay needs 64 GiB of address space');
    expect(() => checkMemoryLimits(undefined, { bytes: 64 * MIB, file: '/sys/fs/cgroup/x/memory.max' })).toThrow(
      "the memory cgroup's limit (/sys/fs/cgroup/x/memory.max) is 64 MiB; kdelay needs at least 96 MiB of memory",
    );
  });

  it('finds the tightest memory.max of a cgroup v2 path and its ancestors', () => {
    const root = join(scratch, 'cgroup');
    mkdirSync(join(root, 'a', 'b'), { recursive: true });
    writeFileSync(join(root, 'cgroup.controllers'), 'memory\n');
    writeFileSync(join(root, 'a', 'memory.max'), `${200 * MIB}\n`);
    writeFileSync(join(root, 'a', 'b', 'memory.max'), 'max\n');
    writeFileSync(join(scratch, 'self-cgroup'), '0::/a/b\n');
    expect(cgroupMemoryLimit(join(scratch, 'self-cgroup'), root)).toEqual({ bytes: 200 * MIB, file: join(root, 'a', 'memory.max') });
    writeFileSync(join(scratch, 'self-cgroup'), '0::/elsewhere\n');
    expect(cgroupMemoryLimit(join(scratch, 'self-cgroup'), root)).toBeUndefined();
  });
});
