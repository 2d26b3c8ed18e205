/** kdelay's entry point: its commands over the one runner (cli/runner.ts). */
import { helpCommand } from './commands/help.js';
import { probesListCommand } from './commands/probes-list.js';
import { reportCommand } from './commands/report.js';
import { diffCommand, reportFileCommand } from './commands/report-file.js';
import { runGuestCommand, runGuestDefinition } from './commands/run-guest.js';
import { serveCommand } from './commands/serve.js';
import { type CliCommand, runCli } from './runner.js';

export { packageVersion } from './commands/report.js';
export { reportCommand };
/** kdelay serve's collector thread runs this export of the one-file CLI (driver/serve.ts). */
export { runServeWorker as serveWorker } from '../driver/serve-worker.js';

/**
 * Every command besides the main one. `kdelay --help`, `kdelay help`, the
 * man page and the shell completions (scripts/generate-docs.mjs) list them
 * from their definitions: a command added here is documented everywhere.
 */
export const COMMANDS: readonly CliCommand[] = [
  probesListCommand,
  reportFileCommand,
  diffCommand,
  { words: ['run'], run: runGuestCommand, definition: runGuestDefinition },
  serveCommand,
  helpCommand,
];

export async function main(argv: string[]): Promise<number> {
  return runCli(argv, COMMANDS, reportCommand);
}
