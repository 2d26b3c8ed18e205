/** kdelay's entry point: parse, run, and turn errors into one line plus an exit code. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listProbeBundles, PACKAGE_ROOT, run } from '../driver/run.js';
import { UserError } from './exit-codes.js';
import { helpText, parseOptions } from './options.js';
import { runCommand } from './run-command.js';

/**
 * `kdelay | head` closes our stdout early: that is the reader's choice, not
 * an error. Exit quietly; the kernel releases every program and map with
 * our file descriptors.
 */
function exitQuietlyOnClosedStdout(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(0);
  });
}

/** The version of the installed package, from its package.json (one source of truth). */
export function packageVersion(): string {
  return JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')).version;
}

export async function main(argv: string[]): Promise<number> {
  exitQuietlyOnClosedStdout();
  try {
    if (argv[0] === 'run') return await runCommand(argv.slice(1));
    const options = parseOptions(argv);
    if (options === 'help') {
      process.stdout.write(helpText());
      return 0;
    }
    if (options === 'version') {
      process.stdout.write(`kdelay ${packageVersion()}\n`);
      return 0;
    }
    if ('command' in options) return await listProbeBundles(options);
    return await run(options);
  } catch (err) {
    if (err instanceof UserError) {
      process.stderr.write(`kdelay: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
}
