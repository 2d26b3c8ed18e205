/**
 * --syscall-events: the syscalls probe posts every slow call to the ring
 * buffer `kdelay_syscall_events` (with kernel, user and blocked-at stack ids
 * into the STACK_TRACE map `kdelay_stack_traces`); both maps are created here and
 * shared into the probe. The ring is drained continuously in the background
 * by mmap, in budgeted batches so Node's event loop stays responsive, and
 * waits on an async epoll when empty. The records are struct
 * kdelay_syscall_event (probes/include/kdelay_records.bpf.h), read by the
 * generated runtime/kernel-records.ts.
 */
import type { BpfBackend } from '../libbpf/backend.js';
import { MapType } from '../libbpf/backend.js';
import { KDELAY_SYSCALL_EVENT_SIZE, type KdelaySyscallEvent, KdelaySharedMapSizes, readKdelaySyscallEvent } from '../runtime/kernel-records.js';
import { RingReader } from '../runtime/ring-buffer.js';
import type { SharedMaps } from '../runtime/shared-maps.js';
import type { HostValues } from './host-values.js';

export const EVENTS_MAP = 'kdelay_syscall_events';
export const STACKS_MAP = 'kdelay_stack_traces';
/** Frames per stack (PERF_MAX_STACK_DEPTH): the stack map's value size is this many u64. */
export const MAX_STACK_DEPTH = KdelaySharedMapSizes.KDELAY_MAX_STACK_DEPTH;
const DRAIN_BUDGET = 20_000;
const RECORD_SIZE = KDELAY_SYSCALL_EVENT_SIZE;
const WAIT_MS = 50;

export type SyscallEventRecord = KdelaySyscallEvent;

export interface SyscallEventsConfig {
  /** --syscall-events DURATION_NS (0: every call). */
  minNs: number;
  skipPoll: boolean;
  /** --stack-trace-size: entries of the stack table; 0 disables stacks. */
  stackTraceSize: number;
  /** --buffer-page-count, already a power of two, times the page size. */
  ringBytes: number;
}

export class SyscallEventCollector {
  private readonly reader: RingReader;
  private readonly stackFd: number | undefined;
  /** Raw records as they came: copying is cheaper than decoding while the ring fills. */
  private raw = new Uint8Array(RECORD_SIZE * 4096);
  private count = 0;
  private loop: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly backend: BpfBackend,
    shared: SharedMaps,
    readonly config: SyscallEventsConfig,
  ) {
    const ringFd = shared.create(EVENTS_MAP, MapType.RINGBUF, 0, 0, config.ringBytes);
    this.reader = new RingReader(ringFd, config.ringBytes);
    if (config.stackTraceSize > 0) this.stackFd = shared.create(STACKS_MAP, MapType.STACK_TRACE, 4, MAX_STACK_DEPTH * 8, config.stackTraceSize);
  }

  /** Starts draining in the background (once the probes are attached). */
  start(): void {
    this.loop ??= this.drainForever();
  }

  /**
   * What -s gives a probe that posts events into our maps (the syscalls
   * probe takes them through its manifest's `from`; see host-values.ts).
   */
  hostValues(): HostValues {
    return {
      'syscall_events.enabled': 1n,
      'syscall_events.min_ns': BigInt(this.config.minNs),
      'syscall_events.skip_poll': this.config.skipPoll ? 1n : 0n,
      'syscall_events.stack_trace_size': BigInt(this.config.stackTraceSize),
      'syscall_events.ring_bytes': BigInt(this.config.ringBytes),
    };
  }

  private drain(budget: number): number {
    return this.reader.drain((record) => {
      if ((this.count + 1) * RECORD_SIZE > this.raw.length) {
        const bigger = new Uint8Array(this.raw.length * 2);
        bigger.set(this.raw);
        this.raw = bigger;
      }
      this.raw.set(record.subarray(0, RECORD_SIZE), this.count++ * RECORD_SIZE);
      return 0;
    }, budget);
  }

  private async drainForever(): Promise<void> {
    // After close() the ring is unmapped: check before every drain.
    while (!this.closed) {
      if (this.drain(DRAIN_BUDGET) === DRAIN_BUDGET) await new Promise((r) => setImmediate(r));
      else await this.reader.waitAsync(WAIT_MS);
    }
  }

  /** Every event so far, in arrival order; the next call starts afresh. */
  take(): SyscallEventRecord[] {
    while (this.drain(DRAIN_BUDGET) === DRAIN_BUDGET);
    const v = new DataView(this.raw.buffer, 0, this.count * RECORD_SIZE);
    const events = Array.from({ length: this.count }, (_, i) => readKdelaySyscallEvent(v, i * RECORD_SIZE));
    this.count = 0;
    return events;
  }

  /** The addresses of a stack, innermost first; undefined if the id is not (or no longer) there. */
  stack(id: number): bigint[] | undefined {
    if (this.stackFd === undefined || id < 0) return undefined;
    const key = new Uint8Array(4);
    new DataView(key.buffer).setUint32(0, id, true);
    const value = new Uint8Array(MAX_STACK_DEPTH * 8);
    if (this.backend.lookup(this.stackFd, key, value) !== 0) return undefined;
    const words = new BigUint64Array(value.buffer);
    const frames: bigint[] = [];
    for (const addr of words) {
      if (addr === 0n) break;
      frames.push(addr);
    }
    return frames;
  }

  /** After a sample: stack ids are per sample, like the reference's table. */
  clearStacks(): void {
    if (this.stackFd !== undefined) this.backend.clear(this.stackFd);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.reader.close();
    await this.loop;
  }
}
