/**
 * All probes of one kdelay run: the shared capture gate plus one ProbeGuest
 * per bundle. Owns every kernel resource of the run; close() releases them
 * all and is safe to call at any point, including half-way through start().
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BpfBackend } from '../libbpf/backend.js';
import type { SectionSpec } from '../report/manifest.js';
import { type ProbeBundle, readBundle } from '../runtime/bundle.js';
import type { SampleTables } from '../report/section-table.js';
import { ProbeError, ProbeGuest } from '../runtime/probe-guest.js';
import { SharedMaps } from '../runtime/shared-maps.js';
import type { SyscallTable } from '../syscalls/table.js';
import { Gate } from './gate.js';
import { TriggerEvents } from './trigger-events.js';

/** The bundles shipped with kdelay (bundles/*.wasm in the package). */
export function builtinBundles(packageRoot: string): ProbeBundle[] {
  const dir = join(packageRoot, 'bundles');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.wasm'))
    .sort()
    .map((f) => readBundle(join(dir, f)));
}

export interface ProbeSetConfig {
  targetTgid: number;
  /** Extra options passed to probes through option_i64() and option_string(). */
  options?: Record<string, bigint>;
  stringOptions?: Record<string, string>;
  syscalls: SyscallTable;
  /** Create the ring buffer the trigger probe posts its hits to. */
  triggers?: boolean;
}

export interface CollectedSample {
  tables: SampleTables;
  warnings: string[];
}

export class ProbeSet {
  readonly gate: Gate;
  triggerEvents: TriggerEvents | undefined;
  private readonly shared: SharedMaps;
  private readonly guests: ProbeGuest[] = [];

  private constructor(
    backend: BpfBackend,
    readonly bundles: ProbeBundle[],
  ) {
    this.shared = new SharedMaps(backend);
    this.gate = new Gate(backend, this.shared);
  }

  /** Loads and attaches every bundle; on any failure releases what was done and throws. */
  static start(backend: BpfBackend, bundles: ProbeBundle[], config: ProbeSetConfig): ProbeSet {
    const owners = new Map<string, string>();
    for (const { manifest } of bundles) {
      for (const { id } of manifest.sections) {
        const other = owners.get(id);
        if (other) throw new ProbeError(`probes ${other} and ${manifest.name} both report section "${id}"`);
        owners.set(id, manifest.name);
      }
    }
    const set = new ProbeSet(backend, bundles);
    const options: Record<string, bigint> = { target_tgid: BigInt(config.targetTgid), ...config.options };
    try {
      if (config.triggers) set.triggerEvents = new TriggerEvents(backend, set.shared);
      for (const bundle of bundles) {
        const guest = new ProbeGuest(
          bundle,
          backend,
          set.shared,
          {
            option: (name) => options[name],
            optionString: (name) => config.stringOptions?.[name],
            syscallNumber: (name) => config.syscalls.number(name),
            syscallName: (nr) => config.syscalls.name(nr),
          },
          config.targetTgid,
        );
        set.guests.push(guest);
        guest.init();
      }
    } catch (err) {
      set.close();
      throw err;
    }
    return set;
  }

  get sections(): SectionSpec[] {
    return this.bundles.flatMap((b) => b.manifest.sections);
  }

  collect(): CollectedSample {
    // Section ids are unique across bundles (checked in start()), so tables merge by id.
    const tables: SampleTables = new Map();
    const warnings: string[] = [];
    for (const guest of this.guests) {
      for (const [id, table] of guest.collect()) tables.set(id, table);
      warnings.push(...guest.warnings.splice(0));
    }
    return { tables, warnings };
  }

  reset(): void {
    for (const guest of this.guests) guest.reset();
  }

  close(): void {
    for (const guest of this.guests.splice(0)) guest.close();
    this.triggerEvents?.close();
    this.shared.closeAll();
  }
}

export { ProbeError };
