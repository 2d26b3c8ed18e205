/** The `kdelay` map imports: read a whole map in one call, clear one. */
import { BpfError, ENOSPC } from '../../base/errno.js';
import { errnoResult } from '../abi-errors.js';
import type { ImportContext } from './context.js';

export function mapImports({ session, memory }: ImportContext) {
  return {
    bpf_map_lookup_all(fd: number, keys: number, keysCap: number, values: number, valuesCap: number): number {
      return errnoResult(() => {
        const map = session.map(fd);
        const mem = memory();
        mem.view(keys, keysCap, 'bpf_map_lookup_all keys');
        mem.view(values, valuesCap, 'bpf_map_lookup_all values');
        const capacity = Math.min(Math.floor((keysCap >>> 0) / map.info.keySize), Math.floor((valuesCap >>> 0) / map.valueBytes));
        // The guest must be able to hold a full map, or entries would be lost silently.
        if (capacity < map.info.maxEntries) {
          throw new BpfError(`bpf_map_lookup_all: buffers hold ${capacity} of ${map.info.maxEntries} entries`, ENOSPC);
        }
        // The kernel writes straight into the guest's buffers (checked above):
        // for a 100k-entry map, host-side buffers and the copies into guest
        // memory cost as much as the rest of handing the rows over.
        const wanted = map.info.maxEntries;
        const keyView = mem.view(keys, wanted * map.info.keySize, 'bpf_map_lookup_all keys');
        const valueView = mem.view(values, wanted * map.valueBytes, 'bpf_map_lookup_all values');
        return session.backend.lookupAll(map.hostFd, keyView, valueView, wanted);
      });
    },

    bpf_map_clear(fd: number): number {
      return errnoResult(() => {
        session.backend.clear(session.map(fd).hostFd);
        return 0;
      });
    },
  };
}
