/**
 * --syscall-events on the real kernel: slow syscalls with symbolized stacks
 * (where a call blocked, taken at switch-out; C++ names demangled), and loss
 * accounting that adds up.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { requireBpf, skipWithoutBpf } from '../helpers/bpf.js';
import { sampleWorkload, startKdelay } from '../helpers/kdelay.js';
import { parseReport } from '../helpers/report.js';
import { type RunningWorkload, startWorkload } from '../helpers/workloads.js';

let workload: RunningWorkload | undefined;
afterEach(async () => {
  await workload?.stop();
  workload = undefined;
});

interface Event {
  tid: number;
  comm: string;
  deltaUs: number;
  syscall: string;
  frames: string[];
}

/** Parses the "# SYSCALL EVENTS:" table: event lines and the frame lines under each. */
function parseEvents(stdout: string): Event[] {
  const start = stdout.indexOf('# SYSCALL EVENTS:');
  if (start < 0) return [];
  const events: Event[] = [];
  for (const line of stdout.slice(start).split('\n').slice(3)) {
    const m = /^ {2}\s*(\d+)\s+(\d+)\s+(\d+) (.{16,}?)\s+([\d,]+) {2}(\S+)$/.exec(line);
    if (m) events.push({ tid: Number(m[3]), comm: m[4].trim(), deltaUs: Number(m[5].replace(/,/g, '')), syscall: m[6], frames: [] });
    else if (line.startsWith(' '.repeat(10)) && events.length) events.at(-1)!.frames.push(line.trim());
    else if (line.startsWith('#') || line === '') break;
  }
  return events;
}

async function measure(workloadArgs: number[], kdelayArgs: (string | number)[]) {
  workload = await startWorkload('events_workload', workloadArgs);
  const result = await sampleWorkload(workload, kdelayArgs);
  return { ...result, events: parseEvents(result.stdout) };
}

const SLOW = 4;
const nanosleep = (e: Event) => e.syscall === 'nanosleep' || e.syscall === 'clock_nanosleep';

describe.skipIf(skipWithoutBpf)('syscall events on the real kernel', () => {
  it('lists each slow call once, at least 5 ms long, with slow_path in its user stack', async () => {
    requireBpf();
    const { code, stderr, stdout, events } = await measure([SLOW, 400, 0], ['--syscall-events', 1_000_000]);
    expect(code, stderr).toBe(0);
    const mine = events.filter((e) => e.comm === 'eventer');
    expect(mine.filter(nanosleep), stdout).toHaveLength(SLOW);
    expect(mine.every(nanosleep), stdout).toBe(true); // the 400 getppid calls are far below 1 ms
    for (const e of mine) {
      expect(e.deltaUs).toBeGreaterThanOrEqual(5000);
      expect(
        e.frames.some((f) => /^do_syscall_64\+0x[0-9a-f]+ \[kernel\]$/.test(f)),
        e.frames.join('\n'),
      ).toBe(true);
      expect(
        e.frames.some((f) => /^slow_path\+0x[0-9a-f]+ \[events_workload\]$/.test(f)),
        e.frames.join('\n'),
      ).toBe(true);
      expect(
        e.frames.some((f) => f.startsWith('bpf_') || f.startsWith('__bpf_trace')),
        'our own probe frames are left out',
      ).toBe(false);
    }
  });

  it('where a call blocked: nanosleep in do_nanosleep, read in pipe_read, under schedule, above the calling function; the longest of several waits', async () => {
    requireBpf();
    workload = await startWorkload('blocking_workload', [3]);
    const { code, stderr, stdout } = await sampleWorkload(workload, ['--syscall-events', 5_000_000]);
    expect(code, stderr).toBe(0);
    const mine = parseEvents(stdout).filter((e) => e.comm === 'blocker');
    const sleeps = mine.filter(nanosleep);
    const reads = mine.filter((e) => e.syscall === 'read');
    expect(sleeps.length, stdout).toBeGreaterThanOrEqual(1);
    expect(reads.length, stdout).toBeGreaterThanOrEqual(1);
    for (const e of mine) {
      const marker = /^-- blocked ([\d,]+) us off the CPU \((?:once|longest of (\d+) times)\), kernel stack at its switch-out:$/.exec(e.frames[0] ?? '');
      expect(marker, e.frames.join('\n')).not.toBeNull();
      // The longest stretch off the CPU lies inside the call.
      const blockedUs = Number(marker![1].replace(/,/g, ''));
      expect(blockedUs).toBeGreaterThan(0);
      expect(blockedUs).toBeLessThanOrEqual(e.deltaUs);
      expect(e.frames[1], 'our own probe frames are left out').toMatch(/^(__schedule|schedule)\+0x[0-9a-f]+ \[kernel\]$/);
      expect(e.frames.some((f) => /^schedule\+0x[0-9a-f]+ \[kernel\]$/.test(f))).toBe(true);
      expect(e.frames.some((f) => f.startsWith('bpf_') || f.startsWith('__bpf_trace') || f.startsWith('syscall_exit'))).toBe(false);
    }
    for (const e of sleeps) {
      expect(
        e.frames.some((f) => /^(do_nanosleep|hrtimer_nanosleep)\+0x[0-9a-f]+ \[kernel\]$/.test(f)),
        e.frames.join('\n'),
      ).toBe(true);
      expect(
        e.frames.some((f) => /^nap\+0x[0-9a-f]+ \[blocking_workload\]$/.test(f)),
        e.frames.join('\n'),
      ).toBe(true);
    }
    // One write that blocked 60 ms with the pipe full, then (unless the rest streamed) ~5 ms: the longest wait is shown, not the last.
    const fills = mine.filter((e) => e.syscall === 'write');
    expect(fills, stdout).toHaveLength(1);
    const fill = /^-- blocked ([\d,]+) us off the CPU \((?:once|longest of \d+ times)\)/.exec(fills[0].frames[0]);
    expect(fill, fills[0].frames.join('\n')).not.toBeNull();
    expect(Number(fill![1].replace(/,/g, ''))).toBeGreaterThan(fills[0].deltaUs / 2);
    expect(
      fills[0].frames.some((f) => /^(anon_)?pipe_write\+0x[0-9a-f]+ \[kernel\]$/.test(f)),
      fills[0].frames.join('\n'),
    ).toBe(true);
    expect(
      fills[0].frames.some((f) => /^fill_pipe\+0x[0-9a-f]+ \[blocking_workload\]$/.test(f)),
      fills[0].frames.join('\n'),
    ).toBe(true);
    for (const e of reads) {
      // pipe_read, or anon_pipe_read as newer kernels call it.
      expect(
        e.frames.some((f) => /^(anon_)?pipe_read\+0x[0-9a-f]+ \[kernel\]$/.test(f)),
        e.frames.join('\n'),
      ).toBe(true);
      expect(
        e.frames.some((f) => /^wait_pipe\+0x[0-9a-f]+ \[blocking_workload\]$/.test(f)),
        e.frames.join('\n'),
      ).toBe(true);
    }
  });

  it('C++ frames are demangled, and --json carries where the call blocked beside the exit path', async () => {
    requireBpf();
    workload = await startWorkload('cpp_workload', [3]);
    const kdelay = startKdelay(['-p', workload.pid, '--sample-time', 30, '--json', '--syscall-events', 5_000_000]);
    await kdelay.waitForOutput(/"type":"window_open"/);
    workload.kill('SIGUSR1');
    await workload.waitFor(/^done$/);
    kdelay.child.kill('SIGINT');
    const { code, stderr, stdout } = await kdelay.done; // the schema is checked there
    expect(code, stderr).toBe(0);
    const events = stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .filter((r) => r.type === 'syscall_event' && r.data.comm === 'napper')
      .map((r) => r.data);
    expect(events.length, stdout).toBeGreaterThanOrEqual(1);
    for (const e of events) {
      const user = (e.user_stack ?? []).join('\n');
      expect(user).toMatch(/^kdtest::detail::nap<long>\(long\)\+0x[0-9a-f]+ \[cpp_workload\]$/m);
      expect(user).toMatch(/^kdtest::Napper<long>::run\(int\)( \[clone [^\]]+\])?\+0x[0-9a-f]+ \[cpp_workload\]$/m);
      expect(user).not.toMatch(/_Z/);
      expect(e.blocked.times).toBeGreaterThanOrEqual(1);
      expect(BigInt(e.blocked.off_cpu_ns)).toBeLessThanOrEqual(BigInt(e.duration_ns));
      expect(e.blocked.kernel_stack.join('\n')).toMatch(/^do_nanosleep\+0x[0-9a-f]+ \[kernel\]$/m);
      expect(e.kernel_stack.join('\n')).not.toMatch(/do_nanosleep/); // the exit path, as the reference's
    }
  });

  it('--stack-trace-size 0: the same events, no frames', async () => {
    requireBpf();
    const { code, events, stdout } = await measure([SLOW, 0, 0], ['--syscall-events', 1_000_000, '--stack-trace-size', 0]);
    expect(code).toBe(0);
    const mine = events.filter((e) => e.comm === 'eventer');
    expect(mine.filter(nanosleep), stdout).toHaveLength(SLOW);
    expect(mine.every((e) => e.frames.length === 0)).toBe(true);
  });

  it('--skip-syscall-poll-events leaves poll out; without it, each poll is there', async () => {
    requireBpf();
    const POLLS = 5;
    const withPoll = await measure([1, 10, POLLS], ['--syscall-events', '--stack-trace-size', 0]);
    expect(
      withPoll.events.filter((e) => e.comm === 'eventer' && e.syscall === 'poll'),
      withPoll.stdout,
    ).toHaveLength(POLLS);
    await workload!.stop();
    const without = await measure([1, 10, POLLS], ['--syscall-events', '--stack-trace-size', 0, '--skip-syscall-poll-events']);
    expect(
      without.events.filter((e) => e.syscall === 'poll'),
      without.stdout,
    ).toHaveLength(0);
    expect(
      without.events.filter((e) => e.comm === 'eventer' && e.syscall === 'getppid'),
      without.stdout,
    ).toHaveLength(10);
  });

  it('a flood into a one-page ring: the loss is reported, and listed + lost = the calls counted', async () => {
    requireBpf();
    const { code, stdout, events } = await measure([1, 200_000, 0], ['--syscall-events', '--stack-trace-size', 0, '--buffer-page-count', 1]);
    expect(code).toBe(0);
    const warning = /^# WARNING: Not all events were captured, (\d+) were dropped!\n# {10}Increase the BPF ring buffer size with the --buffer-page-count option\.$/m.exec(stdout);
    expect(warning, stdout.slice(-2000)).not.toBeNull();
    const dropped = Number(warning![1]);
    expect(dropped).toBeGreaterThan(0);
    // Every call of every thread that began and ended in the window was either listed or lost.
    const counted = parseReport(stdout)
      .flatMap((t) => t.sections.get('SYSCALL STATISTICS')?.rows ?? [])
      .filter((r) => !r[0].startsWith('TOTAL'))
      .reduce((sum, r) => sum + Number(r[2]), 0);
    expect(events.length + dropped).toBe(counted);
  });
});
