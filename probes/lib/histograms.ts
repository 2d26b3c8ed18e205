// Histograms handed to the host as histograms (report_histograms), not as
// rows of a section the host would have to rebuild them from. Each one is
// (tid, kind, nr) and slotCount u32 buckets; the kinds and the bucket rule
// are the accounting contract's (probes/include/kdelay_records.bpf.h: enum
// account_hist), which the host reads too.

import { report_histograms } from './imports';

/**
 * Collects histograms and hands them over in batches. Usage:
 *   batch.add(tid, kind, nr, slots); ... batch.flush();
 * add() copies the buckets: the memory they came from may change at once.
 */
export class HistogramBatch {
  private readonly tids: StaticArray<u32>;
  private readonly kinds: StaticArray<u32>;
  private readonly nrs: StaticArray<u32>;
  private readonly slots: StaticArray<u32>;
  private count: i32 = 0;
  /** The first failure (negative errno), or 0. */
  error: i32 = 0;

  constructor(
    readonly slotCount: i32,
    readonly capacity: i32 = 256,
  ) {
    this.tids = new StaticArray<u32>(capacity);
    this.kinds = new StaticArray<u32>(capacity);
    this.nrs = new StaticArray<u32>(capacity);
    this.slots = new StaticArray<u32>(capacity * slotCount);
  }

  /** One histogram: slotCount u32 buckets at `buckets`. */
  add(tid: u32, kind: u32, nr: u32, buckets: usize): void {
    if (this.count == this.capacity) this.flush();
    const i = this.count++;
    unchecked((this.tids[i] = tid));
    unchecked((this.kinds[i] = kind));
    unchecked((this.nrs[i] = nr));
    memory.copy(changetype<usize>(this.slots) + <usize>(i * this.slotCount * 4), buckets, <usize>(this.slotCount * 4));
  }

  /** Sends the pending histograms; returns the first error seen (negative errno) or 0. */
  flush(): i32 {
    if (this.count > 0) {
      const err = report_histograms(
        this.count,
        changetype<usize>(this.tids),
        changetype<usize>(this.kinds),
        changetype<usize>(this.nrs),
        changetype<usize>(this.slots),
        this.slotCount,
      );
      if (err < 0 && this.error == 0) this.error = err;
      this.count = 0;
    }
    return this.error;
  }
}
