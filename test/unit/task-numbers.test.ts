/**
 * PidNamespaces with the kernel's numbers from the task iterator instead of
 * a host /proc (host/system/procfs.ts: useTaskIterator), on a made-up /proc
 * of a namespace: which numbers resolveTarget and userTid give, and when the
 * iterator is asked again. The real iterator is measured in
 * test/integration/pid-namespace.test.ts and the kernel matrix.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PidNamespaces, resolveTarget } from '../../host/system/procfs.js';
import type { TaskNumbers } from '../../host/system/task-numbers.js';

let procRoot: string | undefined;
afterEach(() => {
  if (procRoot) rmSync(procRoot, { recursive: true, force: true });
  procRoot = undefined;
});

/** A namespace's /proc: kdelay is PID 1 (not the initial namespace, no kthreadd), process 5 has threads 5 and 6. */
function namespaceProc(): string {
  const root = mkdtempSync(join(tmpdir(), 'kdelay-ns-proc-'));
  for (const [tid, tgid] of [
    [1, 1],
    [5, 5],
    [6, 5],
  ]) {
    // A thread is both /proc/TGID/task/TID and (unlisted) /proc/TID.
    for (const dir of new Set([join(root, String(tgid), 'task', String(tid)), join(root, String(tid))])) {
      mkdirSync(join(dir, 'ns'), { recursive: true });
      writeFileSync(join(dir, 'stat'), `${tid} (w) S 1 ${tgid} ${tgid} 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 2 0 100`);
      writeFileSync(join(dir, 'status'), `Name:\tw\nTgid:\t${tgid}\nPid:\t${tid}\nNSpid:\t${tid}\n`);
    }
  }
  symlinkSync('pid:[4026532000]', join(root, '1', 'ns', 'pid'));
  symlinkSync('1', join(root, 'self'));
  return root;
}

/** The kernel sees process 5 as 4005 (threads 4005, 4006); each call is one iteration. */
function iterator(tasks: TaskNumbers[]) {
  const calls = { count: 0 };
  return { calls, read: () => (calls.count++, tasks.map((t) => ({ ...t }))) };
}

describe('PID namespaces from the task iterator', () => {
  it('without a host /proc it needs the iterator; with it, -p and -t resolve to the kernel numbers', () => {
    procRoot = namespaceProc();
    const namespaces = PidNamespaces.detect(procRoot, []);
    expect(namespaces.translates).toBe(true);
    expect(namespaces.needsTaskIterator).toBe(true);
    const { calls, read } = iterator([
      { kernelTgid: 4001, kernelTid: 4001, userTid: 1 },
      { kernelTgid: 4005, kernelTid: 4005, userTid: 5 },
      { kernelTgid: 4005, kernelTid: 4006, userTid: 6 },
    ]);
    namespaces.useTaskIterator(read);
    expect(namespaces.needsTaskIterator).toBe(false);
    expect(resolveTarget(5, undefined, namespaces)).toEqual({ pid: 5, kernelTgid: 4005, kernelTid: undefined, note: undefined });
    expect(resolveTarget(undefined, 6, namespaces)).toMatchObject({ pid: 5, kernelTgid: 4005, kernelTid: 4006 });
    expect(namespaces.userTid(4005, 4006)).toBe(6);
    expect(calls.count).toBe(1); // everything came from the first iteration
  });

  it('a thread the last iteration did not list is asked for again, at most every 100 ms; an exited one keeps no number', async () => {
    procRoot = namespaceProc();
    const namespaces = PidNamespaces.detect(procRoot, []);
    const tasks: TaskNumbers[] = [{ kernelTgid: 4005, kernelTid: 4005, userTid: 5 }];
    const { calls, read } = iterator(tasks);
    namespaces.useTaskIterator(() => read());
    tasks.push({ kernelTgid: 4005, kernelTid: 4007, userTid: 7 }); // started after the first iteration
    expect(namespaces.userTid(4005, 4007)).toBeUndefined(); // the answer is fresh: not asked again yet
    await new Promise((r) => setTimeout(r, 120));
    expect(namespaces.userTid(4005, 4007)).toBe(7);
    expect(calls.count).toBe(2);
    expect(namespaces.userTid(4005, 4007)).toBe(7); // cached
    expect(namespaces.userTid(4005, 4999)).toBeUndefined(); // gone: no number in the namespace
    expect(calls.count).toBe(2);
  });
});
