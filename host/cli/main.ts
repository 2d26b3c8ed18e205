/** kdelay's entry point: its commands over the one runner (cli/runner.ts). */
import { probesListCommand } from './commands/probes-list.js';
import { reportCommand } from './commands/report.js';
import { runGuestCommand } from './commands/run-guest.js';
import { serveCommand } from './commands/serve.js';
import { runCli } from './runner.js';

export { packageVersion } from './commands/report.js';

export async function main(argv: string[]): Promise<number> {
  return runCli(argv, [probesListCommand, { words: ['run'], run: runGuestCommand }, serveCommand], reportCommand);
}
