/** `kdelay probes list [--probe ...] [--only ...] [--skip ...] [--json]`: the bundles kdelay would run, one line each. */
import { ExitCode, UserError } from '../../base/exit-codes.js';
import { listProbeBundles } from '../../driver/run.js';
import type { ProbesListCommand } from '../../driver/options.js';
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
