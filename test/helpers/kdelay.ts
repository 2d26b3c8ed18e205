/** Runs the built CLI (dist/, made by `npm test`'s tsc step) as a child process. */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { noteOwnPrograms } from './bpf.js';
import { validNdjson } from './json-schema.js';
import type { RunningWorkload } from './workloads.js';

export const KDELAY_BIN = join(import.meta.dirname, '..', '..', 'bin', 'kdelay.js');

export interface KdelayRun {
  child: ChildProcess;
  /** Resolves when stdout has printed a line matching re. */
  waitForOutput(re: RegExp): Promise<void>;
  /** Resolves when stderr has printed text matching re. */
  waitForStderr(re: RegExp): Promise<void>;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

export interface KdelayStartOptions {
  env?: NodeJS.ProcessEnv;
  /** Pins it to this CPU (taskset), to keep it off a workload's CPU. */
  cpu?: number;
  /** A command that runs the rest, e.g. an `unshare -m` wrapper (see libbpf-locate.test.ts), setpriv or nsenter. */
  wrapper?: string[];
  /** Another copy of kdelay to run (an installed package's bin/kdelay). */
  bin?: string;
}

/** Starts the CLI. With --json, `done` fails unless every line of stdout matches the published schema. */
export function startKdelay(args: (string | number)[], { env = process.env, cpu, wrapper = [], bin = KDELAY_BIN }: KdelayStartOptions = {}): KdelayRun {
  const command = [process.execPath, bin, ...args.map(String)];
  if (cpu !== undefined) command.unshift('taskset', '-c', String(cpu));
  command.unshift(...wrapper);
  const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env });
  // The programs it loads, for the leak check (helpers/bpf.ts: waitUntilNoKdelayPrograms looks at this run's, not the machine's).
  const noting = setInterval(() => child.pid && noteOwnPrograms(child.pid), 100);
  child.on('close', () => clearInterval(noting));
  let stdout = '';
  let stderr = '';
  const watchers: { re: RegExp; resolve: () => void }[] = [];
  child.stdout!.on('data', (d) => {
    stdout += d;
    for (const w of watchers.splice(0)) (w.re.test(stdout) ? w.resolve : () => watchers.push(w))();
  });
  const stderrWatchers: { re: RegExp; resolve: () => void }[] = [];
  child.stderr!.on('data', (d) => {
    stderr += d;
    for (const w of stderrWatchers.splice(0)) (w.re.test(stderr) ? w.resolve : () => stderrWatchers.push(w))();
  });
  const json = args.includes('--json');
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) =>
    child.on('close', (code) => {
      try {
        if (json) validNdjson(stdout);
        resolve({ code, stdout, stderr });
      } catch (err) {
        reject(err);
      }
    }),
  );
  const waitForOutput = (re: RegExp) =>
    new Promise<void>((resolve, reject) => {
      if (re.test(stdout)) return resolve();
      const timer = setTimeout(() => reject(new Error(`kdelay printed no ${re} within 20 s; stderr: ${stderr}`)), 20_000);
      watchers.push({ re, resolve: () => (clearTimeout(timer), resolve()) });
      child.once('close', () => reject(new Error(`kdelay exited before printing ${re}; stderr: ${stderr}`)));
    });
  const waitForStderr = (re: RegExp) =>
    new Promise<void>((resolve, reject) => {
      if (re.test(stderr)) return resolve();
      const timer = setTimeout(() => reject(new Error(`kdelay printed no ${re} on stderr within 20 s; stderr: ${stderr}`)), 20_000);
      stderrWatchers.push({ re, resolve: () => (clearTimeout(timer), resolve()) });
      child.once('close', () => reject(new Error(`kdelay exited before printing ${re} on stderr; stderr: ${stderr}`)));
    });
  return { child, waitForOutput, waitForStderr, done };
}

/** setpriv's (util-linux) arguments to run as nobody with exactly these capabilities (e.g. ['bpf', 'perfmon']). */
export function asNobodyWith(caps: string[]): string[] {
  const set = caps.length ? caps.map((c) => `+${c}`).join(',') : '-all';
  return ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', `--inh-caps=${set}`, `--ambient-caps=${set}`];
}

export function runKdelay(args: (string | number)[], env?: NodeJS.ProcessEnv, options: Omit<KdelayStartOptions, 'env'> = {}) {
  return startKdelay(args, { env, ...options }).done;
}

/**
 * One window around a workload's work: starts kdelay on it with args, lets
 * the workload go (SIGUSR1) once sampling has started, waits for its "done",
 * ends the sample with SIGINT (the report is still printed) and returns
 * kdelay's result.
 */
export async function sampleWorkload(workload: RunningWorkload, args: (string | number)[], options: KdelayStartOptions = {}) {
  const kdelay = startKdelay(['-p', workload.pid, '--sample-time', 30, ...args], options);
  await kdelay.waitForOutput(/^# Start sampling/m);
  workload.kill('SIGUSR1');
  await workload.waitFor(/^done$/);
  kdelay.child.kill('SIGINT');
  return kdelay.done;
}
