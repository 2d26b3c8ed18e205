/**
 * Catch mode's events from the kernel: the syscalls probe posts each poll
 * interval (--catch-long-poll) or system call (--catch-syscall) at least as
 * long as asked to the host-owned ring buffer `kdelay_catch_events`:
 * struct kdelay_catch_event (probes/include/kdelay_records.bpf.h), read by
 * the generated runtime/kernel-records.ts.
 */
import type { BpfBackend } from '../libbpf/backend.js';
import { MapType } from '../libbpf/backend.js';
import { KdelayCatchKind, KdelaySharedMapSizes, readKdelayCatchEvent } from '../runtime/kernel-records.js';
import { RingReader } from '../runtime/ring-buffer.js';
import type { SharedMaps } from '../runtime/shared-maps.js';
import type { HostValues } from './host-values.js';
import type { CaughtInterval } from './catch-mode.js';

export const CATCH_EVENTS_MAP = 'kdelay_catch_events';
const RING_BYTES = KdelaySharedMapSizes.KDELAY_CATCH_RING_BYTES;

/** What to catch: thresholds in ns (undefined: that kind is off). */
export interface CatchConfig {
  longPollNs?: number;
  syscallNs?: number;
}

export class CatchEvents {
  private readonly reader: RingReader;

  constructor(
    backend: BpfBackend,
    shared: SharedMaps,
    readonly config: CatchConfig,
  ) {
    const fd = shared.create(CATCH_EVENTS_MAP, MapType.RINGBUF, 0, 0, RING_BYTES);
    this.reader = new RingReader(fd, backend.mapInfoByFd(fd).maxEntries);
  }

  /** What catch mode gives the probe that detects (the syscalls probe takes them through its manifest's `from`). */
  hostValues(): HostValues {
    return {
      'catch.long_poll_ns': BigInt(this.config.longPollNs ?? 0),
      'catch.syscall_ns': BigInt(this.config.syscallNs ?? 0),
      'catch.ring_bytes': BigInt(RING_BYTES),
    };
  }

  /** Every interval posted so far (kernel thread ids), in the order they ended. */
  take(): CaughtInterval[] {
    const caught: CaughtInterval[] = [];
    this.reader.drain((record) => {
      const e = readKdelayCatchEvent(new DataView(record.buffer, record.byteOffset, record.byteLength));
      const kind = e.kind === KdelayCatchKind.KDELAY_CATCH_LONG_POLL ? 'long_poll' : e.kind === KdelayCatchKind.KDELAY_CATCH_SYSCALL ? 'syscall' : undefined;
      if (kind) caught.push({ kind, tid: e.tid, nr: e.nr, startNs: e.startNs, stopNs: e.stopNs });
      return 0;
    });
    return caught;
  }

  close(): Promise<void> {
    return this.reader.close();
  }
}
