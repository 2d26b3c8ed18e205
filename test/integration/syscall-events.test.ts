/**
 * --syscall-events on the real kernel: slow syscalls with symbolized stacks,
 * and loss accounting that adds up.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { requireBpf, skipWithoutBpf } from '../helpers/bpf.js';
import { sampleWorkload } from '../helpers/kdelay.js';
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
