/**
 * The one small runner every command runs under: kdelay's commands
 * (cli/commands/*) are looked up by their leading words, anything else is
 * the main command, and a UserError from any of them becomes one line on
 * stderr plus its exit code. A report cut short by a failing stdout ends the
 * same way for all.
 */
import { constants, readFileSync, readlinkSync } from 'node:fs';
import type { Command } from 'commander';
import { printable } from '../base/printable.js';
import { ExitCode, UserError } from '../base/exit-codes.js';

export interface CliCommand {
  /** The words that select it (`probes list` is ['probes']); none for the main command. */
  words: readonly string[];
  /** argv after those words; the exit code. Bad input throws UserError. `--help` prints its help. */
  run(argv: string[]): Promise<number>;
  /**
   * Its command line as commander defines it (name, description, arguments,
   * options). `kdelay help`'s list of commands, the man page and the shell
   * completions (scripts/generate-docs.mjs) are made from these, so a new
   * command with a definition appears in all of them by itself.
   */
  definition?(): Command;
}

let registered: readonly CliCommand[] = [];

/** The commands runCli was given (besides the main one), for help texts that list them. */
export function registeredCommands(): readonly CliCommand[] {
  return registered;
}

/**
 * A command's leaves: the definition itself, or for one with subcommands
 * (`probes` has `list`) each of them, with the words that select it.
 */
export function commandLeaves(definition: Command, words: readonly string[] = [definition.name()]): { words: string[]; command: Command }[] {
  if (definition.commands.length === 0) return [{ words: [...words], command: definition }];
  return definition.commands.flatMap((sub) => commandLeaves(sub, [...words, sub.name()]));
}

/** `kdelay probes list [OPTIONS]`: each usage line of a command, from its definition. */
export function commandUsages(command: CliCommand): string[] {
  const definition = command.definition?.();
  if (!definition) return [];
  return commandLeaves(definition).map(({ words, command: leaf }) => ['kdelay', ...words, leaf.usage()].filter(Boolean).join(' '));
}

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
  // Notes and errors go to stderr: one that cannot be written (2>/dev/full, a
  // closed pipe) is lost, but it must not cost the report or change the exit
  // code (an unhandled 'error' event ended the run with exit 1).
  process.stderr.on('error', () => {});
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

/**
 * Whether kdelay was started with its standard output closed (`>&-`). Node
 * then opens /dev/null read-write in its place, so every write "succeeds"
 * and the report vanishes with exit 0. A shell's `>/dev/null` opens it
 * write-only: that one is a choice, and is left alone.
 */
function stdoutClosedAtStart(): boolean {
  try {
    if (readlinkSync('/proc/self/fd/1') !== '/dev/null') return false;
    const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync('/proc/self/fdinfo/1', 'utf8'))?.[1];
    return flags !== undefined && (parseInt(flags, 8) & 3) === constants.O_RDWR; // 3: O_ACCMODE;
  } catch {
    return false;
  }
}

/** Runs the command argv selects (the first whose words lead argv, else `main`). */
export async function runCli(argv: string[], commands: readonly CliCommand[], main: CliCommand): Promise<number> {
  handleStdoutErrors();
  if (stdoutClosedAtStart()) {
    process.stderr.write('kdelay: standard output is closed: there is nowhere to write the report (to discard it, use >/dev/null)\n');
    return ExitCode.IOERR;
  }
  registered = commands;
  const command = commands.find((c) => c.words.length > 0 && c.words.every((word, i) => argv[i] === word)) ?? main;
  try {
    return await command.run(argv.slice(command.words.length));
  } catch (err) {
    if (err instanceof UserError) {
      process.stderr.write(`kdelay: ${printable(err.message)}\n`);
      return err.exitCode;
    }
    throw err;
  }
}
