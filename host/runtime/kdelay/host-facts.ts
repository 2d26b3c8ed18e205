/** The `kdelay` imports that tell a probe about the host: options, syscall numbering, the machine. */
import { ENOENT } from '../../base/errno.js';
import { EM_AARCH64, EM_X86_64 } from '../../symbols/elf-constants.js';
import { guestString, type ImportContext, writeGuestString } from './context.js';

/** ELF e_machine of the machines Node runs kdelay on (EM_NONE, 0, for others). */
const ELF_MACHINE: Partial<Record<NodeJS.Architecture, number>> = { x64: EM_X86_64, arm64: EM_AARCH64 };
export const hostElfMachine = (arch: NodeJS.Architecture = process.arch): number => ELF_MACHINE[arch] ?? 0;

export function hostFactImports(context: ImportContext) {
  const { services } = context;
  const str = (ptr: number, what: string) => guestString(context, ptr, what);
  return {
    option_string(name: number, buf: number, cap: number): number {
      const value = services.optionString(str(name, 'option_string name'));
      if (value === undefined) return -ENOENT;
      return writeGuestString(context, buf, cap, value, 'option_string buffer');
    },

    option_i64(name: number, fallback: bigint): bigint {
      return services.option(str(name, 'option_i64 name')) ?? fallback;
    },

    syscall_number(name: number): number {
      return services.syscallNumber(str(name, 'syscall_number name')) ?? -ENOENT;
    },

    syscall_name(nr: number, buf: number, cap: number): number {
      const name = services.syscallName(nr);
      if (name === undefined) return -ENOENT;
      return writeGuestString(context, buf, cap, name, 'syscall_name buffer');
    },

    snapshot_ns(): bigint {
      return services.snapshotNs?.() ?? 0n;
    },

    host_machine(): number {
      return hostElfMachine();
    },
  };
}
