/**
 * The `kdelay` attach imports. Uprobes and USDT attach to the target's
 * executable, and uprobes also to the library functions the host resolved
 * from the command line (ProbeServices.userFunction): a guest never names a
 * host path.
 */
import { BpfError, EINVAL, ENOENT } from '../../base/errno.js';
import type { AttachTarget } from '../../libbpf/backend.js';
import { errnoResult } from '../abi-errors.js';
import { guestString, type ImportContext } from './context.js';

export function attachImports(context: ImportContext) {
  const { session } = context;
  const str = (ptr: number, what: string) => guestString(context, ptr, what);
  const targetBinary = () => {
    if (!session.targetPid) throw new BpfError('this guest has no target process to attach to', EINVAL);
    return { pid: session.targetPid, binary: `/proc/${session.targetPid}/exe` };
  };
  /** The target's strings were read (and checked) by the caller. */
  const attach = (obj: bigint, program: number, what: string, target: AttachTarget): number => {
    const programName = str(program, `${what} program`);
    return errnoResult(() => (session.attach(obj, programName, target), 0));
  };
  return {
    bpf_program_attach_usdt(obj: bigint, program: number, provider: number, name: number): number {
      const what = 'bpf_program_attach_usdt';
      return attach(obj, program, what, { kind: 'usdt', ...targetBinary(), provider: str(provider, `${what} provider`), name: str(name, `${what} name`) });
    },

    bpf_program_attach_uprobe(obj: bigint, program: number, retprobe: number, fn: number): number {
      const what = 'bpf_program_attach_uprobe';
      const functionName = str(fn, `${what} function`);
      if (!functionName.includes(':')) return attach(obj, program, what, { kind: 'uprobe', ...targetBinary(), retprobe: retprobe !== 0, functionName });
      // LIBRARY:FUNCTION: only as the host resolved it, in the target.
      return errnoResult(() => {
        const { pid } = targetBinary();
        const place = context.services.userFunction?.(functionName);
        if (!place) throw new BpfError(`${what}: ${functionName} is no library function kdelay resolved for this run (a --start-trigger or --stop-trigger names those)`, ENOENT);
        return attach(obj, program, what, { kind: 'uprobe', pid, binary: place.binary, offset: place.offset, retprobe: retprobe !== 0 });
      });
    },

    bpf_program_attach_tracepoint(obj: bigint, program: number, category: number, name: number): number {
      const what = 'bpf_program_attach_tracepoint';
      return attach(obj, program, what, { kind: 'tracepoint', category: str(category, `${what} category`), name: str(name, `${what} name`) });
    },

    bpf_program_attach_raw_tracepoint(obj: bigint, program: number, name: number): number {
      const what = 'bpf_program_attach_raw_tracepoint';
      return attach(obj, program, what, { kind: 'raw_tracepoint', name: str(name, `${what} name`) });
    },

    bpf_program_detach_after(obj: bigint, program: number, ms: number): number {
      const programName = str(program, 'bpf_program_detach_after program');
      return errnoResult(() => (session.detachAfter(obj, programName, ms), 0));
    },

    bpf_program_attach_kprobe(obj: bigint, program: number, retprobe: number, fn: number): number {
      const what = 'bpf_program_attach_kprobe';
      return attach(obj, program, what, { kind: 'kprobe', retprobe: retprobe !== 0, functionName: str(fn, `${what} function`) });
    },
  };
}
