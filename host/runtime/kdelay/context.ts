/**
 * What every group of `kdelay` imports works with, and the guest-string
 * helpers they share.
 */
import { ENOSPC } from '../../base/errno.js';
import type { GuestMemory } from '../guest-memory.js';
import type { GuestSession } from '../guest-session.js';

/**
 * Rows as report_rows received them: u32 tids, each row's label as an index
 * into `labels` (the batch's distinct labels), u64 values as u32 word pairs.
 * The typed arrays are usually live views of guest memory: valid only while
 * ProbeServices.rows() runs, so copy what you keep.
 */
export interface RowBatch {
  section: string;
  width: number;
  count: number;
  tids: Uint32Array;
  labelIndexes: Uint32Array;
  labels: (string | undefined)[];
  valueWords: Uint32Array;
}

/**
 * Histograms as report_histograms received them (copies, the host's to
 * keep): histogram i is (tids[i], kinds[i], nrs[i]) with buckets
 * slots[i * slotCount, (i + 1) * slotCount).
 */
export interface HistogramBatch {
  count: number;
  tids: Uint32Array;
  kinds: Uint32Array;
  nrs: Uint32Array;
  slotCount: number;
  slots: Uint32Array;
}

/** What the host tells probes and receives from them. */
export interface ProbeServices {
  option(name: string): bigint | undefined;
  optionString(name: string): string | undefined;
  syscallNumber(name: string): number | undefined;
  syscallName(nr: number): string | undefined;
  /**
   * A library function the host resolved for this run ('LIBRARY:FUNCTION',
   * from a --start-trigger/--stop-trigger), as file and offset; undefined
   * for any other name. The only way a guest reaches a file other than the
   * target's executable.
   */
  userFunction?(name: string): { binary: string; offset: number } | undefined;
  /**
   * Catch mode's snapshot of the open gate (driver/catch-mode.ts): the
   * CLOCK_MONOTONIC time the collect under way describes (read at its first
   * call), 0 (or absent) for an ordinary collect of a closed gate.
   */
  snapshotNs?(): bigint;
  /** Called once per report_rows call. */
  rows(batch: RowBatch): void;
  /** Called once per report_histograms call; without it (a test's services) the call fails with EPERM. */
  histograms?(batch: HistogramBatch): void;
  warning(text: string): void;
}

export interface ImportContext {
  session: GuestSession;
  /** The guest's memory; throws GuestTrap before the guest has exported it. */
  memory: () => GuestMemory;
  services: ProbeServices;
}

/** The NUL-terminated string a guest passed at ptr; a bad pointer or a missing NUL traps. */
export function guestString(context: ImportContext, ptr: number, what: string): string {
  return context.memory().requiredCString(ptr, what);
}

/**
 * Writes value and a NUL into the guest's buffer of cap bytes: the length
 * written (without the NUL), or -ENOSPC if it does not fit.
 */
export function writeGuestString(context: ImportContext, buf: number, cap: number, value: string, what: string): number {
  const bytes = Buffer.from(`${value}\0`, 'utf8');
  if (bytes.length > cap >>> 0) return -ENOSPC;
  context.memory().copyIn(buf, bytes, what);
  return bytes.length - 1;
}
