/**
 * Uprobe triggers on functions of shared libraries (up:LIBRARY:FUNCTION):
 * resolution through a process's maps (a fake /proc, and kdelay's own
 * process for libc), checked against readelf; then windows on the real
 * kernel between calls into a library built here (libkdtest.so), whose
 * contents are known exactly.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { UserError } from '../../host/base/exit-codes.js';
import { resolveLibraryFunction } from '../../host/system/trigger-targets.js';
import { parseTrigger } from '../../host/system/triggers.js';
import { kernelLeftovers, requireBpf, skipWithoutBpf } from '../helpers/bpf.js';
import { runKdelay, startKdelay } from '../helpers/kdelay.js';
import { labelledRow, parseReport } from '../helpers/report.js';
import { buildSharedLibrary, type RunningWorkload, startWorkload } from '../helpers/workloads.js';

const GETPPIDS = 7;

/** A function's file offset as readelf tells it: its symbol's value in the PT_LOAD segment holding it. */
function readelfOffset(file: string, name: string): number {
  const symbols = execFileSync('readelf', ['-Ws', '--dyn-syms', file], { encoding: 'utf8' });
  const value = new RegExp(`^\\s*\\d+: ([0-9a-f]+)\\s+\\d+ FUNC\\s+\\S+\\s+DEFAULT\\s+\\d+ ${name}(@@\\S+)?$`, 'm').exec(symbols);
  if (!value) throw new Error(`readelf: no ${name} in ${file}`);
  const vaddr = parseInt(value[1], 16);
  for (const line of execFileSync('readelf', ['-lW', file], { encoding: 'utf8' }).split('\n')) {
    const load = /^\s*LOAD\s+0x([0-9a-f]+) 0x([0-9a-f]+) 0x[0-9a-f]+ 0x([0-9a-f]+)/.exec(line);
    if (!load) continue;
    const [offset, start, size] = load.slice(1).map((h) => parseInt(h, 16));
    if (vaddr >= start && vaddr < start + size) return offset + vaddr - start;
  }
  throw new Error(`readelf: ${name} is in no LOAD segment of ${file}`);
}

function resolveError(text: string, pid: number, procRoot?: string): string {
  try {
    resolveLibraryFunction(parseTrigger(text, 'start'), pid, procRoot);
  } catch (err) {
    if (err instanceof UserError) return `${err.exitCode} ${err.message}`;
    throw err;
  }
  throw new Error(`resolved: ${text}`);
}

describe('library functions found through the target’s maps', () => {
  const fakeProc = mkdtempSync(join(tmpdir(), 'kdelay-fake-proc-'));
  afterAll(() => rmSync(fakeProc, { recursive: true, force: true }));

  /** A fake /proc/42 whose maps show `mapped` (a path in the target's mount namespace) with `inode`. */
  function fakeTarget(mapped: string, inode: number, suffix = ''): string {
    mkdirSync(join(fakeProc, '42'), { recursive: true });
    writeFileSync(
      join(fakeProc, '42', 'maps'),
      [`7f0000000000-7f0000001000 r--p 00000000 08:01 ${inode}   ${mapped}${suffix}`, `7f0000001000-7f0000002000 r-xp 00001000 08:01 ${inode}   ${mapped}${suffix}`, ''].join('\n'),
    );
    return fakeProc;
  }
  const library = buildSharedLibrary('kdtest');
  // The target's root: the library at /lib/libkdtest.so in its mount namespace.
  const inTarget = join(fakeProc, '42', 'root', 'lib', 'libkdtest.so');
  mkdirSync(join(fakeProc, '42', 'root', 'lib'), { recursive: true });
  copyFileSync(library, inTarget);
  const inode = statSync(inTarget).ino;

  it.each(['libkdtest.so', 'libkdtest', 'kdtest'])('%s: the mapped file, through /proc/PID/root, at readelf’s offset', (name) => {
    const procRoot = fakeTarget('/lib/libkdtest.so', inode);
    for (const fn of ['phase_begin', 'phase_end']) {
      expect(resolveLibraryFunction(parseTrigger(`up:${name}:${fn}`), 42, procRoot)).toEqual({
        binary: `${procRoot}/42/root/lib/libkdtest.so`,
        offset: readelfOffset(library, fn),
      });
    }
  });

  it('a path: that file, as it is', () => {
    expect(resolveLibraryFunction(parseTrigger(`ur:${library}:phase_end`), 42, fakeTarget('/lib/libkdtest.so', inode))).toEqual({
      binary: library,
      offset: readelfOffset(library, 'phase_end'),
    });
  });

  it.each<[string, string, number, string, RegExp]>([
    [
      'a library the target has not mapped',
      '/lib/libkdtest.so',
      inode,
      'up:libnope:phase_begin',
      /^78 invalid start trigger \[up:libnope:phase_begin\]; the target has mapped no library libnope \(its mapped files: libkdtest\.so\)$/,
    ],
    ['a function the library lacks', '/lib/libkdtest.so', inode, 'up:libkdtest:nope', /^78 invalid start trigger \[up:libkdtest:nope\]; \/lib\/libkdtest\.so: no function nope$/],
    [
      'a file replaced since it was mapped',
      '/lib/libkdtest.so',
      inode + 1,
      'up:libkdtest:phase_begin',
      /^78 invalid start trigger \[up:libkdtest:phase_begin\]; \/lib\/libkdtest\.so was deleted or replaced after the target mapped it/,
    ],
    ['a deleted file', '/lib/libkdtest.so', inode, 'up:libkdtest:phase_begin', /; \/lib\/libkdtest\.so was deleted or replaced after the target mapped it/],
    [
      'a path that does not exist',
      '/lib/libkdtest.so',
      inode,
      'up:/no/such/libx.so:fn',
      /^78 invalid start trigger \[up:\/no\/such\/libx\.so:fn\]; \/no\/such\/libx\.so does not exist$/,
    ],
    ['a path that is not ELF', '/lib/libkdtest.so', inode, `up:${join(fakeProc, '42', 'maps')}:fn`, /; \S+\/42\/maps is not an ELF file kdelay can read \(not an ELF file\)$/],
  ])('%s: one line naming the trigger, exit 78', (what, mapped, mappedInode, text, message) => {
    const procRoot = fakeTarget(mapped, mappedInode, what === 'a deleted file' ? ' (deleted)' : '');
    expect(resolveError(text, 42, procRoot)).toMatch(message);
  });

  it('libc of a real process (this one), by each name BCC accepts; its IFUNCs are refused', () => {
    const libc = /\s(\/\S*\/libc\.so\.6)$/m.exec(readFileSync('/proc/self/maps', 'utf8'))![1];
    const expected = { binary: `/proc/${process.pid}/root${libc}`, offset: readelfOffset(libc, 'getpid') };
    for (const name of ['libc.so.6', 'libc', 'c']) expect(resolveLibraryFunction(parseTrigger(`up:${name}:getpid`), process.pid)).toEqual(expected);
    // getpid is a weak alias of __getpid: one function, found by either name.
    expect(resolveLibraryFunction(parseTrigger('up:c:__getpid'), process.pid)).toEqual(expected);
    expect(resolveError('up:libc.so.6:memcpy', process.pid)).toMatch(
      /^78 invalid start trigger \[up:libc\.so\.6:memcpy\]; \S+\/libc\.so\.6: memcpy is an indirect function \(IFUNC\)/,
    );
  });
});

let workload: RunningWorkload | undefined;
afterEach(async () => {
  await workload?.stop();
  workload = undefined;
});

/** kdelay with these triggers on library_workload doing `rounds` rounds; its output split per sample. */
async function triggered(args: (string | number)[], rounds: number) {
  workload = await startWorkload('library_workload', [rounds, GETPPIDS, 60], { libraries: ['kdtest'] });
  const kdelay = startKdelay(['-p', workload.pid, ...args]);
  await kdelay.waitForStderr(/waiting for/);
  workload.kill('SIGUSR1');
  const result = await kdelay.done;
  return { ...result, samples: result.stdout.split(/^(?=# Start sampling)/m).filter((s) => s.startsWith('#')) };
}

/** The worker's count of one syscall in a sample (undefined: no row). */
function workerCount(sample: string, syscall: string): number | undefined {
  const worker = parseReport(sample).find((t) => t.name === 'worker');
  return labelledRow(worker?.sections.get('SYSCALL STATISTICS'), syscall)?.[1];
}

describe.skipIf(skipWithoutBpf)('library triggers on the real kernel', () => {
  it('up:libkdtest.so:phase_begin to up:libkdtest.so:phase_end: each window holds exactly the round’s syscalls', async () => {
    requireBpf();
    const { code, samples, stdout, stderr } = await triggered(
      ['--start-trigger', 'up:libkdtest.so:phase_begin', '--stop-trigger', 'up:libkdtest.so:phase_end', '--sample-count', 3],
      5,
    );
    expect(code, stderr).toBe(0);
    expect(samples, stdout).toHaveLength(3);
    for (const sample of samples) {
      expect(sample).toMatch(/^# Triggered sample dump, stop-start delta [\d,]+ ns @/m);
      expect(workerCount(sample, 'getppid'), sample).toBe(GETPPIDS);
      expect(workerCount(sample, 'getpid'), sample).toBe(1);
      expect(workerCount(sample, 'nanosleep') ?? workerCount(sample, 'clock_nanosleep'), sample).toBeUndefined();
    }
  });

  it('ur: on the library by path, to up: on libc’s getpid (found through the target’s maps): the window ends before that call', async () => {
    requireBpf();
    const library = buildSharedLibrary('kdtest');
    const { code, samples, stdout, stderr } = await triggered(['--start-trigger', `ur:${library}:phase_begin`, '--stop-trigger', 'up:libc.so.6:getpid', '--sample-count', 2], 4);
    expect(code, stderr).toBe(0);
    expect(samples, stdout).toHaveLength(2);
    for (const sample of samples) {
      expect(workerCount(sample, 'getppid'), sample).toBe(GETPPIDS);
      expect(workerCount(sample, 'getpid'), sample).toBeUndefined();
    }
  });

  it.each<[string, RegExp]>([
    [
      'up:libnope.so:phase_begin',
      /^kdelay: invalid start trigger \[up:libnope\.so:phase_begin\]; the target has mapped no library libnope\.so \(its mapped files: library_workload, [^)]*\blibkdtest\.so\b/,
    ],
    ['up:libkdtest.so:no_such_function', /^kdelay: invalid start trigger \[up:libkdtest\.so:no_such_function\]; \/\S+\/libkdtest\.so: no function no_such_function$/],
    ['up:libc.so.6:memcpy', /^kdelay: invalid start trigger \[up:libc\.so\.6:memcpy\]; \S+\/libc\.so\.6: memcpy is an indirect function \(IFUNC\)/],
  ])('%s: one line, exit 78, nothing left in the kernel', async (trigger, message) => {
    requireBpf();
    workload = await startWorkload('library_workload', [1, GETPPIDS, 60], { libraries: ['kdtest'] });
    const result = await runKdelay(['-p', workload.pid, '--start-trigger', trigger]);
    expect(result.code, result.stderr).toBe(78);
    expect(result.stderr.trimEnd()).toMatch(message);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stdout).toBe('');
    expect(await kernelLeftovers()).toEqual([]);
  });
});
