/**
 * The `kdelay` import that hands a probe's histograms to the host as
 * histograms: (tid, kind, nr) and their buckets, which the report reads as
 * they are (report/accounts.ts), not rebuilt from rows of a section.
 */
import { ENOSPC, EPERM } from '../../base/errno.js';
import type { GuestMemory } from '../guest-memory.js';
import type { ImportContext } from './context.js';

/** Buckets per histogram at most (a log2 histogram of u64 ns needs 64). */
export const MAX_HISTOGRAM_SLOTS = 64;
const MAX_HISTOGRAMS_PER_CALL = 65536;

/** n u32 words of guest memory at ptr, copied: the host keeps them. */
function guestWordsCopy(mem: GuestMemory, ptr: number, n: number, what: string): Uint32Array {
  return new Uint32Array(mem.view(ptr, n * 4, what).slice().buffer);
}

export function histogramImports(context: ImportContext) {
  return {
    report_histograms(count: number, tids: number, kinds: number, nrs: number, slots: number, slotCount: number): number {
      if (!context.services.histograms) return -EPERM;
      const mem = context.memory();
      const n = count >>> 0;
      const width = slotCount >>> 0;
      if (n > MAX_HISTOGRAMS_PER_CALL || width === 0 || width > MAX_HISTOGRAM_SLOTS) return -ENOSPC;
      const tidWords = guestWordsCopy(mem, tids, n, 'report_histograms tids');
      const kindWords = guestWordsCopy(mem, kinds, n, 'report_histograms kinds');
      const nrWords = guestWordsCopy(mem, nrs, n, 'report_histograms nrs');
      const slotWords = guestWordsCopy(mem, slots, n * width, 'report_histograms slots');
      context.services.histograms({ count: n, tids: tidWords, kinds: kindWords, nrs: nrWords, slotCount: width, slots: slotWords });
      return 0;
    },
  };
}
