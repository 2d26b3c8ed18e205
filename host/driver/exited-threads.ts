/**
 * Names of target threads that exited. /proc forgets a thread the moment it
 * exits, so a worker that ends inside a window used to be reported as
 * <unknown:PID/TID>. The host creates the hash `kdelay_exited_threads`
 * (kernel tid -> struct kdelay_exited_thread, probes/include/kdelay_records.bpf.h,
 * read by the generated runtime/kernel-records.ts) and shares it into the
 * probes; the sched probe writes the name a thread had at its last
 * switch-out. take() reads what arrived and deletes what it read, once per
 * sample: a thread's rows are reported in the window it exited in.
 */
import type { BpfBackend } from '../libbpf/backend.js';
import { MapType } from '../libbpf/backend.js';
import { printable } from '../base/printable.js';
import { KDELAY_EXITED_THREAD_SIZE, KdelayExitedThreadsSize, readKdelayExitedThread } from '../runtime/kernel-records.js';
import type { SharedMaps } from '../runtime/shared-maps.js';

export const EXITED_THREADS_MAP = 'kdelay_exited_threads';
const ENTRIES = KdelayExitedThreadsSize.KDELAY_EXITED_THREADS;

/** A NUL-terminated comm as text, escaped for printing (a thread names itself). */
export function commText(comm: Uint8Array): string {
  const end = comm.indexOf(0);
  return printable(Buffer.from(comm.subarray(0, end < 0 ? comm.length : end)).toString('latin1'));
}

export class ExitedThreads {
  private readonly fd: number;
  private readonly keys = new Uint8Array(4 * ENTRIES);
  private readonly values = new Uint8Array(KDELAY_EXITED_THREAD_SIZE * ENTRIES);

  constructor(
    private readonly backend: BpfBackend,
    shared: SharedMaps,
  ) {
    this.fd = shared.create(EXITED_THREADS_MAP, MapType.HASH, 4, KDELAY_EXITED_THREAD_SIZE, ENTRIES);
  }

  /** The threads that exited since the last take(), by the kernel's tid, with the name each exited with. */
  take(): Map<number, string> {
    const exited = new Map<number, string>();
    const n = this.backend.lookupAll(this.fd, this.keys, this.values, ENTRIES);
    const keys = new DataView(this.keys.buffer);
    const values = new DataView(this.values.buffer);
    for (let i = 0; i < n; i++) {
      exited.set(keys.getUint32(i * 4, true), commText(readKdelayExitedThread(values, i * KDELAY_EXITED_THREAD_SIZE).comm));
      this.backend.delete(this.fd, this.keys.subarray(i * 4, i * 4 + 4));
    }
    return exited;
  }
}
