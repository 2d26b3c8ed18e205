/**
 * The capture gate, host side: one ARRAY map entry, struct kdelay_gate
 * (probes/include/kdelay_records.bpf.h, read and written by the generated
 * runtime/kernel-records.ts), that every probe object shares. Times are CLOCK_MONOTONIC nanoseconds,
 * the clock of bpf_ktime_get_ns() and of process.hrtime.bigint().
 */
import type { BpfBackend } from '../libbpf/backend.js';
import { MapType } from '../libbpf/backend.js';
import { BpfError, errnoName } from '../base/errno.js';
import { KDELAY_GATE_SIZE, type KdelayGate, KdelayGateState, readKdelayGate, writeKdelayGate } from '../runtime/kernel-records.js';
import type { SharedMaps } from '../runtime/shared-maps.js';

export const GATE_MAP = 'kdelay_gate';
export const GateState = {
  IDLE: BigInt(KdelayGateState.KDELAY_GATE_IDLE),
  OPEN: BigInt(KdelayGateState.KDELAY_GATE_OPEN),
  REPORTING: BigInt(KdelayGateState.KDELAY_GATE_REPORTING),
} as const;
const GATE_SIZE = KDELAY_GATE_SIZE;

// Only the backend knows libbpf's words for an error; errno's name says enough for a one-entry array.
const gateFailure = (doing: string, err: number) => new BpfError(`${doing} the capture gate: ${errnoName(Math.abs(err))}`, Math.abs(err));

export type GateValue = KdelayGate;

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
    return readKdelayGate(new DataView(buf.buffer, buf.byteOffset, buf.byteLength));
  }

  write(value: GateValue): void {
    const buf = Buffer.alloc(GATE_SIZE);
    writeKdelayGate(new DataView(buf.buffer, buf.byteOffset, buf.byteLength), value);
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
    // The probes count for as long as they still read OPEN, which is until
    // this write lands, not until the clock was read for it: stamp the stop
    // again once the gate says REPORTING, so that no interval counted can end
    // after the window did (a READY wait of 2.4 ms was seen in a 1.2 ms window).
    // Tails the kernel clips between the two writes use the first stamp: at
    // most the few microseconds of one map update short.
    this.write({ ...current, state: GateState.REPORTING, windowStopNs: process.hrtime.bigint() });
    const value = { ...current, state: GateState.REPORTING, windowStopNs: process.hrtime.bigint() };
    this.write(value);
    return value;
  }

  /** Back to idle, ready for the next window. */
  idle(): void {
    this.write({ ...this.read(), state: GateState.IDLE });
  }
}
