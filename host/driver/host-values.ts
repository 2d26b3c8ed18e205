/**
 * Values kdelay derives from its own flags and hands to whichever probes ask
 * for them: a manifest option with `"host": true, "from": NAME` gets the
 * value named NAME (bundle/manifest.ts: OptionSpec.from). The host so never
 * names a probe's options; a probe declares what it takes.
 */
import type { OptionSpec, ProbeManifest } from '../bundle/manifest.js';

/** Host values by name; a flag not given provides none (the probe's default applies). */
export type HostValues = Record<string, bigint>;

/** The options of these manifests' declarations that take a host value, set from `values`. */
export function optionsFromHostValues(declared: readonly (readonly OptionSpec[] | undefined)[], values: HostValues): Record<string, bigint> {
  const options: Record<string, bigint> = {};
  for (const spec of declared.flatMap((specs) => specs ?? [])) {
    if (spec.host && spec.from !== undefined && values[spec.from] !== undefined) options[spec.name] = values[spec.from];
  }
  return options;
}

/** What a probe's text options derived from the host (`"from": "return_probe.FUNCTION"`) are here, or why it cannot run. */
export type AttachPlanner = (fn: string, requiredModules: readonly string[]) => { attach: string } | { unavailable: string };

/** The text host values a manifest asks for, or the reason the probe cannot start here. */
export function textOptionsFromHost(manifest: ProbeManifest, plan: AttachPlanner): { options: Record<string, string> } | { unavailable: string } {
  const requiredModules = (manifest.requires ?? []).flatMap((r) => /^kernel module ([\w-]+)$/.exec(r.trim())?.[1] ?? []);
  const options: Record<string, string> = {};
  for (const spec of manifest.options ?? []) {
    const fn = spec.host && spec.type === 'string' ? /^return_probe\.(\w+)$/.exec(spec.from ?? '')?.[1] : undefined;
    if (!fn) continue;
    const how = plan(fn, requiredModules);
    if ('unavailable' in how) return how;
    options[spec.name] = how.attach;
  }
  return { options };
}
