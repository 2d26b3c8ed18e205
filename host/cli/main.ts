/** kdelay's entry point: parse, run, and turn errors into one line plus an exit code. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listProbeBundles, PACKAGE_ROOT, run } from '../driver/run.js';
import { printable } from '../base/printable.js';
import { ExitCode, UserError } from '../base/exit-codes.js';
import { helpText, parseOptions } from './options.js';
import { runCommand } from './run-command.js';

/**
 * `kdelay | head` closes our stdout early: that is the reader's choice, not
 * an error. Exit quietly; the kernel releases every program and map with
 * our file descriptors.
 *
 * Any other write error (a full disk, a quota, EIO) means the report cannot
 * be delivered: kdelay stops at once, says so in one line, and exits 74
 * (EX_IOERR), so a script never mistakes a cut report for a whole one. The
 * kernel side is released the same way.
 */
function handleStdoutErrors(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(ExitCode.OK);
    try {
      process.stderr.write(`kdelay: cannot write the report to standard output: ${describeWriteError(err)}\n`);
    } finally {
      process.exit(ExitCode.IOERR);
    }
  });
}

function describeWriteError(err: NodeJS.ErrnoException): string {
  const words: Record<string, string> = { ENOSPC: 'no space left on device', EDQUOT: 'disk quota exceeded', EFBIG: 'file too large', EIO: 'input/output error' };
  return err.code ? `${words[err.code] ?? err.message} (${err.code})` : err.message;
}

/** The version of the installed package, from its package.json (one source of truth). */
export function packageVersion(): string {
  return JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')).version;
}

export async function main(argv: string[]): Promise<number> {
  handleStdoutErrors();
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
      process.stderr.write(`kdelay: ${printable(err.message)}\n`);
      return err.exitCode;
    }
    throw err;
  }
}
