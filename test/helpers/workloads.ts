/**
 * Test workloads: small C (and C++) programs under test/workloads/, built with gcc (g++) at
 * test time (frame pointers and symbols kept), started and driven by line
 * protocols on their stdout.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll } from 'vitest';

const SOURCES = join(import.meta.dirname, '..', 'workloads');
const BUILD_DIR = join(tmpdir(), `kdelay-workloads-${process.pid}`);
const built = new Map<string, string>();
// `built` lives as long as the test file (vitest loads modules afresh per file), and so does the folder.
afterAll(() => rmSync(BUILD_DIR, { recursive: true, force: true }));
const CFLAGS = ['-O2', '-g', '-fno-omit-frame-pointer', '-pthread', '-Wall', '-Werror'];

/** Compiles test/workloads/lib<name>.c once per test process into lib<name>.so; returns its path. */
export function buildSharedLibrary(name: string): string {
  const key = `lib${name}.so`;
  let library = built.get(key);
  if (library) return library;
  mkdirSync(BUILD_DIR, { recursive: true });
  library = join(BUILD_DIR, key);
  execFileSync('gcc', [...CFLAGS, '-shared', '-fPIC', '-o', library, join(SOURCES, `lib${name}.c`)]);
  built.set(key, library);
  return library;
}

/**
 * Compiles test/workloads/<name>.c (with gcc), or <name>.cpp (with g++), once
 * per test process; returns the binary. `libraries`: shared libraries of
 * test/workloads (lib<name>.c) it links with, found at run time through its
 * rpath.
 */
export function buildWorkload(name: string, { libraries = [] }: { libraries?: string[] } = {}): string {
  let binary = built.get(name);
  if (binary) return binary;
  mkdirSync(BUILD_DIR, { recursive: true });
  binary = join(BUILD_DIR, name);
  for (const library of libraries) buildSharedLibrary(library);
  const linking = libraries.length ? [`-L${BUILD_DIR}`, `-Wl,-rpath,${BUILD_DIR}`, ...libraries.map((l) => `-l${l}`)] : [];
  const cpp = join(SOURCES, `${name}.cpp`);
  if (existsSync(cpp)) execFileSync('g++', [...CFLAGS, '-o', binary, cpp, ...linking]);
  else execFileSync('gcc', [...CFLAGS, '-o', binary, join(SOURCES, `${name}.c`), ...linking]);
  built.set(name, binary);
  return binary;
}

export interface RunningWorkload {
  child: ChildProcess;
  /** Its PID as it sees itself (its "ready" line): the namespace's number when started in one. */
  pid: number;
  /** Its PID as the test (the host) numbers it. */
  hostPid: number;
  /** Signals the workload itself (not a wrapper such as nsenter). */
  kill(signal: NodeJS.Signals): void;
  /** Resolves with the next stdout line matching re. */
  waitFor(re: RegExp): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts a workload and waits for its "ready <pid>" line; `wrapper` goes
 * before it (e.g. nsenter into a PID namespace, which forks it as its child).
 */
export async function startWorkload(
  name: string,
  args: (string | number)[],
  { wrapper = [], libraries }: { wrapper?: string[]; libraries?: string[] } = {},
): Promise<RunningWorkload> {
  const command = [...wrapper, buildWorkload(name, { libraries }), ...args.map(String)];
  const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const i = waiters.findIndex((w) => w.re.test(line));
    if (i >= 0) waiters.splice(i, 1)[0].resolve(line);
    else lines.push(line);
  });
  const waitFor = (re: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const early = lines.findIndex((l) => re.test(l));
      if (early >= 0) return resolve(lines.splice(early, 1)[0]);
      const timer = setTimeout(() => reject(new Error(`${name}: no line matching ${re} within 20 s`)), 20_000);
      waiters.push({ re, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  const pid = Number((await waitFor(/^ready \d+$/)).split(' ')[1]);
  const hostPid = wrapper.length ? readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).map(Number).at(-1)! : child.pid!;
  return {
    child,
    pid,
    hostPid,
    kill: (signal) => process.kill(hostPid, signal),
    waitFor,
    // SIGTERM is honoured once the work is done; a workload stopped mid-work gets SIGKILL after 1 s.
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 1000);
        child.once('exit', () => (clearTimeout(kill), resolve()));
        try {
          process.kill(hostPid, 'SIGCONT'); // in case a test left it stopped
          process.kill(hostPid, 'SIGTERM');
        } catch {
          child.kill('SIGKILL'); // already gone: only a wrapper is left
        }
      }),
  };
}
