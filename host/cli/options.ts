/**
 * The command line, kept compatible with kernel_delay.py's flags. Parsing is
 * pure: argv in, a validated KdelayOptions (or a UserError) out.
 */
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ExitCode, UserError } from '../base/exit-codes.js';
import { type KdelayOptions, nextPowerOfTwo, type ProbesListCommand } from '../driver/options.js';
import { isKnownProgramKind, knownProgramKinds } from '../bundle/policy.js';
import { parseTrigger } from '../system/triggers.js';
import { commandLeaves, commandUsages, registeredCommands } from './runner.js';

export { type KdelayOptions, nextPowerOfTwo, type ProbesListCommand };

/** An integer of 0 or more; `negative` says what is valid when it is not (commander passes the previous value second: not a parameter of unsignedInt). */
function wholeNumber(value: string, negative: string): number {
  if (!/^\s*[+-]?\d+\s*$/.test(value)) throw new InvalidArgumentError('must be an integer');
  const n = Number(value);
  if (n < 0) throw new InvalidArgumentError(negative);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('is too large');
  return n;
}

function unsignedInt(value: string): number {
  return wholeNumber(value, 'must be 0 or more');
}

function unsignedNonzeroInt(value: string): number {
  const n = wholeNumber(value, 'must be 1 or more');
  if (n === 0) throw new InvalidArgumentError('must be nonzero');
  return n;
}

/** --sample-count: 0 repeats until Ctrl-C, as BCC tools run without a count (the reference refuses 0). */
function sampleCount(value: string): number {
  const n = wholeNumber(value, 'must be 1 or more samples, or 0 to sample until Ctrl-C');
  return n === 0 ? Infinity : n;
}

/**
 * `kdelay PID`, the positional form of -p. A word that is not a number is
 * most likely a mistyped command: say so, naming the commands.
 */
function positionalPid(value: string): number {
  if (!/^\s*\d+\s*$/.test(value)) {
    const commands = registeredCommands().map((c) => c.words.join(' '));
    throw new UserError(`unknown command '${value}': a PID is a number, a command one of ${commands.join(', ')} (kdelay help)`, ExitCode.USAGE);
  }
  return unsignedInt(value);
}

/** The longest --thread-name an error message repeats whole; a longer one is cut (a 100,000-character line helps nobody). */
const SHOWN_PATTERN_CHARS = 200;

/**
 * --thread-name: a JavaScript regular expression, searched in each thread's
 * name (as grep -E; anchor with ^ and $). V8 compiles a pattern only when it
 * first runs, and refuses one too large for it only then ("Regular
 * expression too large"): it is run once here, on an empty name, so that
 * every refusal is this one line and not a stack trace in the middle of a run.
 */
function threadNamePattern(value: string): RegExp {
  try {
    const pattern = new RegExp(value);
    // Twice: V8 interprets a pattern's first run and may compile it to machine code on the next.
    pattern.test('');
    pattern.test('');
    return pattern;
  } catch (err) {
    const message = (err as Error).message;
    if (value.length <= SHOWN_PATTERN_CHARS) throw new InvalidArgumentError(`not a valid regular expression (${message})`);
    // V8's message repeats the whole pattern: name it by its start and length instead.
    const why = message.startsWith('Invalid regular expression: ') ? message.slice(message.lastIndexOf(': ') + 2) : message;
    throw new UserError(`--thread-name '${value.slice(0, 40)}...' (${value.length} characters): not a valid regular expression (${why})`, ExitCode.USAGE);
  }
}

const repeatable = (value: string, all: string[] = []) => [...all, value];

/** --allow-program-kind: a kind libbpf knows or a helper the policy refuses; a typo would let nothing through, silently. */
function programKind(value: string, all: string[] = []): string[] {
  if (!isKnownProgramKind(value)) throw new InvalidArgumentError(`is not a BPF program kind or helper kdelay knows (${knownProgramKinds()})`);
  return [...all, value];
}

function probeOption(value: string, all: Record<string, string> = {}): Record<string, string> {
  const m = /^([a-z][a-z0-9_-]*\.[a-z0-9_.-]+)=(.*)$/.exec(value);
  if (!m) throw new InvalidArgumentError('must be PROBE.OPTION=VALUE (see the options in each probe manifest)');
  return { ...all, [m[1]]: m[2] };
}

function probeNames(value: string, all: string[] = []): string[] {
  const names = value.split(',').map((n) => n.trim());
  if (names.some((n) => !/^[a-z][a-z0-9_-]*$/.test(n))) throw new InvalidArgumentError('must be probe names separated by commas');
  return [...all, ...names];
}

/**
 * The longest --sample-time and --sample-interval: 100 days. Longer ones
 * would no longer count nanoseconds exactly in a double, and nobody samples
 * for months; saying so beats a window cut short without a word.
 */
export const MAX_SECONDS = 100 * 24 * 3600;

function seconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('must be a number of seconds');
  if (n < 0) throw new InvalidArgumentError('must not be negative');
  if (n > MAX_SECONDS) throw new InvalidArgumentError(`must be at most ${MAX_SECONDS} (100 days)`);
  return n;
}

function milliseconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number of milliseconds');
  if (n > MAX_SECONDS * 1000) throw new InvalidArgumentError(`must be at most ${MAX_SECONDS * 1000} (100 days)`);
  return n;
}

export const HELP_EXAMPLES = `
Triggers (TYPE:ARGS):
  u|usdt:PROVIDER:PROBE   t|trace:SYSTEM:EVENT   k|kprobe:FUNCTION
  kr|kretprobe:FUNCTION   up|uprobe:FUNCTION     ur|upr|uretprobe:FUNCTION
  up:LIBRARY:FUNCTION, ur:LIBRARY:FUNCTION: in a shared library: one the
  target has mapped, by file name (libc.so.6, libc or c), or a path

Examples:
  kdelay                              # 0.5 s sample of the running ovs-vswitchd
  kdelay -p 1234 --sample-time 2      # 2 s sample of process 1234
  kdelay 1234 -i 1 --sample-count 0   # 1 s samples of process 1234 until Ctrl-C
  kdelay 1234 --verdict               # the tables, then who delayed which thread and why
  kdelay 1234 --format reference      # the tables in kernel_delay.py's layout, byte for byte
  kdelay --sample-count 5 --sample-interval 1
                                      # five samples, one second apart
  kdelay --start-trigger up:bridge_run --stop-trigger upr:bridge_run \\
         --sample-count 4 --trigger-delta 50000
                                      # bridge_run() calls longer than 50 us
  kdelay --thread-name '^(handler|revalidator)[0-9]+$'
                                      # only the handler and revalidator threads
  kdelay -p 1234 --start-trigger up:libc:fsync --stop-trigger ur:libc:fsync
                                      # one fsync() call of process 1234
  kdelay --catch-long-poll 1000       # only the poll intervals of 1 s or more, with
                                      # the verdict, until Ctrl-C (ovs-vswitchd's
                                      # "Unreasonably long ...ms poll interval")
  kdelay -p 1234 --catch-syscall 200 --sample-count 3
                                      # the first three syscalls of 200 ms or more

  kdelay -p 1234 -s 1000000 --verdict --write run.kdelay
                                      # record the run too; then, anywhere:
  kdelay report run.kdelay            #   the same report again (--json, --html OUT, --folded)
  kdelay diff before.kdelay after.kdelay
                                      #   what changed, largest first

  kdelay probes list                  # the probe bundles kdelay runs
  kdelay run GUEST.wasm [ARGS...]     # run a plain wasm-bpf guest (see kdelay run --help)
  kdelay --only syscalls,sched        # just these probes' sections
  kdelay --probe ./pagefaults.wasm --trust-key ./author.pub
                                      # add a third-party probe signed by author

Probe bundles load kernel code as root: kdelay checks each bundle's digest
and Ed25519 signature first. Built-in bundles must be signed by the kdelay
release key; others by a key you trust (--trust-key, or the .pub files in
$KDELAY_HOME/trusted-keys/; KDELAY_HOME defaults to /etc/kdelay, whose
probes.d/*.wasm are added to every run).

Run as root, or with CAP_BPF and CAP_PERFMON. Exit codes: 0 ok (also after
Ctrl-C, SIGTERM or SIGHUP), 2 usage, 66 several ovs-vswitchd processes,
69 no target, 71 probe load/attach failed, 72 BPF/BTF/libbpf missing,
73 --write's file cannot be created, 74 the report could not be written,
77 missing capabilities, 78 bad trigger or refused bundle. kdelay report
and kdelay diff: 65 not a recording (or damaged, cut short, newer), 66
missing (see kdelay report --help).`;

/**
 * Commander's help appends `(default: 0, preset: 0)` to every option with a
 * value; a newcomer reads that as noise. An option's default is shown only
 * when it says something (not 0, not off), and never its preset (a bare
 * `--trigger-delta` or `-s`: the description says what it means).
 */
export function optionHelp(option: Option): string {
  const shown = option.defaultValueDescription ?? (option.defaultValue === undefined || option.defaultValue === 0 ? undefined : JSON.stringify(option.defaultValue));
  return shown === undefined ? option.description : `${option.description} (default: ${shown})`;
}

export function buildProgram(): Command {
  return new Command('kdelay')
    .description('Is my process slow, or is the kernel delaying it? Per-thread syscall and delay statistics.')
    .usage('[OPTIONS] [PID]')
    .addArgument(new Argument('[PID]', 'the process to measure, the same as -p PID').argParser(positionalPid))
    .addOption(new Option('-p, --pid <PID>', 'target process (default, or 0: the running ovs-vswitchd)').argParser(unsignedInt))
    .addOption(new Option('-t, --tid <TID>', 'only this thread (its process is the target)').argParser(unsignedInt))
    .addOption(
      new Option(
        '--thread-name <REGEX>',
        "only threads whose name matches this JavaScript regular expression, searched as grep -E does ('^worker-[02]$'); with -t, both must hold",
      ).argParser(threadNamePattern),
    )
    .addOption(new Option('--sample-time <SECONDS>', 'length of each sample').argParser(seconds).default(0.5))
    .addOption(new Option('-i, --interval <SECONDS>', 'the same as --sample-time, as BCC tools spell it').argParser(seconds).conflicts('sampleTime'))
    .addOption(new Option('--sample-count <RUNS>', 'number of samples to report; 0: until Ctrl-C').argParser(sampleCount).default(1))
    .addOption(new Option('--sample-interval <SECONDS>', 'pause between samples').argParser(seconds).default(0))
    .addOption(new Option('--start-trigger <TRIGGER>', 'begin a sample when this probe fires (see Triggers)'))
    .addOption(new Option('--stop-trigger <TRIGGER>', 'end a sample when this probe fires'))
    .addOption(new Option('--trigger-delta [NS]', 'with both triggers, skip samples shorter than NS').argParser(unsignedInt).preset(0).default(0))
    .addOption(new Option('-s, --syscall-events [DURATION_NS]', 'also list each syscall longer than DURATION_NS (all if omitted), with stacks').argParser(unsignedInt).preset(0))
    .addOption(new Option('--skip-syscall-poll-events', 'leave poll() out of --syscall-events'))
    .addOption(new Option('--stack-trace-size <N>', 'stack table entries for --syscall-events; 0 disables stacks').argParser(unsignedInt).default(4096))
    .addOption(new Option('--buffer-page-count <N>', 'ring-buffer pages for events, rounded up to a power of two').argParser(unsignedNonzeroInt).default(1024))
    .addOption(new Option('--skip-upcall-stats', 'do not collect Open vSwitch datapath upcall statistics'))
    .addOption(new Option('--probe <PATH>', 'also run this probe bundle (.wasm), or every bundle in this folder; repeatable').argParser(repeatable))
    .addOption(new Option('--trust-key <FILE>', 'trust bundles signed by this Ed25519 public key (PEM); repeatable').argParser(repeatable))
    .addOption(new Option('--allow-unsigned', 'run bundles that are unsigned or signed by an untrusted key (they load kernel code as root)'))
    .addOption(new Option('--only <PROBES>', 'run only these probes (comma-separated names, see `kdelay probes list`)').argParser(probeNames))
    .addOption(new Option('--skip <PROBES>', 'do not run these probes (comma-separated names)').argParser(probeNames))
    .addOption(new Option('--probe-option <NAME=VALUE>', 'set an option a probe declares, e.g. syscalls.max_entries=65536; repeatable').argParser(probeOption))
    .addOption(
      new Option('--allow-program-kind <KIND>', 'let bundles use a BPF program kind or helper the policy refuses (e.g. xdp, probe_write_user); repeatable').argParser(programKind),
    )
    .addOption(new Option('--list-probes', "list the target's USDT probes and whether uprobes can find its functions"))
    .addOption(new Option('-D, --debug [FLAGS]', 'print which libbpf is used and its log (any FLAGS value enables it)').argParser(unsignedInt).preset(0x3f).default(0))
    .addOption(new Option('--verdict', 'after the tables, the verdict: per thread, how much of the window the kernel delayed it, and why'))
    .addOption(new Option('--verdict-only', 'print only the verdict: per thread, how much of the window the kernel delayed it, and why'))
    .addOption(new Option('--hist', "add log2 histograms of run-queue waits and of each syscall's duration, and percentiles in the verdict"))
    .addOption(
      new Option('--format <FORMAT>', "text (for a reader), reference (kernel_delay.py's layout, byte for byte) or json (the same as --json)")
        .choices(['text', 'reference', 'json'])
        .default('text', 'text'),
    )
    .addOption(new Option('--catch-long-poll <MS>', 'stay attached and report only windows holding a poll interval of at least MS ms (with the verdict)').argParser(milliseconds))
    .addOption(new Option('--catch-syscall <MS>', 'stay attached and report only windows holding a system call of at least MS ms (with the verdict)').argParser(milliseconds))
    .addOption(new Option('--json', 'one JSON object per line (NDJSON) instead of the text report'))
    .addOption(new Option('--legend', 'explain the sections of the report (RUN, READY, STOPPED, LONG POLL, PARTIAL, ...) and exit'))
    .addOption(new Option('--write <FILE>', 'also record every sample into FILE, to render again later (kdelay report FILE, kdelay diff A B)'))
    .addOption(new Option('-V, --version', "print kdelay's version"))
    .addHelpOption(new Option('-h, --help', 'print this help'))
    .configureHelp({ optionDescription: optionHelp, sortOptions: false })
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} });
}

/**
 * The reference's own long options (its argparse). A prefix that is
 * ambiguous only because kdelay added options of its own (`--tr` for
 * --trigger-delta, now also a prefix of --trust-key) still means the
 * reference's option, so that its command lines keep working.
 */
export const REFERENCE_LONG_OPTIONS = [
  '--debug',
  '--pid',
  '--syscall-events',
  '--buffer-page-count',
  '--sample-count',
  '--sample-interval',
  '--sample-time',
  '--skip-syscall-poll-events',
  '--skip-upcall-stats',
  '--stack-trace-size',
  '--start-trigger',
  '--stop-trigger',
  '--trigger-delta',
  '--help',
];

/**
 * argparse, which the reference uses, accepts any unambiguous prefix of a
 * long option (`--sample-c 2`); commander does not. Expands them before
 * commander sees argv, and refuses an ambiguous one as argparse does.
 * Everything after a bare `--` is left alone.
 */
export function expandOptionPrefixes(argv: readonly string[], program: Command): string[] {
  const longNames = [...program.options.map((o) => o.long).filter((l): l is string => Boolean(l)), '--help'];
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') return [...out, ...argv.slice(i)];
    if (!arg.startsWith('--')) {
      out.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg : arg.slice(0, eq);
    let matches = longNames.includes(name) ? [name] : longNames.filter((l) => l.startsWith(name));
    const reference = matches.filter((l) => REFERENCE_LONG_OPTIONS.includes(l));
    if (matches.length > 1 && reference.length === 1) matches = reference;
    if (matches.length > 1) throw new UserError(`ambiguous option: ${name} could match ${matches.join(', ')}`, ExitCode.USAGE);
    out.push(matches.length === 1 ? matches[0] + (eq < 0 ? '' : arg.slice(eq)) : arg);
  }
  return out;
}

/** Parses argv (without node and script); throws UserError for bad input. */
export function parseOptions(argv: string[]): KdelayOptions | 'help' | 'version' | 'legend' {
  const program = buildProgram();
  try {
    program.parse(expandOptionPrefixes(argv, program), { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help') return 'help';
      // `kdelay prbes list`: commander counts the words before it reads them; a first word that is not a PID is a mistyped command.
      if (err.code === 'commander.excessArguments' && program.args.length && !/^\s*\d+\s*$/.test(program.args[0])) positionalPid(program.args[0]);
      if (err.code === 'commander.version') return 'version';
      // Commander puts its suggestion on a line of its own ("\n(Did you mean --hist?)"): one line
      // here, so that only control characters from outside (the runner escapes them) show as \xNN.
      const lines = err.message
        .replace(/^error: /, '')
        .split('\n')
        .map((line) => line.trim());
      throw new UserError(lines.filter(Boolean).join(' '), ExitCode.USAGE);
    }
    throw err;
  }
  const o = program.opts();
  if (o.version) return 'version';
  if (o.legend) return 'legend';
  const [positional] = program.processedArgs as [number | undefined];
  if (positional !== undefined && o.pid !== undefined && o.pid !== positional) {
    throw new UserError(`two different processes: -p ${o.pid} and ${positional}; give one`, ExitCode.USAGE);
  }
  const pid = o.pid ?? positional;
  if (o.json === true && o.format !== 'text' && o.format !== 'json') throw new UserError(`--json and --format ${o.format} are different outputs: choose one`, ExitCode.USAGE);
  const format: KdelayOptions['format'] = o.json === true ? 'json' : o.format;
  const catching = o.catchLongPoll !== undefined || o.catchSyscall !== undefined;
  if (catching && (o.startTrigger !== undefined || o.stopTrigger !== undefined)) {
    throw new UserError('--catch-long-poll and --catch-syscall choose their own windows: they take no --start-trigger or --stop-trigger', ExitCode.USAGE);
  }
  return {
    // -p 0 is the reference's "find ovs-vswitchd" too.
    pid: pid === 0 ? undefined : pid,
    tid: o.tid,
    threadName: o.threadName,
    sampleTime: o.interval ?? o.sampleTime,
    // Catch mode runs until Ctrl-C unless told how many catches to report.
    sampleCount: catching && program.getOptionValueSource('sampleCount') !== 'cli' ? Infinity : o.sampleCount,
    sampleInterval: o.sampleInterval,
    debug: o.debug,
    json: format === 'json',
    format,
    startTrigger: o.startTrigger === undefined ? undefined : parseTrigger(o.startTrigger, 'start'),
    stopTrigger: o.stopTrigger === undefined ? undefined : parseTrigger(o.stopTrigger, 'stop'),
    triggerDelta: o.triggerDelta,
    listProbes: o.listProbes === true,
    syscallEvents: o.syscallEvents,
    skipSyscallPollEvents: o.skipSyscallPollEvents === true,
    stackTraceSize: o.stackTraceSize,
    bufferPageCount: nextPowerOfTwo(o.bufferPageCount),
    probeFiles: o.probe ?? [],
    trustKeys: o.trustKey ?? [],
    allowUnsigned: o.allowUnsigned === true,
    onlyProbes: o.only ?? [],
    // --skip-upcall-stats is the reference's spelling of --skip upcall: the CLI's alias, unknown below it.
    skipProbes: [...(o.skip ?? []), ...(o.skipUpcallStats === true ? ['upcall'] : [])],
    allowProgramKinds: o.allowProgramKind ?? [],
    probeOptions: o.probeOption ?? {},
    verdict: o.verdict === true || o.verdictOnly === true || o.hist === true || catching,
    catchLongPollMs: o.catchLongPoll,
    catchSyscallMs: o.catchSyscall,
    verdictOnly: o.verdictOnly === true,
    histograms: o.hist === true,
    ...(o.write !== undefined ? { write: o.write, argv: [...argv] } : {}),
  };
}

/**
 * `kdelay --help`: commander's help for the main command, its usage line
 * followed by every other command's (from their definitions), and the
 * commands with what each does.
 */
export function helpText(): string {
  const others = registeredCommands().flatMap((c) => (c.definition ? commandLeaves(c.definition()) : []));
  const [usage, ...rest] = buildProgram().helpInformation().split('\n');
  const usages = registeredCommands().flatMap((c) => commandUsages(c).map((u) => `       ${u}`));
  const width = Math.max(0, ...others.map((c) => c.words.join(' ').length));
  const list = others.map((c) => `  ${c.words.join(' ').padEnd(width)}  ${c.command.description()}`);
  const commands = list.length ? `\nCommands (kdelay help COMMAND, or COMMAND --help, says more):\n${list.join('\n')}\n` : '';
  return `${[usage, ...usages, ...rest].join('\n')}${commands}${HELP_EXAMPLES}\n`;
}
