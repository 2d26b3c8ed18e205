/**
 * `kdelay report FILE --folded`: the -s events of a recording as folded
 * stacks, Brendan Gregg's input to flamegraph.pl (and inferno, speedscope):
 * one line per distinct stack, `thread;outermost frame;...;innermost
 * frame;syscall COUNT`, user frames before kernel frames (where the call
 * blocked if it did, else its exit path: an off-CPU flame graph), each frame as its
 * function name (offsets dropped so that calls from one function merge).
 * Weighted by events, or by their time in the call (ns). Pure.
 */
import type { EventLine } from '../../model/sample.js';

export type FoldedWeight = 'count' | 'time';

/** A frame as folded stacks name it: `func+0x1a [module]` -> `func`; one without a symbol (and why) -> `[module]`, else `[unknown]`. */
export function frameName(frame: string): string {
  const unknown = /^\[unknown\] 0x[0-9a-f]+(?: \((.+?)\+0x[0-9a-f]+(?:; .*)?\))?$/i.exec(frame);
  if (unknown) return unknown[1] ? `[${unknown[1].replace(/^.*\//, '')}]` : '[unknown]';
  const symbol = /^(.*?)\+0x[0-9a-f]+(?: \[.*\])?$/i.exec(frame);
  return (symbol ? symbol[1] : frame).replace(/;/g, ':');
}

/** A stack's frames outermost first, as folded stacks write them (events carry them innermost first). */
export function foldedFrames(event: EventLine): string[] {
  return [...(event.userFrames ?? [])]
    .reverse()
    .concat([...(event.blocked?.kernelFrames ?? event.kernelFrames ?? [])].reverse())
    .map(frameName);
}

/** Folded lines (sorted, as flamegraph.pl expects nothing else), summing events with the same stack. */
export function foldedStacks(events: Iterable<{ event: EventLine; thread: string }>, weight: FoldedWeight): string[] {
  const sums = new Map<string, bigint>();
  for (const { event, thread } of events) {
    const key = [thread.replace(/;/g, ':'), ...foldedFrames(event), event.name].join(';');
    const w = weight === 'time' ? event.exitNs - event.entryNs : 1n;
    sums.set(key, (sums.get(key) ?? 0n) + w);
  }
  return [...sums].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, n]) => `${key.replace(/[\r\n]/g, ' ')} ${n}`);
}
