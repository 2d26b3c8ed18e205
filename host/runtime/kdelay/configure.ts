/** The `kdelay` imports that open an object and configure it before load. */
import { errnoResult, errnoResult64 } from '../abi-errors.js';
import { guestString, type ImportContext } from './context.js';

export function configureImports(context: ImportContext) {
  const { session, memory } = context;
  const str = (ptr: number, what: string) => guestString(context, ptr, what);
  return {
    bpf_object_open(buf: number, size: number): bigint {
      const elf = memory().copyOut(buf, size, 'bpf_object_open');
      return errnoResult64(() => session.open(elf));
    },

    bpf_object_set_global(obj: bigint, name: number, value: number, size: number): number {
      const variable = str(name, 'bpf_object_set_global name');
      const bytes = memory().copyOut(value, size, 'bpf_object_set_global value');
      return errnoResult(() => {
        session.beforeLoad(obj, `setting ${variable}`).setGlobal(variable, bytes);
        return 0;
      });
    },

    bpf_object_set_max_entries(obj: bigint, map: number, maxEntries: number): number {
      const mapName = str(map, 'bpf_object_set_max_entries map');
      return errnoResult(() => {
        session.beforeLoad(obj, `resizing ${mapName}`).setMaxEntries(mapName, maxEntries >>> 0);
        return 0;
      });
    },

    bpf_object_set_autoload(obj: bigint, program: number, on: number): number {
      const programName = str(program, 'bpf_object_set_autoload program');
      return errnoResult(() => {
        session.beforeLoad(obj, `autoload of ${programName}`).setAutoload(programName, on !== 0);
        return 0;
      });
    },

    bpf_object_share_map(obj: bigint, map: number): number {
      const mapName = str(map, 'bpf_object_share_map map');
      return errnoResult(() => {
        session.share(obj, mapName);
        return 0;
      });
    },

    bpf_object_set_attach_target(obj: bigint, program: number, fn: number): number {
      const programName = str(program, 'bpf_object_set_attach_target program');
      const functionName = str(fn, 'bpf_object_set_attach_target function');
      return errnoResult(() => {
        session.beforeLoad(obj, `attach target of ${programName}`).setAttachTarget(programName, functionName);
        return 0;
      });
    },

    bpf_object_load(obj: bigint): number {
      return errnoResult(() => {
        session.load(obj);
        return 0;
      });
    },
  };
}
