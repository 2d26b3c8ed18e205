/** `kdelay probes list [--probe ...] [--only ...] [--skip ...] [--json]`: the bundles kdelay would run, one line each. */
import { ExitCode, UserError } from '../../base/exit-codes.js';
import { admittedBundles } from '../../driver/admission.js';
import { describeSeal, unselectedProbes } from '../../driver/catalog.js';
import { loadBackend } from '../../driver/measure.js';
import type { ProbesListCommand } from '../../driver/options.js';
import { Command } from 'commander';
import { whyUnavailable } from '../../driver/probe-plan.js';
import { jsonRecord } from '../../report/json-records.js';
import { missingBpfCapabilities } from '../../system/capabilities.js';
import { KernelFeatures, missingRequirement } from '../../system/kernel-features.js';
import { buildProgram, optionHelp, parseOptions } from '../options.js';
import type { CliCommand } from '../runner.js';
import { packageVersion } from './report.js';

/** The main command's options `probes list` takes (it accepts the others, and ignores them). */
const PROBES_LIST_OPTIONS = ['--probe', '--trust-key', '--allow-unsigned', '--only', '--skip', '--skip-upcall-stats', '--allow-program-kind', '--json'];

/** `probes list` as commander defines it: what its help, the man page and the completions show. */
export function probesDefinition(): Command {
  const list = new Command('list')
    .description('list the probe bundles, their signatures, and whether this kernel runs them')
    .usage('[OPTIONS]')
    .helpOption('-h, --help', 'print this help')
    .configureHelp({ optionDescription: optionHelp, sortOptions: false });
  for (const option of buildProgram().options) if (PROBES_LIST_OPTIONS.includes(option.long!)) list.addOption(option);
  return new Command('probes').description('the probe bundles kdelay runs').addCommand(list);
}

/** argv after `probes`: `list` and the main command's probe-selection flags. */
export function parseProbesList(argv: string[]): ProbesListCommand | 'help' | 'version' {
  if (argv[0] === undefined || argv[0] === '--help' || argv[0] === '-h') return 'help';
  if (argv[0] !== 'list') throw new UserError(`unknown command 'probes ${argv[0] ?? ''}'; try 'kdelay probes list'`, ExitCode.USAGE);
  const rest = parseOptions(argv.slice(1));
  if (typeof rest !== 'object') return rest === 'legend' ? 'help' : rest;
  const { probeFiles, trustKeys, allowUnsigned, onlyProbes, skipProbes, allowProgramKinds, json } = rest;
  return { command: 'probes-list', probeFiles, trustKeys, allowUnsigned, onlyProbes, skipProbes, allowProgramKinds, json };
}

export const probesListCommand: CliCommand = {
  words: ['probes'],
  definition: probesDefinition,
  async run(argv) {
    const parsed = parseProbesList(argv);
    if (typeof parsed === 'object') return await listProbeBundles(parsed);
    // `probes list --help` shows the flags it shares with the main command; --version is the same everywhere.
    process.stdout.write(parsed === 'help' ? probesListHelp() : `kdelay ${packageVersion()}\n`);
    return 0;
  },
};

function probesListHelp(): string {
  const help = probesDefinition().commands[0].helpInformation();
  return help.replace(/^Usage: (probes )?list/, 'Usage: kdelay probes list');
}

/** `probes list` fits this many columns: its last column (the sections) wraps. */
const LIST_COLUMNS = 100;

/** A comma-separated list (and a `  [skipped: ...]` note) cut into lines of at most `width`, at commas; a longer item stands alone. */
export function wrapList(text: string, width: number): string[] {
  const [list, note] = text.split(/ {2}(?=\[skipped: )/);
  const items = list.split(', ');
  const out: string[] = [];
  let line = '';
  items.forEach((item, i) => {
    const piece = item + (i < items.length - 1 ? ',' : '');
    if (line && line.length + 1 + piece.length > width) {
      out.push(line);
      line = piece;
    } else line = line ? `${line} ${piece}` : piece;
  });
  out.push(line);
  if (note) {
    line = '';
    for (const word of note.split(' ')) {
      if (line && line.length + 1 + word.length > width) {
        out.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    out.push(line);
  }
  return out;
}

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
      // "STATISTICS" ends most titles: left out here, so that the list fits 100 columns (--json has the titles whole).
      (bundle.manifest.sections.map((s) => s.title.replace(/ STATISTICS$/, '')).join(', ') || '(no sections)') + (missing ? `  [skipped: ${missing}]` : ''),
    ];
  });
  const headers = ['NAME', 'VERSION', 'ARCH', 'SOURCE', 'SIGNATURE', 'SECTIONS'];
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const lines = (r: string[]) => {
    const lead = r.slice(0, -1).map((cell, i) => cell.padEnd(widths[i]));
    const indent = lead.join('  ').length + 2;
    return wrapList(r.at(-1)!, LIST_COLUMNS - indent).map((part, i) => (i === 0 ? [...lead, part].join('  ') : ' '.repeat(indent) + part));
  };
  process.stdout.write([...lines(headers), ...rows.flatMap(lines)].join('\n') + '\n');
  return ExitCode.OK;
}
