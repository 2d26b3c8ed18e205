/** `kdelay probes list [--probe ...] [--only ...] [--skip ...] [--json]`: the bundles kdelay would run, one line each. */
import { ExitCode, UserError } from '../../base/exit-codes.js';
import { listProbeBundles } from '../../driver/run.js';
import type { ProbesListCommand } from '../../driver/options.js';
import { Command } from 'commander';
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
