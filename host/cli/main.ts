/** kdelay's entry point: parse, run, and turn errors into one line plus an exit code. */
import { listProbeBundles, run } from '../driver/run.js';
import { UserError } from './exit-codes.js';
import { helpText, parseOptions } from './options.js';
import { runCommand } from './run-command.js';

export async function main(argv: string[]): Promise<number> {
  try {
    if (argv[0] === 'run') return await runCommand(argv.slice(1));
    const options = parseOptions(argv);
    if (options === 'help') {
      process.stdout.write(helpText());
      return 0;
    }
    if (options === 'version') return 0;
    if ('command' in options) return listProbeBundles(options.probeFiles);
    return await run(options);
  } catch (err) {
    if (err instanceof UserError) {
      process.stderr.write(`kdelay: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
}
