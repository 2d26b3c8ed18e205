/**
 * Phase marks for `npm run bench`'s start-up breakdown (scripts/bench.mjs).
 * With KDELAY_TIMING=1 in the environment each mark is one stderr line,
 * "kdelay-timing MS LABEL", MS counted from the process's start (Node's
 * performance.timeOrigin); otherwise a mark costs one comparison.
 */
const enabled = process.env.KDELAY_TIMING === '1';

export function timingMark(label: string): void {
  if (enabled) process.stderr.write(`kdelay-timing ${performance.now().toFixed(2)} ${label}\n`);
}
