/**
 * A probe bundle's manifest: who it is and what report sections it produces.
 * The build embeds it in the bundle as the custom section `kdelay.manifest`
 * (JSON); the host lays sections out from it alone, so a new probe adds a
 * section without any host change.
 */
import { KDELAY_ABI_VERSION } from './abi-version.js';
import { hasControlCharacters } from '../base/printable.js';

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
  /**
   * How rows of several windows add up into one, and so how a later
   * window's cumulative rows less an earlier's give what happened between
   * (catch mode's caught window is such a difference of snapshots;
   * host/report/merge-samples.ts): 'key' identifies the row with the label
   * (NUMBER, CPU), 'sum' adds or subtracts (counts, totals), 'min' and
   * 'max' keep the extreme, 'mean' is the mean weighted by the column
   * `weight` names (an average per count). A section whose number columns
   * do not all say is left out of caught windows.
   */
  merge?: ColumnMerge;
  /** The column (index) a 'mean' is weighted by. */
  weight?: number;
  /** What `kdelay serve` exports of this column (see ColumnMetric); a column without it is not exported. */
  metric?: ColumnMetric;
}

export type ColumnMerge = 'key' | 'sum' | 'min' | 'max' | 'mean';
export const COLUMN_MERGES: readonly ColumnMerge[] = ['key', 'sum', 'min', 'max', 'mean'];

/**
 * A column as `kdelay serve` exports it (Prometheus's naming rules: base
 * units, a unit suffix, `_total` for counters). Either a label of the
 * section's series, or a series of its own:
 * - `{"label": "syscall"}`: the column's value (its text, or its number) is a label;
 * - `{"name": "syscall_calls", "type": "counter"}`: exported as
 *   `kdelay_syscall_calls_total`, the column's values summed over windows;
 * - `{"name": "syscall_seconds", "type": "counter", "unit": "seconds"}`: an
 *   `ns` column, exported in seconds (`kdelay_syscall_seconds_total`);
 * - `"type": "max"`: a gauge, the largest value seen since the series began;
 * - `"type": "histogram"` with `"bucket": COLUMN` (an int column holding
 *   log2(ns) slots: slot s counts [2^s, 2^(s+1)) ns): the column is a count
 *   per bucket, exported as a Prometheus histogram in seconds.
 * Sections that name the same metric add up into it (partial and whole
 * runs: `thread_run_seconds`); they must agree on its type, unit and labels.
 */
export interface ColumnMetric {
  label?: string;
  name?: string;
  type?: MetricType;
  unit?: MetricUnit;
  /** histogram: the index of the column holding the log2(ns) slot. */
  bucket?: number;
  /** The HELP line; default: the section's title and the column's header. */
  help?: string;
}

export type MetricType = 'counter' | 'max' | 'histogram';
export const METRIC_TYPES: readonly MetricType[] = ['counter', 'max', 'histogram'];
export type MetricUnit = 'seconds';
/** Labels kdelay sets itself on per-thread series; a manifest may not use them. */
export const RESERVED_METRIC_LABELS: readonly string[] = ['pid', 'tid', 'thread', 'le', 'job', 'instance'];

export interface SectionSpec {
  id: string;
  title: string;
  /** Sections print in ascending order; the reference's order is 100, 200, ... */
  order: number;
  /** Print the header even when the thread has no rows (SYSCALL STATISTICS does). */
  alwaysShown?: boolean;
  /**
   * Data, not a table: the text report and the JSON sample record leave it
   * out; host features that read it by id (the verdict and histograms of the
   * probe that provides "accounting") print it their own way.
   */
  hidden?: boolean;
  /**
   * 'thread' (default): rows per thread of the target, in the per-thread
   * table. 'system': rows for the whole system (tid 0), printed after it.
   */
  scope?: 'thread' | 'system';
  columns: ColumnSpec[];
  /**
   * 'table' (default): the column layout. 'per-cpu' (system scope only;
   * columns label, CPU, count): one line per label in the order reported,
   * `  LABEL: TOTAL [CPU: N, ...]` with the label padded to its column's
   * width and CPUs with a zero count left out, under `# TITLE (LEGEND):`
   * after two blank lines: the reference's UPCALL STATISTICS layout.
   */
  layout?: 'table' | 'per-cpu';
  /** Printed in parentheses after the title of a 'per-cpu' section. */
  legend?: string;
  /** Column index to sort rows by, largest first. */
  sortDescendingBy?: number;
  /** Constant labels on every series `kdelay serve` exports from this section (`{"kind": "hard"}`). */
  metricLabels?: Record<string, string>;
  total?: {
    label: string;
    /** Column indexes to sum; the line ends after the last of them. */
    sum: number[];
    /** Rows whose label is listed here are left out of the total (e.g. poll). */
    excludeLabels?: string[];
  };
}

/** How an option's value is read: integers go to option_i64(), strings to option_string(). */
export type OptionType = 'u32' | 'u64' | 'i64' | 'bool' | 'string';
export const OPTION_TYPES: readonly OptionType[] = ['u32', 'u64', 'i64', 'bool', 'string'];

export interface OptionSpec {
  name: string;
  description: string;
  /** Default 'i64'. --probe-option values are checked against it: no wrap-around, no text for a number. */
  type?: OptionType;
  /** Inclusive bounds for integer types, within the type's own range. */
  min?: number;
  max?: number;
  /** Set by kdelay itself from its own flags (e.g. -s); --probe-option may not set it. */
  host?: boolean;
  /**
   * Which value kdelay provides (with host: true): one of the host values
   * its flags give, by name (driver/host-values.ts), so the host sets the
   * option without knowing the probe. A name this kdelay does not provide
   * leaves the option at the probe's default. A string option may take
   * `return_probe.FUNCTION`: how to run at the kernel FUNCTION's return here,
   * "kretprobe" or else "fexit" (a probe that can take neither is skipped with
   * the reason).
   */
  from?: string;
}

/** The values an integer option type can hold. */
export const OPTION_TYPE_RANGE: Record<Exclude<OptionType, 'string'>, [bigint, bigint]> = {
  u32: [0n, 0xffff_ffffn],
  u64: [0n, 0xffff_ffff_ffff_ffffn],
  i64: [-(2n ** 63n), 2n ** 63n - 1n],
  bool: [0n, 1n],
};

/** An option's accepted range: its type's, narrowed by the manifest's min/max. */
export function optionRange(spec: OptionSpec): [bigint, bigint] {
  const [lo, hi] = OPTION_TYPE_RANGE[spec.type === 'string' ? 'i64' : (spec.type ?? 'i64')];
  const min = spec.min === undefined ? lo : BigInt(spec.min);
  const max = spec.max === undefined ? hi : BigInt(spec.max);
  return [min > lo ? min : lo, max < hi ? max : hi];
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
  /**
   * Roles the host looks probes up by instead of by name: "trigger" is the
   * probe that opens and closes the capture window for --start-trigger and
   * --stop-trigger.
   */
  provides?: string[];
  /**
   * The machines the bundle carries a BPF object for ("x86_64", "arm64"),
   * filled in by the build. A bundle without it predates per-architecture
   * objects: it was built for x86_64 only.
   */
  architectures?: string[];
  /**
   * The oldest kernel release ("5.10") whose BPF instructions, helpers and
   * map types the objects restrict themselves to; the build checks it
   * (host/bundle/kernel-floor.ts). Features newer than that belong in
   * `requires`.
   */
  min_kernel?: string;
}

export class ManifestError extends Error {}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Bounds that keep a report sane whatever a bundle says: a column wider than
 * a screen, or thousands of sections, is a broken (or hostile) manifest.
 */
export const MANIFEST_LIMITS = { sections: 64, columns: 16, width: 64, gap: 16, text: 200, options: 64, requires: 32 } as const;

/**
 * Parses and checks a manifest against the whole schema, before anything
 * is loaded: every field's type and range, so nothing later (layout, sums,
 * --probe-option) meets a value it does not expect. Throws ManifestError
 * naming the first problem.
 */
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
  const L = MANIFEST_LIMITS;
  const text = (v: unknown, what: string, max: number = L.text): string => {
    if (typeof v !== 'string' || v.length > max) return fail(`${what} must be a string of at most ${max} characters`);
    // Titles, headers and labels are printed as they are: a newline or an escape in them could forge report lines.
    if (hasControlCharacters(v)) fail(`${what} has control characters`);
    return v;
  };
  const optionalText = (v: unknown, what: string) => (v === undefined ? undefined : text(v, what));
  const integer = (v: unknown, what: string, min: number, max: number): number =>
    Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max ? (v as number) : fail(`${what} must be an integer from ${min} to ${max}`);
  const flag = (v: unknown, what: string) => (v === undefined || typeof v === 'boolean' ? v : fail(`${what} must be true or false`));
  const oneOf = <T extends string>(v: unknown, what: string, allowed: readonly T[]): T | undefined =>
    v === undefined || allowed.includes(v as T) ? (v as T | undefined) : fail(`${what} must be one of ${allowed.join(', ')}`);
  const list = (v: unknown, what: string, max: number): unknown[] => (Array.isArray(v) && v.length <= max ? v : fail(`${what} must be an array of at most ${max} entries`));

  if (!isObject(m)) fail('is not an object');
  const raw = m as Record<string, unknown>;
  if (typeof raw.name !== 'string' || !/^[a-z][a-z0-9_-]{0,31}$/.test(raw.name)) fail('needs a lower-case name (a-z, 0-9, _ and -, at most 32)');
  text(raw.version, 'version', 32);
  if (raw.abi !== KDELAY_ABI_VERSION) fail(`is for host ABI ${JSON.stringify(raw.abi)}, this kdelay speaks ${KDELAY_ABI_VERSION}`);
  optionalText(raw.description, 'description');
  const ids = new Set<string>();
  for (const [s, section] of list(raw.sections, 'sections', L.sections).entries()) {
    if (!isObject(section)) fail(`section ${s} is not an object`);
    const sec = section as Record<string, unknown>;
    if (typeof sec.id !== 'string' || !/^[a-z][a-z0-9_]{0,31}$/.test(sec.id)) fail(`section ${s} needs an id (a-z, 0-9 and _, at most 32)`);
    const id = sec.id as string;
    if (ids.has(id)) fail(`has two sections with id ${id}`);
    ids.add(id);
    const where = `section ${id}`;
    if (text(sec.title, `${where} title`, 80) === '') fail(`${where} needs a title`);
    if (typeof sec.order !== 'number' || !Number.isFinite(sec.order)) fail(`${where} needs a numeric order`);
    flag(sec.alwaysShown, `${where} alwaysShown`);
    flag(sec.hidden, `${where} hidden`);
    oneOf(sec.scope, `${where} scope`, ['thread', 'system'] as const);
    const columns = list(sec.columns, `${where} columns`, L.columns);
    if (columns.length === 0) fail(`${where} has no columns`);
    columns.forEach((col, i) => {
      if (!isObject(col)) fail(`${where} column ${i} is not an object`);
      const c = col as Record<string, unknown>;
      text(c.header, `${where} column ${i} header`, L.width);
      if (oneOf(c.format, `${where} column ${i} format`, ['label', 'int', 'ns'] as const) === undefined) fail(`${where} column ${i} needs a format`);
      if (c.format === 'label' && i !== 0) fail(`${where}: only the first column may be a label`);
      integer(c.width, `${where} column ${i} width`, 1, L.width);
      integer(c.gap, `${where} column ${i} gap`, 0, L.gap);
      oneOf(c.headerAlign, `${where} column ${i} headerAlign`, ['left', 'right'] as const);
      if (c.key !== undefined && (typeof c.key !== 'string' || !/^[a-z][a-z0-9_]{0,31}$/.test(c.key)))
        fail(`${where} column ${i} key must be snake_case (a-z, 0-9 and _, at most 32)`);
      const merge = oneOf(c.merge, `${where} column ${i} merge`, COLUMN_MERGES);
      if (merge !== undefined && c.format === 'label') fail(`${where} column ${i}: a label column is always the row's key; it takes no merge`);
      if (merge === 'mean') {
        const weight = integer(c.weight, `${where} column ${i} weight (the column a mean is weighted by)`, 0, columns.length - 1);
        const by = columns[weight] as Record<string, unknown>;
        if (weight === i || by.format === 'label' || by.merge !== 'sum') fail(`${where} column ${i}: a mean's weight must be another column merged by sum`);
      } else if (c.weight !== undefined) fail(`${where} column ${i}: weight is for merge "mean"`);
    });
    const labelNames = new Set<string>();
    const metricLabel = (name: unknown, what: string) => {
      if (typeof name !== 'string' || !/^[a-z][a-z0-9_]{0,31}$/.test(name)) fail(`${what} must be a label name (a-z, 0-9 and _, at most 32)`);
      if (RESERVED_METRIC_LABELS.includes(name as string)) fail(`${what}: ${name} is a label kdelay sets itself`);
      if (labelNames.has(name as string)) fail(`${what}: label ${name} twice`);
      labelNames.add(name as string);
    };
    if (sec.metricLabels !== undefined) {
      if (!isObject(sec.metricLabels)) fail(`${where} metricLabels is not an object`);
      for (const [name, value] of Object.entries(sec.metricLabels as Record<string, unknown>)) {
        metricLabel(name, `${where} metricLabels`);
        text(value, `${where} metricLabels ${name}`, L.width);
      }
    }
    columns.forEach((col, i) => {
      const c = col as Record<string, unknown>;
      if (c.metric === undefined) return;
      const what = `${where} column ${i} metric`;
      if (!isObject(c.metric)) fail(`${what} is not an object`);
      const m = c.metric as Record<string, unknown>;
      for (const key of Object.keys(m)) if (!['label', 'name', 'type', 'unit', 'bucket', 'help'].includes(key)) fail(`${what} has an unknown key ${key}`);
      optionalText(m.help, `${what} help`);
      if (m.label !== undefined) {
        if (m.name !== undefined || m.type !== undefined || m.unit !== undefined || m.bucket !== undefined) fail(`${what}: a label has no name, type, unit or bucket`);
        metricLabel(m.label, `${what} label`);
        return;
      }
      if (c.format === 'label') fail(`${what}: a label column can only be a label`);
      if (typeof m.name !== 'string' || !/^[a-z][a-z0-9_]{0,63}$/.test(m.name)) fail(`${what} needs a name (a-z, 0-9 and _, at most 64) or a label`);
      const name = m.name as string;
      const type = oneOf(m.type, `${what} type`, METRIC_TYPES) ?? fail(`${what} needs a type (${METRIC_TYPES.join(', ')})`);
      const unit = oneOf(m.unit, `${what} unit`, ['seconds'] as const);
      // Prometheus's naming rules: base units named by a suffix; _total is the exporter's to add.
      if (c.format === 'ns' && unit !== 'seconds') fail(`${what}: an ns column is exported in seconds ("unit": "seconds")`);
      if (unit === 'seconds' && c.format !== 'ns' && type !== 'histogram') fail(`${what}: "unit": "seconds" needs an ns column`);
      if (unit && !name.endsWith(`_${unit}`)) fail(`${what}: ${name} must end in _${unit}, its unit`);
      if (/_(total|count|sum|bucket|created|info)$/.test(name)) fail(`${what}: ${name} must not end in a suffix the exposition format adds`);
      if (type === 'histogram') {
        if (unit !== 'seconds') fail(`${what}: a histogram of log2(ns) slots is in seconds ("unit": "seconds")`);
        const bucket = integer(m.bucket, `${what} bucket (a column)`, 0, columns.length - 1);
        if ((columns[bucket] as ColumnSpec).format !== 'int' || bucket === i) fail(`${what} bucket must be another int column (the log2 slot)`);
      } else if (m.bucket !== undefined) fail(`${what}: bucket is for histograms`);
    });
    if (oneOf(sec.layout, `${where} layout`, ['table', 'per-cpu'] as const) === 'per-cpu') {
      const formats = columns.map((c) => (c as ColumnSpec).format).join(',');
      if (sec.scope !== 'system' || !/^label,int,(int|ns)$/.test(formats)) fail(`${where}: a per-cpu layout needs scope system and columns label, CPU (int), count`);
    }
    optionalText(sec.legend, `${where} legend`);
    const column = (v: unknown, what: string) => integer(v, `${where} ${what}`, 0, columns.length - 1);
    if (sec.sortDescendingBy !== undefined) column(sec.sortDescendingBy, 'sortDescendingBy (a column)');
    if (sec.total !== undefined) {
      if (!isObject(sec.total)) fail(`${where} total is not an object`);
      const total = sec.total as Record<string, unknown>;
      text(total.label, `${where} total label`, L.width);
      for (const i of list(total.sum, `${where} total sum`, L.columns)) {
        if ((columns[column(i, 'total sum (a column)')] as ColumnSpec).format === 'label') fail(`${where} total sums its label column`);
      }
      if (total.excludeLabels !== undefined)
        for (const label of list(total.excludeLabels, `${where} total excludeLabels`, L.options)) text(label, `${where} total excludeLabels entry`, L.width);
    }
  }
  if (raw.options !== undefined) {
    const names = new Set<string>();
    for (const [i, option] of list(raw.options, 'options', L.options).entries()) {
      if (!isObject(option)) fail(`option ${i} is not an object`);
      const o = option as Record<string, unknown>;
      if (typeof o.name !== 'string' || !/^[a-z][a-z0-9_-]*\.[a-z0-9_.-]+$/.test(o.name) || o.name.length > 64) fail(`option ${i} needs a name PROBE.OPTION`);
      const name = o.name as string;
      if (names.has(name)) fail(`declares option ${name} twice`);
      names.add(name);
      text(o.description, `option ${name} description`);
      const type = oneOf(o.type, `option ${name} type`, OPTION_TYPES) ?? 'i64';
      flag(o.host, `option ${name} host`);
      if (o.from !== undefined) {
        if (typeof o.from !== 'string' || !/^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/.test(o.from) || o.from.length > 64)
          fail(`option ${name} from must name a host value (e.g. syscall_events.min_ns)`);
        if (o.host !== true) fail(`option ${name}: from needs "host": true (users may not set what kdelay provides)`);
      }
      if ((o.min !== undefined || o.max !== undefined) && (type === 'string' || type === 'bool')) fail(`option ${name}: min and max are for integer types`);
      const [lo, hi] = type === 'string' || type === 'bool' ? [0n, 0n] : OPTION_TYPE_RANGE[type];
      for (const bound of ['min', 'max'] as const) {
        const v = o[bound];
        if (v !== undefined && !(Number.isSafeInteger(v) && BigInt(v as number) >= lo && BigInt(v as number) <= hi))
          fail(`option ${name} ${bound} must be an integer within ${type}`);
      }
      if (o.min !== undefined && o.max !== undefined && (o.min as number) > (o.max as number)) fail(`option ${name}: min is above max`);
    }
  }
  if (raw.requires !== undefined) for (const r of list(raw.requires, 'requires', L.requires)) text(r, 'requires entry', 64);
  if (raw.architectures !== undefined) for (const a of list(raw.architectures, 'architectures', 8)) text(a, 'architectures entry', 16);
  if (raw.min_kernel !== undefined && !(typeof raw.min_kernel === 'string' && /^\d+\.\d+$/.test(raw.min_kernel))) fail('min_kernel must look like "5.10"');
  flag(raw.optional, 'optional');
  if (raw.provides !== undefined)
    for (const role of list(raw.provides, 'provides', 8))
      if (typeof role !== 'string' || !/^[a-z][a-z0-9_]{0,31}$/.test(role)) fail('provides entries must be roles (a-z, 0-9 and _, at most 32)');
  return raw as unknown as ProbeManifest;
}

/** How many numbers a row of this section carries (every non-label column). */
export function valueCount(section: SectionSpec): number {
  return section.columns.filter((c) => c.format !== 'label').length;
}

/** Whether the section is a per-thread table of the report (not hidden, not system-wide): what the statistics, diff and HTML pages lay out per thread. */
export function isThreadTable(section: SectionSpec): boolean {
  return !section.hidden && (section.scope ?? 'thread') === 'thread';
}
