/** `kdelay [OPTIONS]`: the main command, kernel_delay.py's report (or its help, its version, or --list-probes). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode } from '../../base/exit-codes.js';
import { measure, withTarget } from '../../driver/measure.js';
import { PACKAGE_ROOT } from '../../package-root.js';
import { LEGEND } from '../legend.js';
import { buildProgram, helpText, parseOptions } from '../options.js';
import type { CliCommand } from '../runner.js';
import { listProbes } from './list-probes.js';

/** The version of the installed package, from its package.json (one source of truth). */
export function packageVersion(): string {
  return JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')).version;
}

export const reportCommand: CliCommand = {
  words: [],
  definition: buildProgram,
  async run(argv) {
    const options = parseOptions(argv);
    if (options === 'help') {
      process.stdout.write(helpText());
      return 0;
    }
    if (options === 'legend') {
      process.stdout.write(LEGEND);
      return 0;
    }
    if (options === 'version') {
      process.stdout.write(`kdelay ${packageVersion()}\n`);
      return 0;
    }
    return await withTarget(options, async (context) => {
      if (!options.listProbes) return await measure(options, context);
      listProbes(context.target.pid, (line) => process.stdout.write(`${line}\n`), options.json);
      return ExitCode.OK;
    });
  },
};
