/**
 * Trigger hits from the kernel: the trigger probe posts {ts, kind} to the
 * host-owned ring buffer `kdelay_trigger_events` for each hit that opened or
 * closed the gate: struct kdelay_trigger_event
 * (probes/include/kdelay_records.bpf.h), read by the generated
 * runtime/kernel-records.ts.
 */
import type { BpfBackend } from '../libbpf/backend.js';
import { MapType } from '../libbpf/backend.js';
import { KdelaySharedMapSizes, KdelayTriggerEventKind, readKdelayTriggerEvent } from '../runtime/kernel-records.js';
import { RingReader } from '../runtime/ring-buffer.js';
import type { SharedMaps } from '../runtime/shared-maps.js';

export const TRIGGER_EVENTS_MAP = 'kdelay_trigger_events';
const RING_BYTES = KdelaySharedMapSizes.KDELAY_TRIGGER_RING_BYTES;
const { KDELAY_TRIGGER_START, KDELAY_TRIGGER_STOP } = KdelayTriggerEventKind;
/** Longest single wait on the worker thread; signals are noticed between waits. */
const WAIT_SLICE_MS = 50;

export interface TriggerHit {
  kind: 'start' | 'stop';
  /** bpf_ktime_get_ns() of the hit: CLOCK_MONOTONIC, like process.hrtime.bigint(). */
  ts: bigint;
}

export class TriggerEvents {
  private readonly reader: RingReader;
  private readonly queue: TriggerHit[] = [];

  constructor(backend: BpfBackend, shared: SharedMaps) {
    const fd = shared.create(TRIGGER_EVENTS_MAP, MapType.RINGBUF, 0, 0, RING_BYTES);
    this.reader = new RingReader(fd, backend.mapInfoByFd(fd).maxEntries);
  }

  private drain(): void {
    this.reader.drain((record) => {
      const { kind, ts } = readKdelayTriggerEvent(new DataView(record.buffer, record.byteOffset, record.byteLength));
      if (kind === KDELAY_TRIGGER_START || kind === KDELAY_TRIGGER_STOP) this.queue.push({ kind: kind === KDELAY_TRIGGER_START ? 'start' : 'stop', ts });
      return 0;
    });
  }

  /** The next hit, or undefined if none came within timeoutMs. */
  async next(timeoutMs: number): Promise<TriggerHit | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.drain();
      const hit = this.queue.shift();
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await this.reader.waitAsync(Math.min(left, WAIT_SLICE_MS));
    }
  }

  close(): Promise<void> {
    return this.reader.close();
  }
}
