/**
 * The error convention of every import: failures the guest can handle are
 * returned as negative errno; ABI violations (GuestTrap) propagate and stop
 * the guest. Anything else is a host bug and propagates too.
 */
import { BpfError } from '../base/errno.js';

export function errnoResult(fn: () => number): number {
  try {
    return fn();
  } catch (err) {
    if (err instanceof BpfError) return -err.errno;
    throw err;
  }
}

export function errnoResult64(fn: () => bigint): bigint {
  try {
    return fn();
  } catch (err) {
    if (err instanceof BpfError) return BigInt(-err.errno);
    throw err;
  }
}
