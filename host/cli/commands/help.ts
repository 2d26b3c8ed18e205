/**
 * `kdelay help [COMMAND...]`: the main help, a command's help (the same as
 * `kdelay COMMAND --help`), or a topic (`kdelay help legend`).
 */
import { Command } from 'commander';
import { ExitCode, UserError } from '../../base/exit-codes.js';
import { LEGEND } from '../legend.js';
import { helpText } from '../options.js';
import { type CliCommand, registeredCommands } from '../runner.js';

export const helpCommand: CliCommand = {
  words: ['help'],
  definition: () =>
    new Command('help')
      .description('print the help of kdelay or a command; `help legend` explains the report')
      .usage('[COMMAND | legend]')
      .argument('[COMMAND]', 'a command, or legend'),
  async run(argv) {
    if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h') {
      process.stdout.write(helpText());
      return ExitCode.OK;
    }
    if (argv[0] === 'legend' && argv.length === 1) {
      process.stdout.write(LEGEND);
      return ExitCode.OK;
    }
    const command = registeredCommands().find((c) => c.words.length > 0 && c.words[0] !== 'help' && c.words.every((word, i) => argv[i] === word));
    if (!command) {
      const names = registeredCommands().map((c) => c.words.join(' '));
      throw new UserError(`help: no command '${argv.join(' ')}' (commands: ${[...names, 'legend'].join(', ')})`, ExitCode.USAGE);
    }
    // The rest (`help probes list`) stays in argv, before --help.
    return await command.run([...argv.slice(command.words.length), '--help']);
  },
};
