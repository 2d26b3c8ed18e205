/**
 * Gates for tests that need the real kernel. Outside CI a machine without
 * BPF skips them with a printed reason; under CI=true they fail instead,
 * because CI has the kernel and a skipped kernel test would hide a break.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const IN_CI = Boolean(process.env.CI);

function whyNoBpf(): string | undefined {
  if (process.geteuid?.() !== 0) return 'not running as root';
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'the kernel has no BTF';
  return undefined;
}

const reason = whyNoBpf();
if (reason && !IN_CI) console.warn(`skipping kernel tests: ${reason}`);

/** True when kernel tests must be skipped (never under CI). */
export const skipWithoutBpf = reason !== undefined && !IN_CI;

/** Call at the top of a kernel test: under CI, missing BPF is a failure. */
export function requireBpf(): void {
  if (reason) throw new Error(`kernel test cannot run: ${reason}`);
}

/** The built-in probes: every probes/NAME/manifest.json (what `npm run build:probes` builds into bundles/). */
export const BUILTIN_PROBES: string[] = readdirSync(join(import.meta.dirname, '..', '..', 'probes'))
  .filter((name) => existsSync(join(import.meta.dirname, '..', '..', 'probes', name, 'manifest.json')))
  .sort();

/** Name prefixes of the built-in probes' programs (each probe names its programs after itself). */
export const KDELAY_PROGRAM_PREFIXES = BUILTIN_PROBES.map((name) => `${name}_`);

/** IDs of loaded BPF programs whose name starts with one of kdelay's program prefixes. */
export function loadedKdelayPrograms(prefixes = KDELAY_PROGRAM_PREFIXES): string[] {
  const out = execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' });
  const progs = JSON.parse(out) as { id: number; name?: string }[];
  return progs.filter((p) => p.name && prefixes.some((x) => p.name!.startsWith(x))).map((p) => `${p.id}:${p.name}`);
}

/**
 * Program ids the kdelay processes this test file started held at some
 * point (startKdelay notes them while they run: helpers/kdelay.ts). The leak
 * check looks at these, not at every kdelay-named program on the machine:
 * other test files, and other checkouts' runs, load the same probes at the
 * same time.
 */
const ownPrograms = new Set<number>();

/** A process and its descendants (through /proc/PID/task/TID/children). */
function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      try {
        for (const child of readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) out.push(Number(child));
      } catch {
        /* gone meanwhile */
      }
    }
  }
  return out;
}

/** The program ids held now by these processes' file descriptors (program fds and links). */
function programsHeldBy(pids: Iterable<number>): Set<number> {
  const held = new Set<number>();
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fdinfo`);
    } catch {
      continue; // gone, or a kernel thread
    }
    for (const fd of fds) {
      try {
        const id = /^prog_id:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1];
        if (id) held.add(Number(id));
      } catch {
        /* closed meanwhile */
      }
    }
  }
  return held;
}

/** Records the programs a process this test started (and its children: wrappers) holds now. */
export function noteOwnPrograms(pid: number): void {
  for (const id of programsHeldBy(processTree(pid))) ownPrograms.add(id);
}

/**
 * Programs are freed shortly after their last fd closes (RCU); waits for
 * that, and returns what is left of this test's own: programs its kdelay
 * runs held (see ownPrograms) that are still loaded, and kdelay-named
 * programs no process holds at all (pinned, or left by a crash: a leak,
 * whoever made it). Programs other runs hold while they work are theirs.
 */
export async function waitUntilNoKdelayPrograms(prefixes = KDELAY_PROGRAM_PREFIXES, timeoutMs = 3000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  const left = () => {
    const loaded = loadedKdelayPrograms(prefixes);
    if (!loaded.length) return [];
    const held = heldProgramIds();
    return loaded.filter((p) => {
      const id = Number(p.split(':')[0]);
      return ownPrograms.has(id) || !held.has(id);
    });
  };
  let now = left();
  while (now.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    now = left();
  }
  return now;
}

/**
 * BPF program ids that some process's file descriptor holds (a program fd,
 * or a link's prog_id), from every /proc/PID/fdinfo. A program no process
 * holds is one a crash or a bug left in the kernel.
 */
function heldProgramIds(): Set<number> {
  return programsHeldBy(
    readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number),
  );
}

/**
 * What kdelay runs may have left in the kernel: programs with kdelay's name
 * prefixes that no process holds (other kdelay runs, e.g. other test files
 * running at the same time, hold theirs), and uprobe/kprobe events created
 * through tracefs. Waits up to timeoutMs for RCU to free what was just released.
 */
export async function kernelLeftovers(timeoutMs = 3000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const held = heldProgramIds();
    const orphans = loadedKdelayPrograms().filter((p) => !held.has(Number(p.split(':')[0])));
    const events = ['uprobe_events', 'kprobe_events'].flatMap((f) => {
      try {
        return readFileSync(`/sys/kernel/tracing/${f}`, 'utf8')
          .split('\n')
          .filter((l) => /kdelay|libbpf_/.test(l));
      } catch {
        return [];
      }
    });
    const left = [...orphans.map((p) => `program ${p}`), ...events];
    if (!left.length || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}
