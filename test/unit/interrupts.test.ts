/**
 * Signals during a run (host/driver/interrupts.ts): the first one ends the
 * run after the report, a second one ends the process at once. Signals are
 * delivered with process.emit, so nothing real is sent to the test.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Interrupts } from '../../host/driver/interrupts.js';

let interrupts: Interrupts | undefined;
afterEach(() => interrupts?.dispose());

describe('Interrupts', () => {
  it.each(['SIGINT', 'SIGTERM', 'SIGHUP'] as const)('%s ends a wait early and asks to stop; a second one dies of it', async (signal) => {
    const died: string[] = [];
    const listeners = process.listenerCount(signal);
    interrupts = new Interrupts((s) => died.push(s));
    const waiting = interrupts.wait(60_000, { alive: () => true });
    process.emit(signal, signal);
    expect(await waiting).toBe('interrupted');
    expect(await interrupts.interrupted()).toBe(true);
    expect(died).toEqual([]);
    process.emit(signal, signal);
    expect(died).toEqual([signal]);
    // After dying it listens no more: the default action is the process's again.
    expect(process.listenerCount(signal)).toBe(listeners);
  });

  it('a wait shorter than the target watcher still notices a target that exited, at either end', async () => {
    interrupts = new Interrupts(() => {});
    expect(await interrupts.wait(20, { alive: () => false })).toBe('target-exited');
    let alive = true;
    const waiting = interrupts.wait(20, { alive: () => alive });
    alive = false; // exits during the window: the window ends as it would have, and says so
    expect(await waiting).toBe('target-exited');
    expect(await interrupts.wait(20, { alive: () => true })).toBe('elapsed');
  });

  it('a wait longer than setTimeout allows is not cut short', async () => {
    interrupts = new Interrupts(() => {});
    const waiting = interrupts.wait(3e9, { alive: () => true });
    const outcome = await Promise.race([waiting, new Promise((r) => setTimeout(() => r('still waiting'), 200))]);
    expect(outcome).toBe('still waiting');
    process.emit('SIGINT', 'SIGINT'); // ends the wait (and its timers)
    expect(await waiting).toBe('interrupted');
  });
});
