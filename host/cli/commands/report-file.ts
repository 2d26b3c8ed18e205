/**
 * `kdelay report FILE`: renders a recording made with --write again (text,
 * --json, --html OUT, --folded); `kdelay diff A B`: what changed between
 * two. (The main command, the live report, is commands/report.ts.)
 */
import { writeFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ExitCode, UserError } from '../../base/exit-codes.js';
import { openRecording } from '../../report/recording/reader.js';
import { replay, type ReplayOptions } from '../../report/recording/replay.js';
import { collectRecording } from '../../report/recording/collect.js';
import { foldedStacks, type FoldedWeight } from '../../report/recording/folded.js';
import { htmlReport } from '../../report/recording/html.js';
import { diffJsonLines, diffRecordings, diffTextLines } from '../../report/recording/diff.js';
import type { CliCommand } from '../runner.js';

const REPORT_HELP = `
Examples:
  kdelay -p 1234 --sample-time 2 --verdict --write run.kdelay
                                      # measure and record
  kdelay report run.kdelay            # the same report again, byte for byte
  kdelay report run.kdelay --json     # what --json would have printed
  kdelay report run.kdelay --format reference
                                      # in kernel_delay.py's layout
  kdelay report run.kdelay --thread-name '^handler' --verdict-only
  kdelay report run.kdelay --html run.html
                                      # one self-contained page: bars, tables, flame graph
  kdelay report run.kdelay --folded | flamegraph.pl > stacks.svg
                                      # -s events as folded stacks

Exit codes: 0 ok, 2 usage (or an option the recording has no data for),
65 not a recording, damaged, cut short or from a newer kdelay, 66 missing
or unreadable, 73 the --html file cannot be created.`;

const DIFF_HELP = `
Compares two recordings (kdelay --write) thread by thread, matching
threads by name (then by role: the name without its digits), not by TID.
The first line is the largest change, as a sentence; then every change
larger than 0.1% of A's window, largest first (sums over each
recording's samples, not scaled to the windows' lengths).

Examples:
  kdelay diff before.kdelay after.kdelay
  kdelay diff before.kdelay after.kdelay --json | jq -c .data

Exit codes: 0 ok, 2 usage, 65 not a recording or damaged, 66 missing.`;

function unsignedInt(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('is not a whole number');
  return Number(value);
}

function pattern(value: string): RegExp {
  try {
    return new RegExp(value);
  } catch (err) {
    throw new InvalidArgumentError(`is not a JavaScript regular expression (${(err as Error).message})`);
  }
}

/** Commander, told to throw instead of exit, with its messages as one UserError line. */
function parse(program: Command, argv: string[]): Command | 'help' {
  program
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: () => {} })
    .allowExcessArguments(false);
  try {
    program.parse(argv, { from: 'user' });
    return program;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help') return 'help';
      throw new UserError(err.message.replace(/^error: /, '').replace(/\n.*/s, ''), ExitCode.USAGE);
    }
    throw err;
  }
}

export function reportProgram(): Command {
  return new Command('kdelay report')
    .usage('FILE [--json | --format FORMAT | --html OUT | --folded] [--verdict | --verdict-only] [--hist] [-t TID] [--thread-name REGEX]')
    .description('Render a recording made with `kdelay --write FILE` again: text (as the live run printed it, or --format reference|text), --json, --html, --folded.')
    .argument('<FILE>', 'a recording (kdelay --write)')
    .addOption(new Option('--json', 'the NDJSON the live run would have printed with --json'))
    .addOption(new Option('--format <FORMAT>', "text, reference (kernel_delay.py's layout) or json (the same as --json)").choices(['text', 'reference', 'json']))
    .addOption(new Option('--html <OUT>', 'write one self-contained HTML page to OUT (- for stdout)'))
    .addOption(new Option('--folded', '-s events as folded stacks (thread;frames;syscall COUNT), for flamegraph.pl'))
    .addOption(new Option('--weight <WEIGHT>', 'with --folded: weigh stacks by event count or by time in the call (ns)').choices(['count', 'time']).default('count'))
    .addOption(new Option('--verdict', 'add the verdict (if the recording has its data)'))
    .addOption(new Option('--verdict-only', 'only the verdict'))
    .addOption(new Option('--hist', 'add the histograms (if recorded with --hist)'))
    .addOption(new Option('-t, --tid <TID>', 'only this thread').argParser(unsignedInt))
    .addOption(new Option('--thread-name <REGEX>', 'only threads whose recorded name matches').argParser(pattern))
    .addHelpText('after', REPORT_HELP);
}

export const reportFileCommand: CliCommand = {
  words: ['report'],
  async run(argv) {
    const program = parse(reportProgram(), argv);
    if (program === 'help') return ExitCode.OK;
    const o = program.opts();
    const file = program.args[0];
    if (o.json && o.format !== undefined && o.format !== 'json') throw new UserError(`--json and --format ${o.format} are different outputs: choose one`, ExitCode.USAGE);
    const json = o.json === true || o.format === 'json';
    if ([json || o.format !== undefined, o.html !== undefined, o.folded].filter(Boolean).length > 1) {
      throw new UserError('--json (or --format), --html and --folded are different outputs: choose one', ExitCode.USAGE);
    }
    const options: ReplayOptions = {
      json,
      ...(o.format === 'reference' || o.format === 'text' ? { layout: o.format } : {}),
      ...(o.verdict ? { verdict: true } : {}),
      ...(o.verdictOnly ? { verdictOnly: true } : {}),
      ...(o.hist ? { histograms: true } : {}),
      ...(o.tid !== undefined ? { tid: o.tid } : {}),
      ...(o.threadName ? { threadName: o.threadName } : {}),
    };
    const recording = await openRecording(file);
    if (o.folded) {
      if (recording.header.options.syscall_events_ns === null) throw new UserError(`--folded: ${file} has no syscall events (it was recorded without -s)`, ExitCode.USAGE);
      const all = await collectRecording(recording, options);
      const lines = foldedStacks(
        all.samples.flatMap((s) => (s.sample.events ?? []).map((event) => ({ event, thread: s.nameOf(event.tid) }))),
        o.weight as FoldedWeight,
      );
      if (lines.length) process.stdout.write(lines.join('\n') + '\n');
      return ExitCode.OK;
    }
    if (o.html !== undefined) {
      const all = await collectRecording(recording, options);
      const page = htmlReport(all);
      if (o.html === '-') process.stdout.write(page);
      else {
        try {
          writeFileSync(o.html, page);
        } catch (err) {
          throw new UserError(`--html ${o.html}: cannot write it: ${(err as Error).message}`, ExitCode.CANTCREAT);
        }
      }
      return ExitCode.OK;
    }
    const print = (line: string) => process.stdout.write(`${line}\n`);
    return await replay(recording, options, print, (bytes) => {
      process.stdout.write(bytes);
      return false; // the renderer may not reuse a buffer stdout still holds
    });
  },
};

export function diffProgram(): Command {
  return new Command('kdelay diff')
    .usage('A B [--json]')
    .description('What changed between two recordings (kdelay --write), per thread and section, largest first.')
    .argument('<A>', 'the first recording (before)')
    .argument('<B>', 'the second recording (after)')
    .addOption(new Option('--json', 'one JSON object per line: a diff record, then one per change'))
    .addOption(new Option('--all', 'list every change, however small'))
    .addHelpText('after', DIFF_HELP);
}

export const diffCommand: CliCommand = {
  words: ['diff'],
  async run(argv) {
    const program = parse(diffProgram(), argv);
    if (program === 'help') return ExitCode.OK;
    const [a, b] = program.args;
    const o = program.opts();
    const before = await collectRecording(await openRecording(a), { json: false });
    const after = await collectRecording(await openRecording(b), { json: false });
    const diff = diffRecordings(before, after);
    const lines = o.json ? diffJsonLines(diff, a, b) : diffTextLines(diff, a, b, o.all === true);
    process.stdout.write(lines.join('\n') + '\n');
    return ExitCode.OK;
  },
};
