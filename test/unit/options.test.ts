/** Command-line parsing: kernel_delay.py's flags, defaults and rejections. */
import { describe, expect, it } from 'vitest';
import { ExitCode, UserError } from '../../host/base/exit-codes.js';
import { parseOptions } from '../../host/cli/options.js';
import { parseProbesList } from '../../host/cli/commands/probes-list.js';

const parse = (line: string) => parseOptions(line ? line.split(' ') : []);

function rejection(line: string): { message: string; exitCode: number } {
  try {
    parse(line);
  } catch (err) {
    if (err instanceof UserError) return { message: err.message, exitCode: err.exitCode };
    throw err;
  }
  throw new Error(`accepted: ${line}`);
}

describe('options', () => {
  it('has the reference defaults', () => {
    expect(parse('')).toEqual({
      pid: undefined,
      tid: undefined,
      sampleTime: 0.5,
      sampleCount: 1,
      sampleInterval: 0,
      debug: 0,
      json: false,
      format: 'text',
      startTrigger: undefined,
      stopTrigger: undefined,
      triggerDelta: 0,
      listProbes: false,
      syscallEvents: undefined,
      skipSyscallPollEvents: false,
      stackTraceSize: 4096,
      bufferPageCount: 1024,
      probeFiles: [],
      allowUnsigned: false,
      trustKeys: [],
      onlyProbes: [],
      skipProbes: [],
      allowProgramKinds: [],
      probeOptions: {},
      verdict: false,
      verdictOnly: false,
      histograms: false,
    });
  });

  it.each([
    ['-p 42', { pid: 42 }],
    ['--pid 42', { pid: 42 }],
    ['-t 43', { tid: 43 }],
    ['--tid 43', { tid: 43 }],
    ['--sample-time 2.5', { sampleTime: 2.5 }],
    ['--sample-count 3', { sampleCount: 3 }],
    ['--sample-interval 0.25', { sampleInterval: 0.25 }],
    ['--sample-interval 2147484', { sampleInterval: 2147484 }], // past setTimeout's limit: waited in chunks
    ['-D', { debug: 0x3f }],
    ['--debug 4', { debug: 4 }],
    ['--json', { json: true, format: 'json' }],
    ['--format json', { json: true, format: 'json' }],
    ['--format reference', { json: false, format: 'reference' }],
    ['--json --format json', { json: true, format: 'json' }],
    ['--trigger-delta 50000', { triggerDelta: 50000 }],
    // The reference's argparse: a bare --trigger-delta (nargs='?', const 0), unambiguous prefixes, -p 0 = auto-detect.
    ['--trigger-delta', { triggerDelta: 0 }],
    ['--trigger-delta --json', { triggerDelta: 0, json: true }],
    ['--sample-c 2 --sample-t=1.5', { sampleCount: 2, sampleTime: 1.5 }],
    ['--stop upr:bridge_run', { stopTrigger: { text: 'upr:bridge_run', kind: 'uretprobe', args: ['bridge_run'] } }],
    ['--list', { listProbes: true }],
    ['-p 0', { pid: undefined }],
    ['--list-probes', { listProbes: true }],
    ['-s', { syscallEvents: 0 }],
    ['--syscall-events 50000', { syscallEvents: 50000 }],
    ['--skip-syscall-poll-events', { skipSyscallPollEvents: true }],
    ['--stack-trace-size 0', { stackTraceSize: 0 }],
    ['--buffer-page-count 1000', { bufferPageCount: 1024 }],
    ['--buffer-page-count 3', { bufferPageCount: 4 }],
    ['--skip-upcall-stats', { skipProbes: ['upcall'] }],
    ['--skip sched --skip-upcall-stats', { skipProbes: ['sched', 'upcall'] }],
    ['--probe a.wasm --probe b.wasm --allow-unsigned', { probeFiles: ['a.wasm', 'b.wasm'], allowUnsigned: true }],
    ['--probe ./probes.d --trust-key a.pub --trust-key b.pub', { probeFiles: ['./probes.d'], trustKeys: ['a.pub', 'b.pub'] }],
    ['--only syscalls,sched --only irq', { onlyProbes: ['syscalls', 'sched', 'irq'] }],
    ['--skip upcall', { skipProbes: ['upcall'] }],
    ['--allow-program-kind xdp --allow-program-kind probe_write_user', { allowProgramKinds: ['xdp', 'probe_write_user'] }],
    ['--allow-program-kind cgroup/sock_create --allow-program-kind lsm.s', { allowProgramKinds: ['cgroup/sock_create', 'lsm.s'] }],
    ['--probe-option syscalls.max_entries=65536 --probe-option x.mode=a=b', { probeOptions: { 'syscalls.max_entries': '65536', 'x.mode': 'a=b' } }],
    ['--start-trigger up:bridge_run', { startTrigger: { text: 'up:bridge_run', kind: 'uprobe', args: ['bridge_run'] } }],
    ['--stop-trigger upr:bridge_run', { stopTrigger: { text: 'upr:bridge_run', kind: 'uretprobe', args: ['bridge_run'] } }],
    ['--start-trigger up:libc.so.6:fsync', { startTrigger: { text: 'up:libc.so.6:fsync', kind: 'uprobe', args: ['libc.so.6', 'fsync'] } }],
    ['--thread-name ^worker-[02]$', { threadName: /^worker-[02]$/ }],
    ['--thread-name=handler', { threadName: /handler/ }],
    ['--thread handler -t 7', { threadName: /handler/, tid: 7 }],
    // As BCC tools take them: kdelay PID, -i/--interval (the window), --sample-count 0 (until Ctrl-C).
    ['42', { pid: 42 }],
    ['42 -p 42', { pid: 42 }],
    ['0', { pid: undefined }],
    ['-i 1 --sample-count 2', { sampleTime: 1, sampleCount: 2 }],
    ['--interval 0.25', { sampleTime: 0.25 }],
    ['--sample-count 0', { sampleCount: Infinity }],
    // A prefix made ambiguous only by kdelay's own options still means the reference's (argparse) option.
    ['--tr 5', { triggerDelta: 5 }],
    ['--p 7', { pid: 7 }],
  ])('%s', (line, expected) => expect(parse(line)).toMatchObject(expected));

  it.each([
    ['-p -3', "option '-p, --pid <PID>' argument '-3' is invalid. must be 0 or more"],
    ['-p 1.5', 'must be an integer'],
    ['-p abc', 'must be an integer'],
    ['-i 1 --sample-time 2', "option '-i, --interval <SECONDS>' cannot be used with option '--sample-time <SECONDS>'"],
    ['12 -p 13', 'two different processes: -p 13 and 12; give one'],
    ['--st 8', 'ambiguous option: --st could match --start-trigger, --stop-trigger, --stack-trace-size'],
    // 0 is valid (until Ctrl-C): the message says so.
    ['--sample-count -1', "option '--sample-count <RUNS>' argument '-1' is invalid. must be 1 or more samples, or 0 to sample until Ctrl-C"],
    ['--buffer-page-count -2', 'must be 1 or more'],
    ['--json --format reference', '--json and --format reference are different outputs: choose one'],
    ['--format html', "option '--format <FORMAT>' argument 'html' is invalid. Allowed choices are text, reference, json."],
    ['--sample-time x', 'must be a number of seconds'],
    ['--sample-time -1', 'must not be negative'],
    ['--sample-interval inf', 'must be a number of seconds'],
    ['--sample-time 8640001', 'must be at most 8640000'],
    ['--sample-interval 1e300', 'must be at most 8640000'],
    ['--no-such-flag', "unknown option '--no-such-flag'"],
    ['--sample 2', 'ambiguous option: --sample could match --sample-time, --sample-count, --sample-interval'],
    ['--s 2', 'ambiguous option: --s could match'],
    ['extra', "unknown command 'extra': a PID is a number"],
    ['12 13', 'too many arguments'],
    ['--trigger-delta -5', 'must be 0 or more'],
    ['--only Syscalls', 'must be probe names separated by commas'],
    ['--probe-option max_entries=4', 'must be PROBE.OPTION=VALUE'],
    ['--skip a,,b', 'must be probe names separated by commas'],
    ['--thread-name (', "option '--thread-name <REGEX>' argument '(' is invalid. not a valid regular expression (Invalid regular expression: /(/: Unterminated group)"],
    ['--thread-name [a-', 'not a valid regular expression'],
    ['--hsit', "unknown option '--hsit' (Did you mean --hist?)"],
    ['--allow-program-kind bogus', 'is not a BPF program kind or helper kdelay knows (kinds socket,'],
    ['--allow-program-kind xdpp', 'helpers probe_write_user, override_return, send_signal, send_signal_thread)'],
  ])('rejects %s with a one-line message and the usage exit code', (line, message) => {
    const r = rejection(line);
    expect(r.exitCode).toBe(ExitCode.USAGE);
    expect(r.message).toContain(message);
    expect(r.message).not.toContain('\n');
  });

  it('refuses a --thread-name V8 cannot run in one line that does not repeat it whole', () => {
    for (const pattern of ['a'.repeat(100_000), '('.repeat(50_000) + ')'.repeat(50_000)]) {
      const r = rejection(`--thread-name ${pattern}`);
      expect(r.exitCode).toBe(ExitCode.USAGE);
      expect(r.message).toMatch(/^--thread-name '.{40}\.\.\.' \(100000 characters\): not a valid regular expression \((Regular expression too large|Too many captures)\)$/);
    }
  });

  it('answers --help without running', () => expect(parse('--help')).toBe('help'));
  it('answers --legend without running', () => expect(parse('--legend')).toBe('legend'));
  it('answers --version and -V without running', () => {
    expect(parse('--version')).toBe('version');
    expect(parse('-V')).toBe('version');
  });

  it('parses `probes list` with its --probe files', () => {
    // argv after `probes`, as the runner passes it (cli/runner.ts).
    const probes = (line: string) => parseProbesList(line.split(' '));
    expect(probes('list --probe x.wasm --only x --skip-upcall-stats')).toEqual({
      command: 'probes-list',
      probeFiles: ['x.wasm'],
      trustKeys: [],
      allowUnsigned: false,
      onlyProbes: ['x'],
      skipProbes: ['upcall'],
      allowProgramKinds: [],
      json: false,
    });
    expect(probes('list --json')).toMatchObject({ command: 'probes-list', json: true });
    expect(probes('list --help')).toBe('help');
    expect(probes('--help')).toBe('help');
    expect(() => probes('frob')).toThrow(new UserError("unknown command 'probes frob'; try 'kdelay probes list'", ExitCode.USAGE));
  });

  it('rejects a bad trigger with the configuration exit code, naming it', () => {
    const r = rejection('--start-trigger x:bridge_run');
    expect(r.exitCode).toBe(ExitCode.CONFIG);
    expect(r.message).toBe("invalid start trigger [x:bridge_run]; invalid probe type 'x' (one of u, usdt, t, trace, k, kprobe, kr, kretprobe, up, uprobe, ur, upr, uretprobe)");
  });
});
