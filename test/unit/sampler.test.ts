/** The time-mode sampling loop, with a fake kernel, clock and output. */
import { describe, expect, it } from 'vitest';
import { mergeWarnings, runTimeMode, runTriggerMode, type SampleSource, type WaitOutcome } from '../../host/driver/sampler.js';

function harness(outcomes: WaitOutcome[] = []) {
  const events: string[] = [];
  const waits: number[] = [];
  let micros = Date.UTC(2024, 0, 1) * 1000;
  const source: SampleSource = {
    open: () => events.push('open'),
    close: () => (events.push('close'), 500_000_000),
    collect: () => (events.push('collect'), { tables: new Map(), warnings: [`w${events.filter((e) => e === 'collect').length}`] }),
    reset: () => events.push('reset'),
  };
  const io = {
    nowMicros: () => (micros += 1000),
    wait: async (ms: number) => (waits.push(ms), outcomes.shift() ?? 'elapsed'),
    print: (line: string) => events.push(line.replace(/ @.*/, '')),
  };
  const render = {
    sample: (index: number, _s: unknown, _d: number, windowNs: number) => events.push(`report ${index}${windowNs === 500_000_000 ? '' : ' bad window'}`),
    skipped: (delta: bigint) => events.push(`skipped ${delta}`),
    warnings: (w: string[]) => events.push(`warnings ${w.join(',')}`),
  };
  return { events, waits, source, io, render };
}

describe('time mode', () => {
  it('opens the window before announcing it, and reports after closing it', async () => {
    const h = harness();
    await runTimeMode({ sampleTime: 0.5, sampleCount: 1, sampleInterval: 0 }, h.source, h.io, h.render);
    expect(h.events).toEqual(['open', '# Start sampling', 'close', '# Stop sampling', 'collect', 'report 1', 'reset', 'warnings w1']);
    expect(h.waits).toEqual([500]);
  });

  it('pauses --sample-interval between samples but not after the last', async () => {
    const h = harness();
    await runTimeMode({ sampleTime: 2, sampleCount: 3, sampleInterval: 1.5 }, h.source, h.io, h.render);
    expect(h.waits).toEqual([2000, 1500, 2000, 1500, 2000]);
    expect(h.events.filter((e) => e.startsWith('report'))).toEqual(['report 1', 'report 2', 'report 3']);
    expect(h.events.at(-1)).toBe('warnings w6'); // w1, w2, w3: the same words, numbers added up
  });

  it('on Ctrl-C reports the sample in progress and stops', async () => {
    const h = harness(['interrupted']);
    const outcome = await runTimeMode({ sampleTime: 10, sampleCount: 5, sampleInterval: 0 }, h.source, h.io, h.render);
    expect(outcome).toBe('interrupted');
    expect(h.events).toEqual(['open', '# Start sampling', 'close', '# Stop sampling', 'collect', 'report 1', 'reset', 'warnings w1']);
  });

  it('stops after a report when the target exits, also during the pause', async () => {
    const h = harness(['elapsed', 'target-exited']);
    const outcome = await runTimeMode({ sampleTime: 1, sampleCount: 5, sampleInterval: 1 }, h.source, h.io, h.render);
    expect(outcome).toBe('target-exited');
    expect(h.events.filter((e) => e.startsWith('report'))).toEqual(['report 1']);
  });

  it('a Ctrl-C that arrives while a report is formatted opens no further window', async () => {
    const h = harness();
    let signalled = false;
    const io = { ...h.io, interrupted: async () => signalled };
    const render = { ...h.render, sample: (...args: Parameters<typeof h.render.sample>) => (h.render.sample(...args), (signalled = true)) };
    const outcome = await runTimeMode({ sampleTime: 1, sampleCount: 3, sampleInterval: 0 }, h.source, io, render);
    expect(outcome).toBe('interrupted');
    expect(h.events.filter((e) => e === 'open')).toHaveLength(1);
    expect(h.events.filter((e) => e.startsWith('report'))).toEqual(['report 1']);
  });

  it('prints no comment lines in quiet (JSON) mode', async () => {
    const h = harness();
    await runTimeMode({ sampleTime: 1, sampleCount: 1, sampleInterval: 0 }, h.source, h.io, h.render, true);
    expect(h.events.some((e) => e.startsWith('#'))).toBe(false);
  });
});

describe('warnings', () => {
  it('merges per-sample warnings of the same words into one, numbers added up', () => {
    expect(
      mergeWarnings([
        'Not all events were captured, 3 were dropped!\n#          Increase the BPF ring buffer size with the --buffer-page-count option.',
        '7 measurements were dropped because a syscalls map was full',
        'Not all events were captured, 4 were dropped!\n#          Increase the BPF ring buffer size with the --buffer-page-count option.',
        'could not attach',
        'could not attach',
      ]),
    ).toEqual([
      'Not all events were captured, 7 were dropped!\n#          Increase the BPF ring buffer size with the --buffer-page-count option.',
      '7 measurements were dropped because a syscalls map was full',
      'could not attach',
    ]);
  });
});

/** A sample source whose start trigger never fires before Ctrl-C. */
function interruptedBeforeStart() {
  return {
    open: () => {},
    close: () => 0,
    collect: () => ({ tables: new Map(), warnings: [] }),
    reset: () => {},
    nextHit: async () => 'interrupted' as const,
    monotonicNs: () => 0n,
    missedStarts: () => 0,
  };
}

describe('trigger modes', () => {
  it('Ctrl-C before the start trigger: the stop and dump lines and an empty report, as the reference', async () => {
    const lines: string[] = [];
    const reports: number[] = [];
    const source = interruptedBeforeStart();
    const io = { nowMicros: () => 0, wait: async () => 'elapsed' as const, print: (line: string) => lines.push(line.replace(/ @.*/, '')) };
    const render = { sample: (i: number) => void reports.push(i), skipped: () => {}, warnings: () => {} };
    const outcome = await runTriggerMode({ sampleTime: 1, sampleCount: 2, sampleInterval: 0, startTrigger: true, stopTrigger: true, triggerDeltaNs: 0 }, source, io, render);
    expect(outcome).toBe('interrupted');
    expect(lines).toEqual(['# Stop sampling']);
    expect(reports).toEqual([1]);
  });

  /**
   * One window shorter than --trigger-delta (skipped), then Ctrl-C: seen by the
   * wait for the next start trigger ('in the wait'), or by the check at the top
   * of the next round, before that wait began ('before the wait').
   */
  async function ctrlCAfterSkippedWindow(seen: 'in the wait' | 'before the wait') {
    const lines: string[] = [];
    const reports: [number, string | undefined][] = [];
    const hits = [
      { kind: 'start' as const, ts: 1_000n },
      { kind: 'stop' as const, ts: 1_500n },
    ];
    const source = {
      open: () => {},
      close: () => 0,
      collect: () => ({ tables: new Map(), warnings: [] }),
      reset: () => {},
      // Seen before the wait, the signal leaves nextHit never asked again.
      nextHit: async () => hits.shift() ?? (seen === 'in the wait' ? ('interrupted' as const) : ('target-exited' as const)),
      monotonicNs: () => 0n,
      missedStarts: () => 0,
    };
    const io = {
      nowMicros: () => 0,
      wait: async () => 'elapsed' as const,
      ...(seen === 'before the wait' ? { interrupted: async () => hits.length === 0 } : {}),
      print: (line: string) => lines.push(line.replace(/ @.*/, '')),
    };
    const render = {
      sample: (i: number, _s: unknown, _d: number, _w: number, _t: bigint | undefined, ended?: string) => void reports.push([i, ended]),
      skipped: (delta: bigint) => void lines.push(`skipped ${delta}`),
      warnings: () => {},
    };
    const outcome = await runTriggerMode({ sampleTime: 1, sampleCount: 1, sampleInterval: 0, startTrigger: true, stopTrigger: true, triggerDeltaNs: 1_000 }, source, io, render);
    return { outcome, lines, reports };
  }

  it('Ctrl-C after a skipped window: the stop line and that skip line again, no report (as the reference)', async () => {
    const { outcome, lines, reports } = await ctrlCAfterSkippedWindow('in the wait');
    expect(outcome).toBe('interrupted');
    expect(lines).toEqual(['# Start sampling (trigger@1000)', '# Stop sampling (trigger@1500)', 'skipped 500', '# Stop sampling', 'skipped 500']);
    expect(reports).toEqual([]);
  });

  it('Ctrl-C after a skipped window, seen before the wait for the next start began: the same two lines again', async () => {
    const { outcome, lines, reports } = await ctrlCAfterSkippedWindow('before the wait');
    expect(outcome).toBe('interrupted');
    expect(lines).toEqual(['# Start sampling (trigger@1000)', '# Stop sampling (trigger@1500)', 'skipped 500', '# Stop sampling', 'skipped 500']);
    expect(reports).toEqual([]);
  });

  it('Ctrl-C before the start trigger: the (empty) sample says it was interrupted', async () => {
    const ended: (string | undefined)[] = [];
    const source = interruptedBeforeStart();
    const io = { nowMicros: () => 0, wait: async () => 'elapsed' as const, print: () => {} };
    const render = { sample: (_i: number, _s: unknown, _d: number, _w: number, _t: bigint | undefined, e?: string) => void ended.push(e), skipped: () => {}, warnings: () => {} };
    await runTriggerMode({ sampleTime: 1, sampleCount: 1, sampleInterval: 0, startTrigger: true, stopTrigger: false, triggerDeltaNs: 0 }, source, io, render, true);
    expect(ended).toEqual(['interrupted']);
  });

  it('start only: keeps waiting until the monotonic deadline has passed, even if a timer fires early', async () => {
    let now = 1_000_000_000n;
    const waits: number[] = [];
    const lines: string[] = [];
    const source = {
      open: () => {},
      close: () => Number(now - 1_000_000_000n),
      collect: () => ({ tables: new Map(), warnings: [] }),
      reset: () => {},
      nextHit: async () => ({ kind: 'start' as const, ts: 1_000_000_000n }),
      monotonicNs: () => now,
      missedStarts: () => 0,
    };
    const io = {
      nowMicros: () => 0,
      // The first timer fires 0.6 ms early, as Node's millisecond timers can.
      wait: async (ms: number) => {
        waits.push(ms);
        now += BigInt(Math.round(ms * 1e6)) - (waits.length === 1 ? 600_000n : 0n);
        return 'elapsed' as const;
      },
      print: (line: string) => lines.push(line),
    };
    let windowNs = 0;
    const render = { sample: (_i: number, _s: unknown, _d: number, w: number) => void (windowNs = w), skipped: () => {}, warnings: () => {} };
    await runTriggerMode({ sampleTime: 0.1, sampleCount: 1, sampleInterval: 0, startTrigger: true, stopTrigger: false, triggerDeltaNs: 0 }, source, io, render);
    expect(waits).toEqual([100, 1]);
    expect(windowNs).toBeGreaterThanOrEqual(100_000_000);
    expect(lines[0]).toMatch(/^# Start sampling \(trigger@1000000000\) @/);
  });
});
