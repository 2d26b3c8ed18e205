/** The wall clock, read by the driver only: the report gets its readings as data (model/sample.ts). */

/** Microseconds since the epoch, with sub-millisecond resolution. */
export function nowEpochMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** CLOCK_MONOTONIC now, in ns: the clock of the gate's window edges and of trigger hits. */
export const monotonicNs = (): bigint => process.hrtime.bigint();
