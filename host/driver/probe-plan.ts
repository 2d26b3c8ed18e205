/**
 * Which probes a run starts and with which options, decided from the
 * admitted bundles, the flags and what the kernel offers: probes left out
 * on purpose (--only, --skip; the accounting probe unless the verdict is
 * asked for), probes the kernel cannot run (said with their reason), and
 * --probe-option values checked against the manifests. Pure: the kernel's
 * answers come in as a FeatureSource and an AttachPlanner
 * (test/unit/probe-plan.test.ts).
 */
import { ExitCode, UserError } from '../base/exit-codes.js';
import { optionRange, type ProbeManifest } from '../bundle/manifest.js';
import { type FeatureSource, missingArchitecture, missingRequirement } from '../system/kernel-features.js';
import { type CatalogEntry, unselectedProbes } from './catalog.js';
import { type AttachPlanner, textOptionsFromHost } from './host-values.js';
import type { KdelayOptions } from './options.js';

/** Why a bundle cannot run here (no object for this machine, a kernel older than its min_kernel, or a feature it needs), or undefined. */
export function whyUnavailable(manifest: ProbeManifest, features: FeatureSource, arch?: string): string | undefined {
  const oldest = manifest.min_kernel ? [`kernel>=${manifest.min_kernel}`] : [];
  return missingArchitecture(manifest.architectures, arch) ?? missingRequirement([...oldest, ...(manifest.requires ?? [])], features);
}

/**
 * --probe-option values, checked against the options the running probes'
 * manifests declare: their type and range (a value is never wrapped or
 * dropped), and not the ones kdelay sets itself from its own flags.
 * Integers and booleans go to option_i64(), strings to option_string().
 */
export function probeOptionValues(values: Record<string, string>, entries: readonly CatalogEntry[]): { numeric: Record<string, bigint>; text: Record<string, string> } {
  const declared = new Map(entries.flatMap((e) => (e.bundle.manifest.options ?? []).map((o) => [o.name, o] as const)));
  const settable = [...declared.values()].filter((o) => !o.host).map((o) => o.name);
  const numeric: Record<string, bigint> = {};
  const text: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    const spec = declared.get(name);
    const fail = (why: string): never => {
      throw new UserError(`--probe-option ${name}: ${why}`, ExitCode.USAGE);
    };
    if (!spec) fail(`no running probe declares it (known: ${settable.join(', ') || 'none'})`);
    else if (spec.host) fail(`kdelay sets it from its own flags (${spec.description}); it cannot be set by hand`);
    else if (spec.type === 'string') text[name] = value;
    else if (spec.type === 'bool') {
      if (!/^(0|1|true|false)$/.test(value)) fail(`'${value}' is not a boolean (0, 1, true or false)`);
      numeric[name] = value === '1' || value === 'true' ? 1n : 0n;
    } else {
      if (!/^[+-]?\d+$/.test(value.trim())) fail(`'${value}' is not an integer`);
      const n = BigInt(value.trim());
      const [min, max] = optionRange(spec);
      if (n < min || n > max) fail(`${value} is out of range (${min} to ${max})`);
      numeric[name] = n;
    }
  }
  return { numeric, text };
}

export type PlanOptions = Pick<KdelayOptions, 'onlyProbes' | 'skipProbes' | 'verdict' | 'verdictOnly' | 'histograms' | 'probeOptions'>;

export interface ProbePlan {
  /** Probes not started: with their reason (printed as "not available"), or undefined when left out on purpose (no line at all). */
  skip: Map<string, string | undefined>;
  /** The bundle providing the trigger role, if any (for explaining its failures). */
  triggerProbe?: string;
  /** --probe-option's integers and booleans. */
  numeric: Record<string, bigint>;
  /** --probe-option's strings. */
  text: Record<string, string>;
  /** Text options the host derives for the probes that run (`from: return_probe.FUNCTION`). */
  hostText: Record<string, string>;
}

/**
 * The plan for these bundles; a contradiction between flags (a trigger
 * without the trigger probe, --verdict-only or --hist without the
 * accounting probe) or a bad --probe-option is a UserError (exit 64).
 */
export function planProbes(entries: readonly CatalogEntry[], options: PlanOptions, triggers: boolean, features: FeatureSource, planAttach: AttachPlanner): ProbePlan {
  // Probes left out on purpose (--only, --skip) get no line at all.
  const skip = new Map<string, string | undefined>([...unselectedProbes(entries, options.onlyProbes, options.skipProbes)].map((name) => [name, undefined]));
  const providerOf = (role: string) => entries.find((e) => e.bundle.manifest.provides?.includes(role))?.bundle.manifest.name;
  const triggerProbe = providerOf('trigger');
  if (triggers && (triggerProbe === undefined || skip.has(triggerProbe))) {
    const which = triggerProbe ?? 'trigger';
    throw new UserError(`--skip ${which}: the ${which} probe is what --start-trigger and --stop-trigger run on`, ExitCode.USAGE);
  }
  const accountingProbe = providerOf('accounting');
  // The accounting probe costs time on every switch and syscall of the target: it runs when asked for.
  if (accountingProbe && !options.verdict && !options.onlyProbes.includes(accountingProbe)) skip.set(accountingProbe, undefined);
  if ((options.verdictOnly || options.histograms) && (accountingProbe === undefined || skip.has(accountingProbe))) {
    const which = accountingProbe ?? 'account';
    throw new UserError(`${options.verdictOnly ? '--verdict-only' : '--hist'} needs the ${which} probe, which --only/--skip leave out`, ExitCode.USAGE);
  }
  // A probe the kernel cannot support is skipped with its reason; the others still run.
  const hostText: Record<string, string> = {};
  for (const { bundle } of entries) {
    if (skip.has(bundle.manifest.name)) continue;
    const missing = whyUnavailable(bundle.manifest, features);
    if (missing) {
      skip.set(bundle.manifest.name, missing);
      continue;
    }
    const derived = textOptionsFromHost(bundle.manifest, planAttach);
    if ('unavailable' in derived) skip.set(bundle.manifest.name, derived.unavailable);
    else Object.assign(hostText, derived.options);
  }
  const { numeric, text } = probeOptionValues(
    options.probeOptions,
    entries.filter((e) => !skip.has(e.bundle.manifest.name)),
  );
  return { skip, triggerProbe, numeric, text, hostText };
}
