/**
 * Values kdelay derives from its own flags and hands to whichever probes ask
 * for them: a manifest option with `"host": true, "from": NAME` gets the
 * value named NAME (bundle/manifest.ts: OptionSpec.from). The host so never
 * names a probe's options; a probe declares what it takes.
 */
import type { OptionSpec } from '../bundle/manifest.js';

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
