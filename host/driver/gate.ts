/**
 * The capture gate, host side. Mirrors probes/include/kdelay_gate.bpf.h:
 * one ARRAY map entry { state, window_start_ns, window_stop_ns, missed_starts }
 * that every probe object shares. Times are CLOCK_MONOTONIC nanoseconds,
 * the clock of bpf_ktime_get_ns() and of process.hrtime.bigint().
 */
import type { BpfBackend } from '../libbpf/backend.js';
import { MapType } from '../libbpf/backend.js';
import { BpfError, errnoName } from '../libbpf/errors.js';
import type { SharedMaps } from '../runtime/shared-maps.js';

export const GATE_MAP = 'kdelay_gate';
export const GateState = { IDLE: 0n, OPEN: 1n, REPORTING: 2n } as const;
const GATE_SIZE = 32;

// Only the backend knows libbpf's words for an error; errno's name says enough for a one-entry array.
const gateFailure = (doing: string, err: number) => new BpfError(`${doing} the capture gate: ${errnoName(Math.abs(err))}`, Math.abs(err));

export interface GateValue {
  state: bigint;
  windowStartNs: bigint;
  windowStopNs: bigint;
  missedStarts: bigint;
}

export class Gate {
  private readonly key = new Uint8Array(4);
  readonly fd: number;

  constructor(
    private readonly backend: BpfBackend,
    shared: SharedMaps,
  ) {
    this.fd = shared.create(GATE_MAP, MapType.ARRAY, 4, GATE_SIZE, 1);
  }

  read(): GateValue {
    const buf = Buffer.alloc(GATE_SIZE);
    const err = this.backend.lookup(this.fd, this.key, buf);
    if (err) throw gateFailure('reading', err);
    return {
      state: buf.readBigUInt64LE(0),
      windowStartNs: buf.readBigUInt64LE(8),
      windowStopNs: buf.readBigUInt64LE(16),
      missedStarts: buf.readBigUInt64LE(24),
    };
  }

  write(value: GateValue): void {
    const buf = Buffer.alloc(GATE_SIZE);
    buf.writeBigUInt64LE(value.state, 0);
    buf.writeBigUInt64LE(value.windowStartNs, 8);
    buf.writeBigUInt64LE(value.windowStopNs, 16);
    buf.writeBigUInt64LE(value.missedStarts, 24);
    const err = this.backend.update(this.fd, this.key, buf, 0n);
    if (err) throw gateFailure('writing', err);
  }

  /** Opens the window now (time mode). */
  open(): void {
    this.write({ ...this.read(), state: GateState.OPEN, windowStartNs: process.hrtime.bigint(), windowStopNs: 0n });
  }

  /**
   * Closes the window for reporting; returns the final gate value. A window
   * a stop trigger already closed in the kernel keeps the hit's stop time.
   */
  close(): GateValue {
    const current = this.read();
    if (current.state !== GateState.OPEN) return current;
    const value = { ...current, state: GateState.REPORTING, windowStopNs: process.hrtime.bigint() };
    this.write(value);
    return value;
  }

  /** Back to idle, ready for the next window. */
  idle(): void {
    this.write({ ...this.read(), state: GateState.IDLE });
  }
}
