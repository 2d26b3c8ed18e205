/** The progress line on a terminal: what it says, when it shows, that it is erased before output, and the colour rules. */
import { describe, expect, it } from 'vitest';
import { progressLine, progressText, TerminalProgress, terminalHint, useColour } from '../../host/driver/progress.js';
import { runTimeMode, type SampleSource } from '../../host/driver/sampler.js';

/** A progress line writing into `written`, on a clock the test sets: drawAt(ms) moves the clock there and redraws. */
function lineOnTestClock(colour: boolean) {
  const written: string[] = [];
  let now = 0;
  const line = new TerminalProgress({ write: (t: string) => written.push(t) }, colour, () => now);
  const drawAt = (ms: number) => {
    now = ms;
    line.draw();
  };
  return { written, line, drawAt };
}

describe('progress line', () => {
  it.each([
    [{ phase: 'window', sample: 1, count: 1, windowMs: 10_000 }, 3000, 'sampling: 3.0 s of 10 s (Ctrl-C reports now)'],
    [{ phase: 'window', sample: 2, count: 5, windowMs: 60_000 }, 12_400, 'sample 2/5: 12 s of 60 s (Ctrl-C reports now)'],
    [{ phase: 'window', sample: 7, count: Infinity, windowMs: 5000 }, 2500, 'sample 7 (until Ctrl-C): 2.5 s of 5.0 s (Ctrl-C reports now)'],
    [{ phase: 'start-trigger', sample: 3, count: 4, hits: 2 }, 4000, 'sample 3/4: waiting for the start trigger, 4.0 s, 2 trigger hits so far (Ctrl-C ends)'],
    [{ phase: 'stop-trigger', sample: 1, count: 1, hits: 1 }, 2000, 'sampling: window open, waiting for the stop trigger, 2.0 s, 1 trigger hit so far (Ctrl-C reports now)'],
  ] as const)('%o after %i ms', (state, elapsed, text) => expect(progressText(state, elapsed)).toBe(text));

  it('shows after 2 s, redraws in place, and is erased before anything else is printed', () => {
    const { written, line, drawAt } = lineOnTestClock(false);
    line.show({ phase: 'window', sample: 1, count: 1, windowMs: 5000 });
    drawAt(1000);
    expect(written).toEqual([]); // a short window ends before anyone waits for it
    drawAt(2000);
    drawAt(3000);
    line.show(undefined);
    expect(written).toEqual(['\r\x1b[Kkdelay: sampling: 2.0 s of 5.0 s (Ctrl-C reports now)', '\r\x1b[Kkdelay: sampling: 3.0 s of 5.0 s (Ctrl-C reports now)', '\r\x1b[K']);
  });

  it("counts the tick due at 2 s even when it comes a millisecond early by the line's clock (a 3 s window shows it once)", () => {
    const { written, line, drawAt } = lineOnTestClock(false);
    line.show({ phase: 'window', sample: 1, count: 1, windowMs: 3000 });
    drawAt(999.4);
    drawAt(1999.4);
    expect(written).toEqual(['\r\x1b[Kkdelay: sampling: 2.0 s of 3.0 s (Ctrl-C reports now)']);
  });

  it('is dim only with colour', () => {
    const { written, line, drawAt } = lineOnTestClock(true);
    line.show({ phase: 'start-trigger', sample: 1, count: 1, hits: 0 });
    drawAt(2500);
    line.show(undefined);
    expect(written[0]).toBe('\r\x1b[K\x1b[2mkdelay: sampling: waiting for the start trigger, 2.5 s, 0 trigger hits so far (Ctrl-C ends)\x1b[0m');
  });

  it('colour only on a terminal, never with NO_COLOR or TERM=dumb; no line at all off a terminal', () => {
    expect(useColour({ isTTY: true }, {})).toBe(true);
    expect(useColour({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(useColour({ isTTY: true }, { TERM: 'dumb' })).toBe(false);
    expect(useColour({ isTTY: false }, {})).toBe(false);
    expect(progressLine({ isTTY: false } as NodeJS.WriteStream, {})).not.toBeInstanceOf(TerminalProgress);
    expect(progressLine({ isTTY: true, write: () => true } as unknown as NodeJS.WriteStream, {})).toBeInstanceOf(TerminalProgress);
  });

  it('the sampler shows it during each window and pause and erases it before the stop line', async () => {
    const events: string[] = [];
    const source: SampleSource = { open: () => {}, close: () => 1, collect: () => ({ tables: new Map(), warnings: [] }), reset: () => {} };
    const io = {
      nowMicros: () => 0,
      wait: async (ms: number) => (events.push(`wait ${ms}`), 'elapsed' as const),
      print: (line: string) => events.push(line.replace(/ @.*/, '')),
      progress: (s: unknown) => events.push(s === undefined ? 'erase' : JSON.stringify(s)),
    };
    const render = { sample: () => events.push('report'), skipped: () => {}, warnings: () => {} };
    await runTimeMode({ sampleTime: 3, sampleCount: 2, sampleInterval: 1 }, source, io, render);
    expect(events).toEqual([
      '# Start sampling',
      '{"phase":"window","sample":1,"count":2,"windowMs":3000}',
      'wait 3000',
      'erase',
      '# Stop sampling',
      'report',
      '{"phase":"pause","sample":2,"count":2,"windowMs":1000}',
      'wait 1000',
      'erase',
      '# Start sampling',
      '{"phase":"window","sample":2,"count":2,"windowMs":3000}',
      'wait 3000',
      'erase',
      '# Stop sampling',
      'report',
    ]);
  });
});

describe("terminal hint (the text report's pointer to the legend)", () => {
  const stderr = (isTTY: boolean, written: string[]) => ({ isTTY, write: (t: string) => written.push(t) }) as unknown as NodeJS.WriteStream;

  it('writes on stderr only when stdout and stderr are both terminals: dim, or plain with NO_COLOR', () => {
    const written: string[] = [];
    terminalHint({ isTTY: true }, stderr(true, written), { TERM: 'xterm' })!('see the legend');
    terminalHint({ isTTY: true }, stderr(true, written), { TERM: 'xterm', NO_COLOR: '1' })!('see the legend');
    expect(written).toEqual(['\x1b[2msee the legend\x1b[0m\n', 'see the legend\n']);
  });

  it('is absent when stdout is a pipe or a file, stderr is not a terminal, or the terminal is dumb', () => {
    expect(terminalHint({ isTTY: false }, stderr(true, []), { TERM: 'xterm' })).toBeUndefined();
    expect(terminalHint({}, stderr(true, []), { TERM: 'xterm' })).toBeUndefined();
    expect(terminalHint({ isTTY: true }, stderr(false, []), { TERM: 'xterm' })).toBeUndefined();
    expect(terminalHint({ isTTY: true }, stderr(true, []), { TERM: 'dumb' })).toBeUndefined();
  });
});
