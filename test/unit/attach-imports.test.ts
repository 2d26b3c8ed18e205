/**
 * bpf_program_attach_uprobe: a function of the target's executable by name
 * (libbpf finds it), or a 'LIBRARY:FUNCTION' only as the host resolved it
 * (file and offset); no other name reaches a file.
 */
import { describe, expect, it } from 'vitest';
import { ENOENT } from '../../host/base/errno.js';
import type { AttachTarget } from '../../host/libbpf/backend.js';
import { GuestMemory } from '../../host/runtime/guest-memory.js';
import type { GuestSession } from '../../host/runtime/guest-session.js';
import { attachImports } from '../../host/runtime/kdelay/attach.js';
import type { ProbeServices } from '../../host/runtime/kdelay/context.js';

function uprobe(fn: string, retprobe = 0) {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const bytes = new Uint8Array(memory.buffer);
  bytes.set(Buffer.from('trigger_uprobe_start\0'), 16);
  bytes.set(Buffer.from(`${fn}\0`), 64);
  const attached: AttachTarget[] = [];
  const session = { targetPid: 4242, attach: (_obj: bigint, _program: string, target: AttachTarget) => attached.push(target) } as unknown as GuestSession;
  const services = {
    userFunction: (name: string) => (name === 'libkdtest.so:phase_begin' ? { binary: '/proc/4242/root/lib/libkdtest.so', offset: 0x1100 } : undefined),
  } as ProbeServices;
  const result = attachImports({ session, memory: () => new GuestMemory(memory), services }).bpf_program_attach_uprobe(1n, 16, retprobe, 64);
  return { result, attached };
}

describe('bpf_program_attach_uprobe', () => {
  it('a function of the executable: by name, in /proc/PID/exe', () => {
    expect(uprobe('bridge_run', 1)).toEqual({ result: 0, attached: [{ kind: 'uprobe', pid: 4242, binary: '/proc/4242/exe', retprobe: true, functionName: 'bridge_run' }] });
  });

  it('a library function the host resolved: by file and offset, still only in the target', () => {
    expect(uprobe('libkdtest.so:phase_begin')).toEqual({
      result: 0,
      attached: [{ kind: 'uprobe', pid: 4242, binary: '/proc/4242/root/lib/libkdtest.so', offset: 0x1100, retprobe: false }],
    });
  });

  it('any other LIBRARY:FUNCTION or path: -ENOENT, nothing attached', () => {
    expect(uprobe('libc.so.6:malloc')).toEqual({ result: -ENOENT, attached: [] });
    expect(uprobe('/etc/shadow:x')).toEqual({ result: -ENOENT, attached: [] });
  });
});
