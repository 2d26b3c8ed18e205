// The configurations the kernel matrix loads on every guest, besides its
// measuring checks (window, trigger, pidns): each one is a real kdelay run
// that must get as far as sampling (or waiting for its start trigger), so
// every kernel's verifier has accepted every program and map it loads, and
// then exit 0. The guest (test/kernel-matrix/guest/checks.mjs) runs them one after
// the other against one workload; the host judges each
// (test/kernel-matrix/matrix.test.ts).
//
// Why these: each option that reaches a probe's read-only data (.rodata),
// its map sizes or which programs it loads changes what the verifier sees.
// test/unit/kernel-matrix-loads.test.ts derives that list from the built-in
// manifests, the probes' user halves and the CLI's flags, and fails when a
// value of one of them is loaded by no configuration here (or by the window
// check, which loads the defaults with --verdict). One kdelay start costs
// 3-10 s under TCG, so the probes' variants share runs: each trigger kind but
// USDT (the trigger check's, both ways) as start and as stop takes five runs,
// and the other probes' variants ride along.
//
// `start`/`stop` are trigger kinds, spelled for the matrix workload by
// TRIGGER_SPECS; `needs: 'kprobes'` runs only where the kernel has kprobes
// (elsewhere kdelay resolves k:/kr: to fentry/fexit, see ARCHITECTURE.md).

/** Trigger kind -> the CLI's trigger for each role, against test/workloads/matrix_workload.c. */
export const TRIGGER_SPECS = {
  usdt: { start: 'u:kdelay_test:start', stop: 'u:kdelay_test:stop' },
  uprobe: { start: 'up:main', stop: 'up:main' },
  uretprobe: { start: 'ur:main', stop: 'ur:main' },
  tracepoint: { start: 't:sched:sched_process_fork', stop: 't:sched:sched_process_exit' },
  kprobe: { start: 'k:vfs_read', stop: 'k:vfs_write' },
  kretprobe: { start: 'kr:vfs_read', stop: 'kr:vfs_write' },
};

/** @type {{ name: string, args: string[], start?: string, stop?: string, needs?: 'kprobes' }[]} */
export const LOAD_CONFIGURATIONS = [
  {
    // account with histograms; syscall events with stacks, poll() included, every call: so also
    // the syscalls probe's sched_switch program that takes the stack where a call blocked
    // (syscalls_switch, and its syscall_blocked map at full size), which only stacks load.
    name: 'hist',
    args: ['--hist', '--probe-option', 'account.max_entries=1', '-s'],
    start: 'uprobe',
    stop: 'uretprobe',
  },
  {
    // syscall events without stacks or poll(), a one-page ring, the smallest syscalls maps and slots.
    name: 'events-no-stacks',
    args: [
      '-s',
      '1000',
      '--skip-syscall-poll-events',
      '--stack-trace-size',
      '0',
      '--buffer-page-count',
      '1',
      '--probe-option',
      'syscalls.slots=1',
      '--probe-option',
      'syscalls.max_entries=1',
      '--skip-upcall-stats',
    ],
    start: 'uretprobe',
    stop: 'tracepoint',
  },
  {
    // sched and irq at their smallest; --only; the account probe without the syscalls probe (its own system call programs);
    // sched_stat_runtime never detached.
    name: 'small-sched-irq',
    args: [
      '--only',
      'sched,irq,trigger,account',
      '--probe-option',
      'sched.slots=1',
      '--probe-option',
      'sched.max_entries=1',
      '--probe-option',
      'irq.max_entries=1',
      '--probe-option',
      'sched.runtime_warmup_ms=0',
    ],
    start: 'tracepoint',
    stop: 'kprobe',
    needs: 'kprobes',
  },
  {
    // --verdict without --hist beside the other probes; --skip; the account's own sched_stat_runtime, never detached.
    name: 'verdict-skip',
    args: ['--verdict', '--skip', 'sched', '--probe-option', 'account.runtime_warmup_ms=0'],
    start: 'kprobe',
    stop: 'kretprobe',
    needs: 'kprobes',
  },
  {
    // The last trigger roles (USDT is the trigger check's, both ways).
    name: 'kretprobe-uprobe',
    args: ['--only', 'trigger'],
    start: 'kretprobe',
    stop: 'uprobe',
    needs: 'kprobes',
  },
  {
    // Catch mode (no triggers: it picks its own windows): the syscalls probe posting long poll intervals to the catch ring ...
    name: 'catch-long-poll',
    args: ['--catch-long-poll', '1000'],
  },
  {
    // ... and long system calls alone.
    name: 'catch-syscall',
    args: ['--catch-syscall', '1000', '--only', 'syscalls,account'],
  },
];

/**
 * What the measuring checks load (checks.mjs), for the coverage test: the
 * window check (defaults, --verdict, -D, the reference layout), the trigger check (USDT both ways,
 * --json) and the pidns check (defaults).
 */
export const CHECK_CONFIGURATIONS = [
  { name: 'window', args: ['-D', '--sample-time', '600', '--verdict', '--format', 'reference'] },
  { name: 'trigger', args: ['--json', '--sample-count', '2'], start: 'usdt', stop: 'usdt' },
  { name: 'pidns', args: ['--sample-time', '600'] },
];

/** kdelay's arguments for a configuration against the workload `pid`. */
export function loadArgs(config, pid) {
  return [
    '-p',
    String(pid),
    ...config.args,
    ...(config.start ? ['--start-trigger', TRIGGER_SPECS[config.start].start] : []),
    ...(config.stop ? ['--stop-trigger', TRIGGER_SPECS[config.stop].stop] : []),
  ];
}
