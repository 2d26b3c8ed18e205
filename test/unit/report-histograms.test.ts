/**
 * How histograms reach the host: report_histograms copies each (tid, kind,
 * nr) and its buckets out of guest memory, as histograms, not as rows the
 * report would rebuild them from; sizes are checked before anything is read.
 */
import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { AccountHist } from '../../host/bundle/accounting-contract.js';
import { GuestMemory } from '../../host/runtime/guest-memory.js';
import type { GuestSession } from '../../host/runtime/guest-session.js';
import { type HistogramBatch, kdelayImports, type ProbeServices } from '../../host/runtime/kdelay-imports.js';

const SLOTS = AccountHist.ACCOUNT_HIST_SLOTS;

/** A fresh import object on one page of guest memory; batches collects what report_histograms hands over. */
function guest(withHistograms = true) {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const batches: HistogramBatch[] = [];
  const services: ProbeServices = {
    option: () => undefined,
    optionString: () => undefined,
    syscallNumber: () => undefined,
    syscallName: () => undefined,
    rows: () => {},
    warning: () => {},
    ...(withHistograms ? { histograms: (batch: HistogramBatch) => batches.push(batch) } : {}),
  };
  const imports = kdelayImports({} as GuestSession, () => new GuestMemory(memory), services);
  return { imports, view: new DataView(memory.buffer), batches };
}

describe('report_histograms', () => {
  it('hands over each histogram with its buckets, copied out of guest memory', () => {
    const { imports, view, batches } = guest();
    const [tids, kinds, nrs, slots] = [1024, 1040, 1056, 2048];
    const histograms = [
      { tid: 7, kind: AccountHist.ACCOUNT_HIST_RUN_QUEUE, nr: 0xffffffff, buckets: { 10: 98, 20: 2 } as Record<number, number> },
      { tid: 8, kind: AccountHist.ACCOUNT_HIST_SYSCALL, nr: 230, buckets: { 0: 1, 39: 4 } as Record<number, number> },
    ];
    histograms.forEach((h, i) => {
      view.setUint32(tids + 4 * i, h.tid, true);
      view.setUint32(kinds + 4 * i, h.kind, true);
      view.setUint32(nrs + 4 * i, h.nr, true);
      for (const [s, count] of Object.entries(h.buckets)) view.setUint32(slots + 4 * (i * SLOTS + Number(s)), count, true);
    });
    expect(imports.report_histograms(histograms.length, tids, kinds, nrs, slots, SLOTS)).toBe(0);
    // The guest may reuse its buffers at once: the host kept copies.
    new Uint8Array(view.buffer).fill(0xff, 1024, 2048 + 8 * SLOTS);
    const [batch] = batches;
    expect([batch.count, batch.slotCount]).toEqual([2, SLOTS]);
    expect([...batch.tids, ...batch.kinds, ...batch.nrs]).toEqual([7, 8, AccountHist.ACCOUNT_HIST_RUN_QUEUE, AccountHist.ACCOUNT_HIST_SYSCALL, 0xffffffff, 230]);
    const bucketsOf = (i: number) => Object.fromEntries([...batch.slots.subarray(i * SLOTS, (i + 1) * SLOTS)].flatMap((count, s) => (count ? [[s, count]] : [])));
    expect([bucketsOf(0), bucketsOf(1)]).toEqual([histograms[0].buckets, histograms[1].buckets]);
  });

  it('refuses sizes it cannot hold before reading memory, and a host that takes no histograms', () => {
    const { imports, batches } = guest();
    expect(imports.report_histograms(1, 0, 0, 0, 0, 0)).toBe(-constants.errno.ENOSPC);
    expect(imports.report_histograms(1, 0, 0, 0, 0, 65)).toBe(-constants.errno.ENOSPC);
    expect(imports.report_histograms(65537, 0, 0, 0, 0, SLOTS)).toBe(-constants.errno.ENOSPC);
    // Past the end of guest memory: a trap, not a read.
    expect(() => imports.report_histograms(1, 65535, 0, 0, 0, SLOTS)).toThrow(/report_histograms tids/);
    expect(batches).toEqual([]);
    expect(guest(false).imports.report_histograms(1, 0, 0, 0, 0, SLOTS)).toBe(-constants.errno.EPERM);
  });
});
