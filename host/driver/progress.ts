/**
 * A quiet progress line on a terminal: while a window longer than ~2 s is
 * open, or while kdelay waits for a trigger, one line on stderr says how long
 * so far (and how many trigger hits), redrawn in place each second and
 * erased before anything else is printed. Nothing at all when stderr is not
 * a terminal (a pipe, a file, a test): scripts see the same bytes as before.
 */

/** What the sampling loop is doing now (driver/sampler.ts tells it). */
export interface ProgressState {
  phase: 'window' | 'start-trigger' | 'stop-trigger' | 'pause';
  /** The sample being taken (1, 2, ...) and how many are asked for (Infinity: until Ctrl-C). */
  sample: number;
  count: number;
  /** The window's length in ms, when it is a fixed time. */
  windowMs?: number;
  /** Trigger hits so far (windows a trigger opened, reported or skipped). */
  hits?: number;
}

/** The line shows only after this long: a short window ends before anyone waits for it. */
export const PROGRESS_AFTER_MS = 2000;
/** How early a timer tick may come and still count as the one due (TerminalProgress.draw). */
const TICK_SLACK_MS = 50;

/**
 * Colour (and other escape sequences) only on a terminal that can show them,
 * and never when NO_COLOR is set to anything non-empty (https://no-color.org).
 */
export function useColour(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && !env.NO_COLOR && env.TERM !== 'dumb';
}

/** Whether stderr gets a progress line: a terminal that understands \r and erase-line. */
export function wantsProgress(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && env.TERM !== 'dumb';
}

const seconds = (ms: number) => (ms < 10_000 ? (ms / 1000).toFixed(1) : String(Math.round(ms / 1000)));

/** The line itself (pure, for tests). */
export function progressText(state: ProgressState, elapsedMs: number): string {
  const sample = state.count === Infinity ? `sample ${state.sample} (until Ctrl-C)` : state.count > 1 ? `sample ${state.sample}/${state.count}` : 'sampling';
  const hits = state.hits === undefined ? '' : `, ${state.hits} trigger ${state.hits === 1 ? 'hit' : 'hits'} so far`;
  switch (state.phase) {
    case 'window':
      return `${sample}: ${seconds(elapsedMs)} s${state.windowMs === undefined ? '' : ` of ${seconds(state.windowMs)} s`}${hits} (Ctrl-C reports now)`;
    case 'start-trigger':
      return `${sample}: waiting for the start trigger, ${seconds(elapsedMs)} s${hits} (Ctrl-C ends)`;
    case 'stop-trigger':
      return `${sample}: window open, waiting for the stop trigger, ${seconds(elapsedMs)} s${hits} (Ctrl-C reports now)`;
    case 'pause':
      return `${sample} next: pause, ${seconds(elapsedMs)} s${state.windowMs === undefined ? '' : ` of ${seconds(state.windowMs)} s`}`;
  }
}

export interface ProgressLine {
  /** Shows this state from now on, or erases the line (undefined). */
  show(state: ProgressState | undefined): void;
}

/** The line on a terminal stream; `progressLine` picks it or a no-op. */
export class TerminalProgress implements ProgressLine {
  private state: ProgressState | undefined;
  private since = 0;
  private drawn = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly stream: { write(text: string): unknown },
    private readonly colour: boolean,
    private readonly now: () => number = () => performance.now(),
  ) {}

  show(state: ProgressState | undefined): void {
    this.erase();
    this.state = state;
    this.since = this.now();
    if (state && !this.timer) {
      this.timer = setInterval(() => this.draw(), 1000);
      this.timer.unref();
    } else if (!state && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Draws the line if the state has lasted long enough (the timer calls it each second). */
  draw(): void {
    if (!this.state) return;
    const elapsed = this.now() - this.since;
    // The timer's tick due at PROGRESS_AFTER_MS may come a little early by this clock (libuv schedules by its
    // loop's cached millisecond time): it still counts, or a 3 s window would show no line at all.
    if (elapsed < PROGRESS_AFTER_MS - TICK_SLACK_MS) return;
    const text = `kdelay: ${progressText(this.state, elapsed)}`;
    this.stream.write(`\r\x1b[K${this.colour ? `\x1b[2m${text}\x1b[0m` : text}`);
    this.drawn = true;
  }

  private erase(): void {
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}

const NO_PROGRESS: ProgressLine = { show: () => {} };

/** A progress line on stderr when it is a terminal, else one that prints nothing. */
export function progressLine(stream: NodeJS.WriteStream = process.stderr, env: NodeJS.ProcessEnv = process.env): ProgressLine {
  return wantsProgress(stream, env) ? new TerminalProgress(stream, useColour(stream, env)) : NO_PROGRESS;
}

/**
 * A line for a reader at a terminal (the text report's pointer to the
 * legend): on stderr, dim where colour is allowed, and only when stdout and
 * stderr are both terminals, so a report piped or redirected anywhere gets
 * none and stdout's bytes never depend on it.
 */
export function terminalHint(
  stdout: { isTTY?: boolean } = process.stdout,
  stderr: NodeJS.WriteStream = process.stderr,
  env: NodeJS.ProcessEnv = process.env,
): ((line: string) => void) | undefined {
  if (stdout.isTTY !== true || !wantsProgress(stderr, env)) return undefined;
  const colour = useColour(stderr, env);
  return (line) => void stderr.write(colour ? `\x1b[2m${line}\x1b[0m\n` : `${line}\n`);
}
