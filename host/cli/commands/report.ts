/** `kdelay [OPTIONS]`: the main command, kernel_delay.py's report (or its help or version). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT, run } from '../../driver/run.js';
import { LEGEND } from '../legend.js';
import { buildProgram, helpText, parseOptions } from '../options.js';
import type { CliCommand } from '../runner.js';

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
    return await run(options);
  },
};
