/** The `kdelay` imports that hand a probe's results to the host: report rows and warnings. */
import { ENOSPC } from '../../base/errno.js';
import { firstSeenIds } from '../../model/wasm-loops.js';
import type { GuestMemory } from '../guest-memory.js';
import { guestString, type ImportContext } from './context.js';

const MAX_ROW_VALUES = 16;
const MAX_ROWS_PER_CALL = 65536;

/**
 * n u32 words of guest memory at ptr, as a view when the pointer is 4-byte
 * aligned (guest arrays are) or else as a copy; the guest cannot run, so
 * cannot change or grow its memory, while an import uses the view.
 */
function guestWords(mem: GuestMemory, ptr: number, n: number, what: string): Uint32Array {
  const bytes = mem.view(ptr, n * 4, what);
  if (bytes.byteOffset % 4 === 0) return new Uint32Array(bytes.buffer, bytes.byteOffset, n);
  return new Uint32Array(bytes.slice().buffer);
}

export function reportImports(context: ImportContext) {
  const { memory, services } = context;
  return {
    report_rows(section: number, count: number, tids: number, labels: number, values: number, width: number): number {
      const mem = memory();
      const sectionId = guestString(context, section, 'report_rows section');
      const n = count >>> 0;
      const w = width >>> 0;
      if (n > MAX_ROWS_PER_CALL || w > MAX_ROW_VALUES) return -ENOSPC;
      // One bounds check per array, not per row; the rows are taken before the guest runs again.
      const tidWords = guestWords(mem, tids, n, 'report_rows tids');
      const labelPtrs = guestWords(mem, labels, n, 'report_rows labels');
      const valueWords = guestWords(mem, values, n * w * 2, 'report_rows values');
      // One decode per distinct label pointer (a few hundred syscall names in
      // 100k rows); the pointers are numbered in wasm (model/wasm-loops.ts).
      const { ids: labelIndexes, distinct } = firstSeenIds(labelPtrs);
      const labelStrings = Array.from(distinct, (ptr) => mem.cstring(ptr, 'report_rows label'));
      services.rows({ section: sectionId, width: w, count: n, tids: tidWords, labelIndexes, labels: labelStrings, valueWords });
      return 0;
    },

    report_warning(text: number): number {
      services.warning(guestString(context, text, 'report_warning text'));
      return 0;
    },
  };
}
