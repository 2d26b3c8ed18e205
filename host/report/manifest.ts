/**
 * A probe bundle's manifest: who it is and what report sections it produces.
 * The build embeds it in the bundle as the custom section `kdelay.manifest`
 * (JSON); the host lays sections out from it alone, so a new probe adds a
 * section without any host change.
 */
import { KDELAY_ABI_VERSION } from '../runtime/kdelay-imports.js';

export type ColumnFormat = 'label' | 'int' | 'ns';

export interface ColumnSpec {
  header: string;
  /** The column's key in JSON output (snake_case); default: derived from the header ("TOTAL ns" -> total_ns). */
  key?: string;
  width: number;
  /** Spaces before this column (ignored for the first). */
  gap: number;
  /** label: text, left-aligned and truncated; int: plain number; ns: with thousands separators. */
  format: ColumnFormat;
  /** Numbers' headers are right-aligned unless this says 'left'. */
  headerAlign?: 'left' | 'right';
}

export interface SectionSpec {
  id: string;
  title: string;
  /** Sections print in ascending order; the reference's order is 100, 200, ... */
  order: number;
  /** Print the header even when the thread has no rows (SYSCALL STATISTICS does). */
  alwaysShown?: boolean;
  /**
   * 'thread' (default): rows per thread of the target, in the per-thread
   * table. 'system': rows for the whole system (tid 0), printed after it.
   */
  scope?: 'thread' | 'system';
  columns: ColumnSpec[];
  /** Column index to sort rows by, largest first. */
  sortDescendingBy?: number;
  total?: {
    label: string;
    /** Column indexes to sum; the line ends after the last of them. */
    sum: number[];
    /** Rows whose label is listed here are left out of the total (e.g. poll). */
    excludeLabels?: string[];
  };
}

export interface OptionSpec {
  name: string;
  description: string;
}

export interface ProbeManifest {
  name: string;
  version: string;
  abi: number;
  description: string;
  sections: SectionSpec[];
  options?: OptionSpec[];
  /** Kernel features the probe needs, e.g. "btf", "tp_btf". */
  requires?: string[];
  /** If it cannot start, report its sections as not available and run the others. */
  optional?: boolean;
}

export class ManifestError extends Error {}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** Parses and checks a manifest; throws ManifestError naming the problem. */
export function parseManifest(json: string, source: string): ProbeManifest {
  let m: unknown;
  try {
    m = JSON.parse(json);
  } catch (err) {
    throw new ManifestError(`${source}: manifest is not JSON (${(err as Error).message})`);
  }
  const fail = (what: string): never => {
    throw new ManifestError(`${source}: manifest ${what}`);
  };
  if (!isObject(m)) fail('is not an object');
  const manifest = m as unknown as ProbeManifest;
  if (typeof manifest.name !== 'string' || !/^[a-z][a-z0-9_-]*$/.test(manifest.name)) fail('needs a lower-case name');
  if (typeof manifest.version !== 'string') fail('needs a version');
  if (manifest.abi !== KDELAY_ABI_VERSION) fail(`is for host ABI ${manifest.abi}, this kdelay speaks ${KDELAY_ABI_VERSION}`);
  if (!Array.isArray(manifest.sections)) fail('needs a sections array');
  for (const section of manifest.sections) {
    if (!isObject(section) || typeof section.id !== 'string' || typeof section.title !== 'string') fail('has a section without id/title');
    if (!Array.isArray(section.columns) || section.columns.length === 0) fail(`section ${section.id} has no columns`);
    section.columns.forEach((col, i) => {
      if (!['label', 'int', 'ns'].includes(col.format)) fail(`section ${section.id} column ${i} has format ${col.format}`);
      if (col.format === 'label' && i !== 0) fail(`section ${section.id}: only the first column may be a label`);
      if (!(col.width > 0) || !(col.gap >= 0)) fail(`section ${section.id} column ${i} needs width and gap`);
      if (col.key !== undefined && !/^[a-z][a-z0-9_]*$/.test(col.key)) fail(`section ${section.id} column ${i} has key ${JSON.stringify(col.key)} (snake_case, please)`);
    });
    const n = section.columns.length;
    const inRange = (i: number) => Number.isInteger(i) && i >= 0 && i < n;
    if (section.sortDescendingBy !== undefined && !inRange(section.sortDescendingBy)) fail(`section ${section.id} sorts by a missing column`);
    if (section.total && !section.total.sum.every(inRange)) fail(`section ${section.id} sums a missing column`);
  }
  return manifest;
}

/** How many numbers a row of this section carries (every non-label column). */
export function valueCount(section: SectionSpec): number {
  return section.columns.filter((c) => c.format !== 'label').length;
}
