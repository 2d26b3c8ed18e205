/** `kdelay serve [--listen HOST:PORT] [-p PID] ...`: the probes' statistics as Prometheus metrics (driver/serve.ts). */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ExitCode, UserError } from '../../base/exit-codes.js';
import { DEFAULT_LISTEN, serve, type ServeOptions } from '../../driver/serve.js';
import type { CliCommand } from '../runner.js';
import { packageVersion } from './report.js';

function listenAddress(value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new InvalidArgumentError('must be HOST:PORT, e.g. 127.0.0.1:9464, 0.0.0.0:9464 or [::1]:9464');
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number of seconds');
  if (n > 100 * 24 * 3600) throw new InvalidArgumentError('must be at most 8640000 (100 days)');
  return n;
}

function pid(value: string): number {
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError('must be a process id');
  return Number(value);
}

const repeatable = (value: string, all: string[] = []) => [...all, value];
const probeNames = (value: string, all: string[] = []) => [...all, ...value.split(',').map((n) => n.trim())];
function probeOption(value: string, all: Record<string, string> = {}): Record<string, string> {
  const m = /^([a-z][a-z0-9_-]*\.[a-z0-9_.-]+)=(.*)$/.exec(value);
  if (!m) throw new InvalidArgumentError('must be PROBE.OPTION=VALUE');
  return { ...all, [m[1]]: m[2] };
}

export const SERVE_HELP_EXAMPLES = `
Metrics (Prometheus text format; see README, "kdelay serve"):
  kdelay_syscall_calls_total, kdelay_syscall_seconds_total {pid, tid, thread, syscall}
  kdelay_thread_run_seconds_total, kdelay_thread_ready_seconds_total,
  kdelay_thread_stopped_seconds_total, kdelay_irq_seconds_total{kind, name},
  with --hist kdelay_thread_latency_seconds (histogram; kind run_queue|syscall),
  and every other probe's columns its manifest exports.

Examples:
  kdelay serve                              # the running ovs-vswitchd, and the next one after a restart
  kdelay serve -p 1234 --listen 0.0.0.0:9464
  kdelay serve --by-thread-name --expire 600
                                            # one series per thread name: for thousands of threads

The probes' window opens once per target and never closes: every --interval
kdelay reads their running totals, so counters are exact and never miss an
event between reads; a scrape sends what the last read found. A thread's
series stay after it exits until nothing new was seen of it for --expire
seconds.`;

export function buildServeProgram(): Command {
  const listen = `${DEFAULT_LISTEN.host}:${DEFAULT_LISTEN.port}`;
  return new Command('serve')
    .usage('[--listen HOST:PORT] [-p PID] [--by-thread-name] [--expire S] [--interval S] [--hist] [PROBE OPTIONS]')
    .description("Serve the probes' per-thread statistics as Prometheus metrics at http://HOST:PORT/metrics, continuously.")
    .addOption(new Option('--listen <HOST:PORT>', 'address to serve /metrics on').argParser(listenAddress).default(DEFAULT_LISTEN, listen))
    .addOption(new Option('-p, --pid <PID>', 'target process (default: the running ovs-vswitchd, and the next one when it restarts)').argParser(pid))
    .addOption(new Option('--by-thread-name', 'one series per thread name instead of per thread (labels pid, thread; no tid)'))
    .addOption(new Option('--expire <SECONDS>', 'how long the series of a thread that exited stay').argParser(positiveSeconds).default(300))
    .addOption(
      new Option('--interval <SECONDS>', "how often the probes' totals are read (what a scrape sees is at most this old; also how soon a restarted target is found)")
        .argParser(positiveSeconds)
        .default(1),
    )
    .addOption(new Option('--hist', 'also run the account probe: run-queue wait and syscall duration histograms, and time per state'))
    .addOption(new Option('--probe <PATH>', 'also run this probe bundle, or every bundle in this folder; repeatable').argParser(repeatable))
    .addOption(new Option('--trust-key <FILE>', 'trust bundles signed by this Ed25519 public key (PEM); repeatable').argParser(repeatable))
    .addOption(new Option('--allow-unsigned', 'run bundles that are unsigned or signed by an untrusted key'))
    .addOption(new Option('--only <PROBES>', 'run only these probes (comma-separated)').argParser(probeNames))
    .addOption(new Option('--skip <PROBES>', 'do not run these probes (comma-separated)').argParser(probeNames))
    .addOption(new Option('--probe-option <NAME=VALUE>', 'set an option a probe declares; repeatable').argParser(probeOption))
    .addOption(new Option('--allow-program-kind <KIND>', 'let bundles use a BPF program kind the policy refuses; repeatable').argParser(repeatable))
    .addOption(new Option('-D, --debug', "print which libbpf is used and libbpf's log on stderr"))
    .addOption(new Option('-V, --version', "print kdelay's version"))
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} });
}

export function parseServe(argv: string[]): ServeOptions | 'help' | 'version' {
  const program = buildServeProgram();
  try {
    program.parse(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help') return 'help';
      throw new UserError(
        err.message
          .replace(/^error: /, '')
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean)
          .join(' '),
        ExitCode.USAGE,
      );
    }
    throw err;
  }
  const o = program.opts();
  if (o.version) return 'version';
  return {
    host: o.listen.host,
    port: o.listen.port,
    pid: o.pid === 0 ? undefined : o.pid,
    byName: o.byThreadName === true,
    expiry: o.expire,
    interval: o.interval,
    histograms: o.hist === true,
    debug: o.debug ? 1 : 0,
    probeFiles: o.probe ?? [],
    trustKeys: o.trustKey ?? [],
    allowUnsigned: o.allowUnsigned === true,
    onlyProbes: o.only ?? [],
    skipProbes: o.skip ?? [],
    probeOptions: o.probeOption ?? {},
    allowProgramKinds: o.allowProgramKind ?? [],
  };
}

export const serveCommand: CliCommand = {
  words: ['serve'],
  definition: buildServeProgram,
  async run(argv) {
    const parsed = parseServe(argv);
    if (parsed === 'help') {
      process.stdout.write(
        `${buildServeProgram()
          .helpInformation()
          .replace(/^Usage: serve/, 'Usage: kdelay serve')}${SERVE_HELP_EXAMPLES}\n`,
      );
      return ExitCode.OK;
    }
    if (parsed === 'version') {
      process.stdout.write(`kdelay ${packageVersion()}\n`);
      return ExitCode.OK;
    }
    return await serve(parsed);
  },
};
