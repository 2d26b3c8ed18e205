/**
 * Bad inputs and faults, one table row each, run through the real CLI:
 * options, targets, triggers, files of every kind, bundles and manifests,
 * the environment (no or corrupt BTF, not root, a tiny RLIMIT_NOFILE, a
 * full disk: set up with `unshare -m` bind mounts and prlimit, never on the
 * machine itself), signals at each stage, and `kdelay run` guests. Every
 * row checks the exit code, that stderr is exactly the one expected line (or
 * nothing) without a stack trace, that a report is printed where one
 * should be, and that nothing is left in the kernel afterwards.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitSeal } from '../../host/bundle/seal.js';
import { kernelLeftovers, requireBpf, skipWithoutBpf } from '../helpers/bpf.js';
import { builtinBundle, manifestText, withManifest, withManifestText } from '../helpers/bundle-edits.js';
import { KDELAY_BIN } from '../helpers/kdelay.js';
import { hideFilesScript, SHIPPED_LIBBPF, systemLibbpfFiles } from '../helpers/libbpf.js';
import { makeKeyPair } from '../helpers/probe-variants.js';
import { compilePlainGuest } from '../../scripts/lib/plain-guest-build.mjs';
import { tempDir } from '../helpers/temp-dirs.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** What the rows refer to, made once in beforeAll. */
interface Context {
  dir: string;
  /** A sleep(1) to measure: it makes no syscalls, so reports are quick. */
  target: number;
  /** A shell starting a short sleep over and over: it is scheduled, so the sched probe has rows. */
  ticking: number;
  zombie: number;
  fifo: string;
  textFile: string;
  emptyFolder: string;
  /** Bundles by case name, in their own folder each. */
  bundles: Record<string, string>;
  guest: string;
  /** A fresh memory cgroup of this test's own, limited to 40 MiB: its cgroup.procs. */
  memoryCgroup: { dir: string; procs: string };
}

interface Row {
  name: string;
  args: (c: Context) => (string | number)[];
  /** A command kdelay runs under: setpriv, prlimit, or `unshare -m` with a shell script of mounts. */
  wrap?: (c: Context) => string[];
  env?: (c: Context) => Record<string, string>;
  /** kdelay's stdout goes to /dev/full instead of a pipe. */
  stdoutFull?: boolean;
  /** kdelay's stderr goes to /dev/full, or to a pipe whose reader is gone, instead of a pipe read here. */
  stderr?: 'full' | 'closed';
  /** Signals to send once stdout (or stderr) shows this. */
  signal?: { when: RegExp; on?: 'stdout' | 'stderr'; send: NodeJS.Signals };
  code: number;
  /** The one line expected on stderr (after "kdelay: "); none: stderr must be empty. */
  error?: RegExp;
  /** A report (the "# Sample dump" line) must be printed, exactly this many times. */
  reports?: number;
  stdout?: RegExp;
}

/** `unshare -m`, a script of mounts in the private namespace, then kdelay. */
const inMountNamespace = (script: string) => ['unshare', '-m', 'sh', '-c', `${script} && exec "$@"`, 'sh'];
const asNobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
const sample = (c: Context, ...more: (string | number)[]) => ['-p', c.target, '--sample-time', 0.1, ...more];

const rows: Row[] = [
  // Options: usage errors, exit 2.
  { name: '--sample-count -1', args: () => ['--sample-count', -1], code: 2, error: /--sample-count.*must be 1 or more samples, or 0 to sample until Ctrl-C/ },
  { name: '--sample-time x', args: () => ['--sample-time', 'x'], code: 2, error: /must be a number of seconds/ },
  { name: '--sample-time -1', args: () => ['--sample-time', '-1'], code: 2, error: /must not be negative/ },
  { name: '--sample-time past 100 days', args: () => ['--sample-time', 9e6], code: 2, error: /must be at most 8640000/ },
  { name: '--sample-interval 1e300', args: () => ['--sample-interval', '1e300'], code: 2, error: /must be at most 8640000/ },
  { name: '--sample-interval NaN', args: () => ['--sample-interval', 'NaN'], code: 2, error: /must be a number of seconds/ },
  { name: '-p abc', args: () => ['-p', 'abc'], code: 2, error: /must be an integer/ },
  { name: '-p -1', args: () => ['-p', '-1'], code: 2, error: /must be 0 or more/ },
  { name: '-p 2^64', args: () => ['-p', '18446744073709551616'], code: 2, error: /is too large/ },
  { name: 'unknown option', args: () => ['--no-such-flag'], code: 2, error: /unknown option '--no-such-flag'/ },
  { name: 'a mistyped option: the suggestion on the same line, unescaped', args: () => ['--hsit'], code: 2, error: /^kdelay: unknown option '--hsit' \(Did you mean --hist\?\)$/ },
  { name: 'control characters in an unknown option are escaped', args: () => ['--hi\x1b[2Jst'], code: 2, error: /^kdelay: unknown option '--hi\\x1b\[2Jst'$/ },
  {
    name: '--allow-program-kind bogus',
    args: () => ['--allow-program-kind', 'bogus'],
    code: 2,
    error:
      /--allow-program-kind <KIND>' argument 'bogus' is invalid\. is not a BPF program kind or helper kdelay knows \(kinds socket, .*xdp, .*; helpers probe_write_user, override_return, send_signal, send_signal_thread\)$/,
  },
  {
    name: '--thread-name with more groups than V8 takes',
    args: (c) => sample(c, '--thread-name', '('.repeat(50_000) + ')'.repeat(50_000)),
    code: 2,
    error: /^kdelay: --thread-name '\({40}\.\.\.' \(100000 characters\): not a valid regular expression \(Too many captures\)$/,
  },
  {
    name: '--thread-name too large for V8 (100,000 characters)',
    args: (c) => sample(c, '--thread-name', 'a'.repeat(100_000)),
    code: 2,
    error: /^kdelay: --thread-name 'a{40}\.\.\.' \(100000 characters\): not a valid regular expression \(Regular expression too large\)$/,
  },
  { name: 'ambiguous prefix', args: () => ['--sample', 2], code: 2, error: /ambiguous option: --sample could match --sample-time, --sample-count, --sample-interval/ },
  {
    name: 'a word that is neither a PID nor a command',
    args: () => ['extra'],
    code: 2,
    error: /unknown command 'extra': a PID is a number, a command one of probes, report, diff, run, serve, help/,
  },
  { name: 'two PIDs', args: () => ['1', '2'], code: 2, error: /too many arguments/ },
  { name: '--trigger-delta -5', args: () => ['--trigger-delta', '-5'], code: 2, error: /must be 0 or more/ },
  { name: '--buffer-page-count 0', args: () => ['--buffer-page-count', 0], code: 2, error: /must be nonzero/ },
  { name: '--stack-trace-size x', args: () => ['--stack-trace-size', 'x'], code: 2, error: /must be an integer/ },
  { name: '--only Bad,', args: () => ['--only', 'Bad,'], code: 2, error: /must be probe names/ },
  { name: '--only an unknown probe', args: (c) => sample(c, '--only', 'nosuch'), code: 2, error: /unknown probe 'nosuch' \(available: / },
  { name: '--probe-option without a probe prefix', args: () => ['--probe-option', 'x=1'], code: 2, error: /must be PROBE.OPTION=VALUE/ },
  {
    name: '--probe-option that would wrap a u32',
    args: (c) => sample(c, '--probe-option', 'syscalls.max_entries=4294967297'),
    code: 2,
    error: /syscalls.max_entries: 4294967297 is out of range \(1 to 16777216\)/,
  },
  { name: '--probe-option not a number', args: (c) => sample(c, '--probe-option', 'syscalls.max_entries=lots'), code: 2, error: /'lots' is not an integer/ },
  { name: '--probe-option negative', args: (c) => sample(c, '--probe-option', 'irq.max_entries=-1'), code: 2, error: /-1 is out of range/ },
  {
    name: '--probe-option set by kdelay itself',
    args: (c) => sample(c, '--probe-option', 'syscalls.events=1'),
    code: 2,
    error: /syscalls.events: kdelay sets it from its own flags/,
  },
  {
    name: '--probe-option no probe declares',
    args: (c) => sample(c, '--probe-option', 'nope.x=1'),
    code: 2,
    error: /no running probe declares it \(known: irq.max_entries, sched.slots, sched.max_entries, sched.runtime_warmup_ms, syscalls.slots, syscalls.max_entries\)/,
  },
  { name: '--skip trigger with a trigger', args: (c) => sample(c, '--skip', 'trigger', '--stop-trigger', 't:sched:sched_kthread_stop'), code: 2, error: /--skip trigger/ },
  { name: '-s ring beyond the kernel maximum', args: (c) => sample(c, '-s', '--buffer-page-count', 1048576), code: 2, error: /larger than the kernel's maximum of 2048 MiB/ },
  {
    name: '-s stack table beyond the kernel maximum',
    args: (c) => sample(c, '-s', '--stack-trace-size', 3e9),
    code: 2,
    error: /--stack-trace-size 3000000000: larger than the kernel's maximum/,
  },
  {
    name: '-s stack table beyond the memory available',
    args: (c) => sample(c, '-s', '--stack-trace-size', 1e9),
    code: 2,
    error: /need \d+ MiB of kernel memory .* more than half of the \d+ MiB available/,
  },
  { name: 'probes frob', args: () => ['probes', 'frob'], code: 2, error: /unknown command 'probes frob'/ },
  { name: 'run without a guest', args: () => ['run'], code: 2, error: /run: no guest file/ },
  { name: 'run --bogus', args: () => ['run', '--bogus', 'x.wasm'], code: 2, error: /run: unknown option --bogus/ },

  // Targets.
  { name: 'a PID that does not exist', args: () => ['-p', 999999999], code: 69, error: /no process with PID 999999999/ },
  // In a PID namespace of its own (and its /proc), where no ovs-vswitchd can be seen, whatever runs on the machine.
  { name: 'no ovs-vswitchd', args: () => [], wrap: () => ['unshare', '-p', '-f', '--mount-proc'], code: 69, error: /failed to find ovs-vswitchd's PID/ },
  {
    name: '--list-probes of a kernel thread',
    args: () => ['-p', 2, '--list-probes'],
    code: 69,
    error: /^kdelay: PID 2 is a kernel thread \(kthreadd\): kdelay measures user processes$/m,
  },
  { name: 'uprobe trigger on a kernel thread', args: () => ['-p', 2, '--start-trigger', 'up:main'], code: 69, error: /^kdelay: PID 2 is a kernel thread \(kthreadd\)/m },
  { name: '--list-probes of a zombie', args: (c) => ['-p', c.zombie, '--list-probes'], code: 69, error: /^kdelay: PID \d+ is a zombie/m },
  {
    name: '--list-probes not as root',
    wrap: () => asNobody,
    args: (c) => ['-p', c.target, '--list-probes'],
    code: 77,
    error: /--list-probes: cannot read \/proc\/\d+\/exe \(permission denied: run as root or with CAP_SYS_PTRACE\)/,
  },
  { name: 'sampling not as root', wrap: () => asNobody, args: (c) => sample(c), code: 77, error: /^kdelay: missing CAP_BPF and CAP_PERFMON: /m },

  // Triggers.
  { name: 'unknown trigger type', args: (c) => sample(c, '--start-trigger', 'x:foo'), code: 78, error: /invalid start trigger \[x:foo\]; invalid probe type 'x'/ },
  {
    name: 'trigger with too few fields',
    args: (c) => sample(c, '--stop-trigger', 'u:only'),
    code: 78,
    error: /invalid stop trigger \[u:only\]; invalid number of arguments for USDT/,
  },
  { name: 'trigger with an empty name', args: (c) => sample(c, '--start-trigger', 'up:'), code: 78, error: /invalid start trigger \[up:\]; '' is not a valid name/ },
  {
    name: 'tracepoint that does not exist',
    args: (c) => sample(c, '--stop-trigger', 't:sched:no_such_event'),
    code: 78,
    error: /invalid stop trigger \[t:sched:no_such_event\]; there is no tracepoint/,
  },
  {
    name: 'kernel function that does not exist',
    args: (c) => sample(c, '--start-trigger', 'k:no_such_kernel_function'),
    code: 78,
    error: /invalid start trigger .*there is no kernel function/,
  },
  {
    name: 'uprobe function the target lacks: 71 as the reference',
    args: (c) => sample(c, '--stop-trigger', 'up:no_such_function'),
    code: 71,
    error: /invalid stop trigger \[up:no_such_function\]; no function no_such_function/,
  },
  {
    name: 'USDT probe the target lacks: 78 as the reference (checked when the trigger is parsed)',
    args: (c) => sample(c, '--start-trigger', 'u:prov:nope'),
    code: 78,
    error: /invalid start trigger \[u:prov:nope\]; .*has no USDT notes at all/,
  },
  {
    name: 'a library trigger naming a FIFO: no hang',
    args: (c) => sample(c, '--start-trigger', `up:${c.fifo}:fn`),
    code: 78,
    error: /invalid start trigger \[up:.*fifo\.wasm:fn\]; .*fifo\.wasm is not an ELF file kdelay can read \(a FIFO, not a regular file\)$/,
  },

  // Files that are not bundles, keys or guests.
  { name: '--probe a FIFO', args: (c) => sample(c, '--probe', c.fifo), code: 78, error: /: a FIFO, not a regular file/ },
  { name: '--probe /dev/zero', args: (c) => sample(c, '--probe', '/dev/zero'), code: 78, error: /\/dev\/zero: a character device, not a regular file/ },
  { name: '--probe a file that does not exist', args: (c) => sample(c, '--probe', join(c.dir, 'none.wasm')), code: 78, error: /none.wasm: cannot read \(no such file\)/ },
  { name: '--probe a folder holding a FIFO', args: (c) => sample(c, '--probe', c.bundles.fifoFolder), code: 78, error: /a FIFO, not a regular file/ },
  { name: '--probe a text file', args: (c) => sample(c, '--probe', c.textFile), code: 78, error: /not a WebAssembly module/ },
  { name: '--trust-key a FIFO', args: (c) => sample(c, '--trust-key', c.fifo), code: 78, error: /trusted key .*: a FIFO, not a regular file/ },
  { name: '--trust-key /dev/zero', args: (c) => sample(c, '--trust-key', '/dev/zero'), code: 78, error: /trusted key \/dev\/zero: a character device/ },
  { name: '--trust-key not PEM', args: (c) => sample(c, '--trust-key', c.textFile), code: 78, error: /not a PEM public key/ },
  { name: 'probes.d is a file', env: (c) => ({ KDELAY_HOME: join(c.dir, 'home-file') }), args: (c) => sample(c), code: 78, error: /probes.d: a file, expected a folder/ },
  { name: 'probes.d is a FIFO', env: (c) => ({ KDELAY_HOME: join(c.dir, 'home-fifo') }), args: (c) => sample(c), code: 78, error: /probes.d: a FIFO, expected a folder/ },
  {
    name: 'KDELAY_HOME is /dev/null',
    env: () => ({ KDELAY_HOME: '/dev/null' }),
    args: (c) => sample(c),
    code: 78,
    error: /^kdelay: \/dev\/null\/trusted-keys: \/dev\/null is a character device, not a folder$/,
  },
  {
    name: 'KDELAY_HOME is a regular file',
    env: (c) => ({ KDELAY_HOME: c.textFile }),
    args: (c) => sample(c),
    code: 78,
    error: /text\.txt\/trusted-keys: .*text\.txt is a file, not a folder$/,
  },
  {
    name: 'probes.d is /dev/null',
    env: (c) => ({ KDELAY_HOME: join(c.dir, 'home-devnull') }),
    args: (c) => sample(c),
    code: 78,
    error: /probes.d: a character device, expected a folder$/,
  },
  { name: 'trusted-keys is a file', env: (c) => ({ KDELAY_HOME: join(c.dir, 'home-keys') }), args: (c) => sample(c), code: 78, error: /trusted-keys: a file, expected a folder/ },
  { name: 'run a FIFO', args: (c) => ['run', c.fifo], code: 78, error: /: a FIFO, not a regular file/ },
  { name: 'run /dev/zero', args: () => ['run', '/dev/zero'], code: 78, error: /\/dev\/zero: a character device/ },
  { name: 'run a text file', args: (c) => ['run', c.textFile], code: 78, error: /not a WebAssembly module/ },
  { name: 'run a probe bundle', args: () => ['run', join(ROOT, 'bundles', 'syscalls.wasm')], code: 78, error: /it is a probe bundle/ },

  // Bundles and manifests admitted with --allow-unsigned: checked whole before anything loads.
  ...(
    [
      ['a null column', /section run column 0 is not an object/],
      ['total.sum of the wrong type', /section run total sum must be an array/],
      ['options not an array', /options must be an array/],
      ['requires of numbers', /requires entry must be a string/],
      ['an absurd column width', /column 0 width must be an integer from 1 to 64/],
      ['a title with control characters', /section run title has control characters/],
      ['two sections with one id', /has two sections with id run/],
      ['an option of an unknown type', /option sched2.x type must be one of/],
      ['not JSON', /manifest is not JSON/],
    ] as const
  ).map(([name, error]): Row => ({ name: `manifest with ${name}`, args: (c) => sample(c, '--allow-unsigned', '--probe', c.bundles[name]), code: 78, error })),
  { name: 'a bundle changed after sealing', args: (c) => sample(c, '--allow-unsigned', '--probe', c.bundles.changed), code: 78, error: /digest mismatch/ },
  { name: 'a seal with non-canonical base64', args: (c) => sample(c, '--allow-unsigned', '--probe', c.bundles.padding), code: 78, error: /non-canonical base64/ },
  { name: 'an unsigned bundle', args: (c) => sample(c, '--probe', c.bundles.unsigned), code: 78, error: /it is not signed/ },
  {
    name: 'a guest reporting a section its manifest lacks: its sections not available, the report printed',
    args: (c) => ['-p', c.ticking, '--sample-time', 0.3, '--allow-unsigned', '--probe', c.bundles.undeclaredSection, '--skip', 'sched'],
    code: 0,
    reports: 1,
    stdout: /^# THREAD RUN STATISTICS: not available \(probe sched2 stopped in kdelay_probe_collect: report_rows: section "\w+" is not in the manifest\)$/m,
  },

  // The environment.
  {
    name: 'an address-space limit (RLIMIT_AS) too small for WebAssembly',
    wrap: () => ['prlimit', `--as=${2 * 2 ** 30}`],
    args: (c) => sample(c),
    code: 71,
    error: /^kdelay: the address-space limit \(RLIMIT_AS, ulimit -v\) is 2048 MiB; kdelay needs 64 GiB of address space/,
  },
  {
    name: 'a 40 MiB memory cgroup: one line, not the OOM killer',
    wrap: (c) => ['sh', '-c', `echo $$ > ${c.memoryCgroup.procs} && exec "$@"`, 'sh'],
    args: (c) => sample(c),
    code: 71,
    error: /^kdelay: the memory cgroup's limit \(.*kdelay-hardening-\d+\/memory\.(max|limit_in_bytes)\) is 40 MiB; kdelay needs at least 96 MiB of memory$/,
  },
  {
    name: 'a tiny RLIMIT_NOFILE',
    wrap: () => ['prlimit', '--nofile=60'],
    args: (c) => sample(c),
    code: 71,
    error: /too few file descriptors: the open-file limit \(RLIMIT_NOFILE\) is 60/,
  },
  { name: 'no kernel BTF', wrap: () => inMountNamespace('mount -t tmpfs none /sys/kernel/btf'), args: (c) => sample(c), code: 72, error: /the kernel has no BTF/ },
  {
    name: 'a corrupt kernel BTF',
    wrap: (c) => inMountNamespace(`mount --bind ${c.dir}/random /sys/kernel/btf/vmlinux`),
    args: (c) => sample(c),
    code: 72,
    error: /the kernel's BTF is unreadable .*not BTF \(bad magic\)/,
  },
  {
    name: 'a truncated kernel BTF',
    wrap: (c) => inMountNamespace(`mount --bind ${c.dir}/truncated-btf /sys/kernel/btf/vmlinux`),
    args: (c) => sample(c),
    code: 72,
    error: /the kernel's BTF is unreadable .*do not fit in the file/,
  },
  {
    name: 'no usable libbpf: $KDELAY_LIBBPF is broken',
    env: () => ({ KDELAY_LIBBPF: '/dev/null' }),
    args: (c) => sample(c),
    code: 72,
    error: /BPF is unavailable: no usable libbpf \(\$KDELAY_LIBBPF \(\/dev\/null\): cannot be loaded \(file too short\)\)/,
  },
  {
    name: 'no usable libbpf: every one hidden',
    wrap: () => inMountNamespace(hideFilesScript([...systemLibbpfFiles(), SHIPPED_LIBBPF])),
    args: (c) => sample(c),
    code: 72,
    error: /BPF is unavailable: no usable libbpf \(the system libbpf\.so\.1: .*; the libbpf shipped with kdelay/,
  },
  {
    name: '--help with every libbpf hidden',
    wrap: () => inMountNamespace(hideFilesScript([...systemLibbpfFiles(), SHIPPED_LIBBPF])),
    args: () => ['--help'],
    code: 0,
    stdout: /^Usage: kdelay/m,
  },
  {
    name: 'stdout closed (>&-)',
    wrap: () => ['sh', '-c', 'exec "$@" >&-', 'sh'],
    args: (c) => sample(c),
    code: 74,
    error: /^kdelay: standard output is closed: there is nowhere to write the report/,
  },
  { name: 'stdout on /dev/null by choice: the run goes on', wrap: () => ['sh', '-c', 'exec "$@" >/dev/null', 'sh'], args: (c) => sample(c), code: 0 },
  { name: 'stdout on /dev/full', stdoutFull: true, args: (c) => sample(c), code: 74, error: /cannot write the report to standard output: no space left on device \(ENOSPC\)/ },
  {
    name: 'stdout on a full tmpfs',
    wrap: (c) => [
      'unshare',
      '-m',
      'sh',
      '-c',
      `mount -t tmpfs -o size=64k none ${c.emptyFolder} && (dd if=/dev/zero of=${c.emptyFolder}/fill bs=4k 2>/dev/null; true) && exec "$@" >${c.emptyFolder}/report`,
      'sh',
    ],
    args: (c) => sample(c),
    code: 74,
    error: /cannot write the report to standard output: no space left on device/,
  },

  // Notes that cannot be written (here the one that no thread matches --thread-name yet) are lost, not the report.
  { name: 'a note to stderr on /dev/full', stderr: 'full', args: (c) => sample(c, '--thread-name', '^no such thread$'), code: 0, reports: 1 },
  { name: 'a note to a closed stderr pipe', stderr: 'closed', args: (c) => sample(c, '--thread-name', '^no such thread$'), code: 0, reports: 1 },
  { name: 'an error to stderr on /dev/full keeps its exit code', stderr: 'full', args: () => ['--sample-count', -1], code: 2 },

  // Signals at each stage: the report is printed, exit 0.
  { name: 'SIGINT while sampling', args: (c) => sample(c, '--sample-time', 30), signal: { when: /^# Start sampling/m, send: 'SIGINT' }, code: 0, reports: 1 },
  { name: 'SIGTERM while sampling', args: (c) => sample(c, '--sample-time', 30), signal: { when: /^# Start sampling/m, send: 'SIGTERM' }, code: 0, reports: 1 },
  {
    name: 'SIGHUP while sampling: the report, like SIGTERM',
    args: (c) => sample(c, '--sample-time', 30),
    signal: { when: /^# Start sampling/m, send: 'SIGHUP' },
    code: 0,
    reports: 1,
  },
  {
    name: 'SIGINT with --sample-count 3: no further sample',
    args: (c) => sample(c, '--sample-time', 30, '--sample-count', 3),
    signal: { when: /^# Start sampling/m, send: 'SIGINT' },
    code: 0,
    reports: 1,
  },
  {
    name: 'SIGINT before the start trigger: stop and dump lines and an empty table (the reference layout)',
    args: (c) => sample(c, '--format', 'reference', '--start-trigger', 't:sched:sched_kthread_stop', '--stop-trigger', 't:sched:sched_kthread_stop_ret'),
    signal: { when: /waiting for/, on: 'stderr', send: 'SIGINT' },
    code: 0,
    error: /attached to PID \d+; waiting for t:sched:sched_kthread_stop$/,
    reports: 1,
    stdout: /^# Stop sampling @.*\n# Sample dump @.*\nTID {8}THREAD {11}<RESOURCE SPECIFIC>\n-{10} -{16} -{76}\n/,
  },
  // SIGUSR1 and SIGUSR2 do nothing: no inspector (Node's default for SIGUSR1 prints "Debugger listening on ws://127.0.0.1:9229"), no death (SIGUSR2's default).
  {
    name: 'SIGUSR1 while sampling: ignored, no inspector',
    args: (c) => sample(c, '--sample-time', 1),
    signal: { when: /^# Start sampling/m, send: 'SIGUSR1' },
    code: 0,
    reports: 1,
  },
  {
    name: 'SIGUSR2 while sampling: ignored, the report is printed',
    args: (c) => sample(c, '--sample-time', 1),
    signal: { when: /^# Start sampling/m, send: 'SIGUSR2' },
    code: 0,
    reports: 1,
  },
  {
    name: "a --sample-time past setTimeout's limit is not cut short",
    args: (c) => sample(c, '--sample-time', 2147484),
    signal: { when: /^# Start sampling/m, send: 'SIGINT' },
    code: 0,
    reports: 1,
  },

  // kdelay run guests.
  { name: 'run: a guest growing its memory stops at 1 GiB', args: (c) => ['run', '--allow-unsigned', c.guest, 'grow'], code: 0, stdout: /^grow refused at 163\d\d pages$/m },
];

function runRow(row: Row, c: Context): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const command = [...(row.wrap?.(c) ?? []), process.execPath, KDELAY_BIN, ...row.args(c).map(String)];
  const full = row.stdoutFull ? openSync('/dev/full', 'w') : undefined;
  const fullStderr = row.stderr === 'full' ? openSync('/dev/full', 'w') : undefined;
  const child: ChildProcess = spawn(command[0], command.slice(1), {
    stdio: ['ignore', full ?? 'pipe', fullStderr ?? 'pipe'],
    env: { ...process.env, KDELAY_HOME: join(c.dir, 'home-empty'), ...row.env?.(c) },
  });
  if (full !== undefined) closeSync(full);
  if (fullStderr !== undefined) closeSync(fullStderr);
  if (row.stderr === 'closed') child.stderr!.destroy();
  let stdout = '';
  let stderr = '';
  let signalled = false;
  const watch = () => {
    const seen = row.signal?.on === 'stderr' ? stderr : stdout;
    if (row.signal && !signalled && row.signal.when.test(seen)) {
      signalled = true;
      child.kill(row.signal.send);
    }
  };
  child.stdout?.on('data', (d) => ((stdout += d), watch()));
  child.stderr?.on('data', (d) => ((stderr += d), watch()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    }),
  );
}

let context: Context;
const children: ChildProcess[] = [];

beforeAll(async () => {
  if (skipWithoutBpf) return;
  const dir = tempDir('kdelay-hardening-');
  chmodSync(dir, 0o755); // setpriv rows run as nobody
  const target = spawn('sleep', ['600'], { stdio: 'ignore' });
  const ticking = spawn('sh', ['-c', 'while :; do sleep 0.02; done'], { stdio: 'ignore' });
  children.push(target, ticking);
  // A zombie: sh's background child exits, and the sleep that sh becomes never reaps it.
  const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 600'], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(parent);
  const zombie = Number(await new Promise<string>((resolve) => parent.stdout!.once('data', (d) => resolve(String(d).trim()))));
  for (let i = 0; i < 50 && !/\) Z /.test(readFileSync(`/proc/${zombie}/stat`, 'utf8')); i++) await new Promise((r) => setTimeout(r, 20));

  const fifo = join(dir, 'fifo.wasm');
  execFileSync('mkfifo', [fifo]);
  const textFile = join(dir, 'text.txt');
  writeFileSync(textFile, 'not a bundle, not a key\n');
  writeFileSync(join(dir, 'random'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) & 0xff)));
  writeFileSync(join(dir, 'truncated-btf'), readFileSync('/sys/kernel/btf/vmlinux').subarray(0, 65536));
  const emptyFolder = join(dir, 'empty');
  mkdirSync(emptyFolder);
  mkdirSync(join(dir, 'home-empty'));
  mkdirSync(join(dir, 'home-file'));
  writeFileSync(join(dir, 'home-file', 'probes.d'), '');
  mkdirSync(join(dir, 'home-fifo'));
  execFileSync('mkfifo', [join(dir, 'home-fifo', 'probes.d')]);
  mkdirSync(join(dir, 'home-keys'));
  writeFileSync(join(dir, 'home-keys', 'trusted-keys'), '');
  mkdirSync(join(dir, 'home-devnull'));
  execFileSync('ln', ['-s', '/dev/null', join(dir, 'home-devnull', 'probes.d')]);

  // Bundles: built-in sched renamed sched2, its manifest broken one way each.
  const sched = builtinBundle('sched');
  const bundles: Record<string, string> = {};
  const save = (name: string, bytes: Uint8Array) => {
    const folder = mkdtempSync(join(dir, 'bundle-'));
    bundles[name] = join(folder, 'sched2.wasm');
    writeFileSync(bundles[name], bytes);
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a parsed manifest, edited freely to break it
  const edit = (f: (m: Record<string, any>) => void) => withManifest(sched, (m) => ((m.name = 'sched2'), f(m)));
  save(
    'a null column',
    edit((m) => (m.sections[0].columns[0] = null)),
  );
  save(
    'total.sum of the wrong type',
    edit((m) => (m.sections[0].total = { label: 'TOTAL:', sum: 'all' })),
  );
  save(
    'options not an array',
    edit((m) => (m.options = { 'sched2.x': 1 })),
  );
  save(
    'requires of numbers',
    edit((m) => (m.requires = [1, 2])),
  );
  save(
    'an absurd column width',
    edit((m) => (m.sections[0].columns[0].width = 1e9)),
  );
  save(
    'a title with control characters',
    edit((m) => (m.sections[0].title = 'RUN\n# Sample dump @2026-01-01T00:00:00.000000 (00:00:00 UTC)')),
  );
  save(
    'two sections with one id',
    edit((m) => (m.sections[1].id = 'run')),
  );
  save(
    'an option of an unknown type',
    edit((m) => (m.options = [{ name: 'sched2.x', type: 'float', description: 'x' }])),
  );
  save('not JSON', withManifestText(sched, '{"name": "sched2",'));
  const unsigned = edit(() => {});
  const changed = Buffer.from(unsigned);
  changed[splitSeal(unsigned).body.length - 2] ^= 1; // inside the manifest, the last thing the seal covers
  save('changed', changed);
  const author = makeKeyPair();
  const signed = edit(() => {});
  const resigned = withManifestText(signed, manifestText(signed), author.privatePem);
  const { body, seal } = splitSeal(resigned);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const last = alphabet.indexOf(seal!.signature![85]);
  const padded = { ...seal!, signature: seal!.signature!.slice(0, 85) + alphabet[(last & ~15) | ((last + 1) & 15)] + '==' };
  const { appendCustomSection } = await import('../../host/bundle/bundle.js');
  save('padding', appendCustomSection(body, 'kdelay.seal', Buffer.from(JSON.stringify(padded))));
  save('unsigned', unsigned);
  // Every section id renamed: the unchanged guest reports rows for ids its manifest no longer has.
  save(
    'undeclaredSection',
    edit((m) => m.sections.forEach((section: { id: string }) => (section.id += '2'))),
  );
  const fifoFolder = mkdtempSync(join(dir, 'fifo-folder-'));
  execFileSync('mkfifo', [join(fifoFolder, 'x.wasm')]);
  bundles.fifoFolder = fifoFolder;

  // A plain guest (it embeds the example's object, so that is built first).
  execFileSync(join(ROOT, 'node_modules', '.bin', 'zx'), [join(ROOT, 'scripts', 'build-plain-guest.mjs'), 'examples/wasm-bpf-getppid', dir], { cwd: ROOT, stdio: 'ignore' });
  const guest = await compilePlainGuest(join(ROOT, 'test', 'guests', 'plain_misbehaving.ts'), join(dir, 'plain_misbehaving.wasm'));
  chmodSync(guest, 0o644);

  // A memory cgroup of our own (v2 memory.max, or v1's memory controller), removed in afterAll.
  const unified = existsSync('/sys/fs/cgroup/cgroup.controllers');
  const cgroupDir = unified ? `/sys/fs/cgroup/kdelay-hardening-${process.pid}` : `/sys/fs/cgroup/memory/kdelay-hardening-${process.pid}`;
  mkdirSync(cgroupDir);
  writeFileSync(join(cgroupDir, unified ? 'memory.max' : 'memory.limit_in_bytes'), String(40 * 2 ** 20));
  const memoryCgroup = { dir: cgroupDir, procs: join(cgroupDir, 'cgroup.procs') };

  context = { dir, target: target.pid!, ticking: ticking.pid!, zombie, fifo, textFile, emptyFolder, bundles, guest, memoryCgroup };
}, 120_000);

afterAll(() => {
  for (const c of children) c.kill();
  // Empty once its one process (kdelay) has exited.
  if (context?.memoryCgroup) rmdirSync(context.memoryCgroup.dir);
});

describe.skipIf(skipWithoutBpf)('bad inputs and faults: one line, the right code, the report where one is due, nothing left', () => {
  it(`has at least 60 rows (${rows.length})`, () => expect(rows.length).toBeGreaterThanOrEqual(60));

  it.each(rows.map((row) => [row.name, row] as const))('%s', async (_name, row) => {
    requireBpf();
    const result = await runRow(row, context);
    expect({ code: result.code, signal: result.signal }).toEqual({ code: row.code, signal: null });
    const lines = result.stderr.split('\n').filter(Boolean);
    if (row.error) {
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^kdelay: /);
      expect(lines[0]).toMatch(row.error);
    } else {
      expect(lines).toEqual([]);
    }
    expect(result.stderr).not.toMatch(/\n\s+at .*:\d+|Error:|node:internal/);
    expect((result.stdout.match(/^# Sample dump/gm) ?? []).length).toBe(row.reports ?? 0);
    if (row.stdout) expect(result.stdout).toMatch(row.stdout);
    expect(await kernelLeftovers()).toEqual([]);
  });
});
