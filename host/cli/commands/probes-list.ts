/** `kdelay probes list [--probe ...] [--only ...] [--skip ...] [--json]`: the bundles kdelay would run, one line each. */
import { ExitCode, UserError } from '../../base/exit-codes.js';
import { admittedBundles } from '../../driver/admission.js';
import { describeSeal, unselectedProbes } from '../../driver/catalog.js';
import { loadBackend } from '../../driver/measure.js';
import type { ProbesListCommand } from '../../driver/options.js';
import { whyUnavailable } from '../../driver/probe-plan.js';
import { jsonRecord } from '../../report/json-records.js';
import { missingBpfCapabilities } from '../../system/capabilities.js';
import { KernelFeatures, missingRequirement } from '../../system/kernel-features.js';
import { helpText, parseOptions } from '../options.js';
import type { CliCommand } from '../runner.js';
import { packageVersion } from './report.js';

/** argv after `probes`: `list` and the main command's probe-selection flags. */
export function parseProbesList(argv: string[]): ProbesListCommand | 'help' | 'version' {
  if (argv[0] !== 'list') throw new UserError(`unknown command 'probes ${argv[0] ?? ''}'; try 'kdelay probes list'`, ExitCode.USAGE);
  const rest = parseOptions(argv.slice(1));
  if (typeof rest !== 'object') return rest;
  const { probeFiles, trustKeys, allowUnsigned, onlyProbes, skipProbes, allowProgramKinds, json } = rest;
  return { command: 'probes-list', probeFiles, trustKeys, allowUnsigned, onlyProbes, skipProbes, allowProgramKinds, json };
}

export const probesListCommand: CliCommand = {
  words: ['probes'],
  async run(argv) {
    const parsed = parseProbesList(argv);
    if (typeof parsed === 'object') return await listProbeBundles(parsed);
    // `probes list --help` shows the flags it shares with the main command; --version is the same everywhere.
    process.stdout.write(parsed === 'help' ? helpText() : `kdelay ${packageVersion()}\n`);
    return 0;
  },
};

/** `kdelay probes list`: one line per bundle: name, version, where from, signature, what it reports. */
export async function listProbeBundles(options: ProbesListCommand): Promise<number> {
  const entries = admittedBundles(options);
  const unselected = unselectedProbes(entries, options.onlyProbes, options.skipProbes);
  // Checking BPF program types needs CAP_BPF and CAP_PERFMON; without them, say so per probe rather than fail.
  const missingCapabilities = missingBpfCapabilities();
  const backend = missingCapabilities.length === 0 ? await loadBackend(false).catch(() => undefined) : undefined;
  const features = new KernelFeatures(backend, undefined, missingCapabilities);
  if (options.json) {
    for (const { bundle, origin, seal } of entries) {
      const missing = unselected.has(bundle.manifest.name) ? 'not selected' : missingRequirement(bundle.manifest.requires ?? [], features);
      const { name, version, sections } = bundle.manifest;
      process.stdout.write(
        `${jsonRecord('probe', { name, version, source: origin, signature: describeSeal(seal), sections: sections.map((s) => s.title), skipped: missing ?? null })}\n`,
      );
    }
    return ExitCode.OK;
  }
  const rows = entries.map(({ bundle, origin, seal }) => {
    const missing = unselected.has(bundle.manifest.name) ? 'not selected' : whyUnavailable(bundle.manifest, features);
    return [
      bundle.manifest.name,
      bundle.manifest.version,
      (bundle.manifest.architectures ?? ['x86_64']).join(','),
      origin,
      describeSeal(seal),
      (bundle.manifest.sections.map((s) => s.title).join(', ') || '(no sections)') + (missing ? `  [skipped: ${missing}]` : ''),
    ];
  });
  const headers = ['NAME', 'VERSION', 'ARCH', 'SOURCE', 'SIGNATURE', 'SECTIONS'];
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((cell, i) => (i < r.length - 1 ? cell.padEnd(widths[i]) : cell)).join('  ');
  process.stdout.write([line(headers), ...rows.map(line)].join('\n') + '\n');
  return ExitCode.OK;
}
