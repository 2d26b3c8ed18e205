/**
 * What signals mean to a run (driver/measure.ts): the first ends it after the
 * report, the second at once. Kept apart from measure.ts so it can be tested
 * without dying.
 */
import type { WaitOutcome } from './sampler.js';
import type { TriggerEvents, TriggerHit } from './trigger-events.js';

const TARGET_CHECK_MS = 100;

/** The measured process: alive() is false once it has exited, reaped or not (system/procfs.ts: TargetProcess). */
export interface WatchedTarget {
  alive(): boolean;
}
/** setTimeout's longest delay; a longer one fires after 1 ms (TimeoutOverflowWarning). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Ctrl-C, SIGTERM and SIGHUP end the current sample early; what was
 * collected is still printed (SIGHUP too: a closed terminal or a service
 * manager's reload should not lose a long sample). A second signal while
 * kdelay finishes means "now": it dies of that signal at once; the kernel
 * releases every program, map and link with its file descriptors.
 */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export class Interrupts {
  stopped = false;
  private wake: (() => void) | undefined;
  private readonly onSignal = (signal: NodeJS.Signals) => {
    if (this.stopped) {
      this.dispose();
      this.dieOf(signal);
      return;
    }
    this.stopped = true;
    this.wake?.();
  };

  /** dieOf: how a second signal ends the process (tests pass their own). */
  constructor(private readonly dieOf: (signal: NodeJS.Signals) => void = (signal) => process.kill(process.pid, signal)) {
    for (const signal of STOP_SIGNALS) process.on(signal, this.onSignal);
  }

  /** Whether a signal asked to stop, after letting any pending one be handled. */
  async interrupted(): Promise<boolean> {
    await new Promise((resolve) => setImmediate(resolve));
    return this.stopped;
  }

  /** Waits ms, waking early on a signal or when the target exits. */
  wait(ms: number, target: WatchedTarget): Promise<WaitOutcome> {
    if (this.stopped) return Promise.resolve('interrupted');
    // The watcher below looks every TARGET_CHECK_MS: a shorter window (say
    // --sample-time 0.02) would end before it ever looked, and a run of such
    // windows went on sampling a target that had long exited. So look at both
    // ends of every wait too.
    if (!target.alive()) return Promise.resolve('target-exited');
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (outcome: WaitOutcome) => {
        clearTimeout(timer);
        clearInterval(watcher);
        this.wake = undefined;
        resolve(outcome);
      };
      // Long waits go in chunks: one longer than setTimeout's limit would end at once.
      const deadline = performance.now() + ms;
      const arm = () => {
        const left = deadline - performance.now();
        timer = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(() => finish(target.alive() ? 'elapsed' : 'target-exited'), Math.max(0, left));
      };
      arm();
      const watcher = setInterval(() => target.alive() || finish('target-exited'), TARGET_CHECK_MS);
      this.wake = () => finish('interrupted');
    });
  }

  /** The next trigger hit, unless Ctrl-C or the target's exit comes first. */
  async nextHit(events: TriggerEvents, target: WatchedTarget): Promise<TriggerHit | 'interrupted' | 'target-exited'> {
    for (;;) {
      if (this.stopped) return 'interrupted';
      if (!target.alive()) return 'target-exited';
      const hit = await events.next(TARGET_CHECK_MS);
      if (hit) return hit;
    }
  }

  dispose() {
    for (const signal of STOP_SIGNALS) process.off(signal, this.onSignal);
  }
}
