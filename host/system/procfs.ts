/**
 * What kdelay reads from /proc about the target, and how PIDs translate
 * between the user's PID namespace and the kernel's.
 *
 * A PID on the command line (and the auto-detected ovs-vswitchd) means the
 * process as kdelay's /proc numbers it: what `ps` shows next to kdelay. The
 * BPF probes compare the numbers of the initial PID namespace (what
 * bpf_get_current_pid_tgid() returns). The two are the same on the host and
 * in a container sharing the host's PID namespace (--pid=host, kubectl
 * debug node). Inside a container's own PID namespace they differ, and
 * /proc there shows only the namespace's numbers (NSpid in
 * /proc/PID/status starts at the namespace of the /proc mount, not at the
 * kernel's). kdelay then finds the kernel's number in a view of the host's
 * /proc, mounted at $KDELAY_HOST_PROC or /host/proc (`-v
 * /proc:/host/proc:ro`): the process whose NSpid has the user's number at
 * the user's namespace level. Without one, it asks the kernel: a task
 * iterator lists every task of kdelay's namespace with both numbers
 * (system/task-numbers.ts), which the driver installs with
 * useTaskIterator() once libbpf is loaded.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, statSync } from 'node:fs';
import { ExitCode, UserError } from '../base/exit-codes.js';
import { OPEN_VSWITCH_DAEMON } from '../base/open-vswitch.js';
import type { TaskNumbers } from './task-numbers.js';

/** The initial PID namespace's inode number is fixed (PROC_PID_INIT_INO in the kernel). */
const INIT_PID_NAMESPACE = 'pid:[4026531836]';
/** PF_KTHREAD in /proc/PID/stat's flags field (include/linux/sched.h). */
const PF_KTHREAD = 0x00200000;
/** Where a container commonly mounts the host's /proc (node_exporter's convention). */
export const hostProcCandidates = (): string[] => [process.env.KDELAY_HOST_PROC, '/host/proc'].filter((p): p is string => Boolean(p));

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function readLink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/**
 * A comm is at most 15 bytes and a newline. readFileSync of a /proc file
 * (size 0 to stat) reads into a fresh 64 KiB buffer: once per thread per
 * sample, that churn of native memory was most of what a long run of a
 * many-threaded target made its RSS grow by.
 */
const commBuffer = Buffer.alloc(64);

function readComm(path: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const n = readSync(fd, commBuffer, 0, commBuffer.length, null);
    return commBuffer.toString('utf8', 0, n > 0 && commBuffer[n - 1] === 0x0a ? n - 1 : n);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * A small /proc file (stat: a few hundred bytes) read into one reused
 * buffer, as readComm does: the target's liveness is checked ten times a
 * second for the whole run.
 */
const smallBuffer = Buffer.alloc(4096);

function readSmall(path: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const n = readSync(fd, smallBuffer, 0, smallBuffer.length, null);
    return smallBuffer.toString('utf8', 0, n);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** A field of /proc/PID/status, e.g. "NSpid" -> "1234\t5". */
function statusField(status: string, field: string): string | undefined {
  return new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(status)?.[1];
}

/** The fields of /proc/PID/stat after the command (which may hold spaces and parentheses): index 0 is the state. */
function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** PIDs whose process name contains `name` (as psutil's name() test in the reference). */
export function findProcesses(name: string, procRoot = '/proc'): number[] {
  const pids: number[] = [];
  const self = readLink(`${procRoot}/self`);
  for (const entry of readdirSync(procRoot)) {
    if (!/^\d+$/.test(entry) || entry === self) continue;
    const comm = readComm(`${procRoot}/${entry}/comm`);
    if (comm?.includes(name)) pids.push(Number(entry));
  }
  return pids.sort((a, b) => a - b);
}

/**
 * Whether a /proc mount numbers processes as the kernel does (the initial
 * PID namespace's): kdelay itself is in that namespace, or the mount shows
 * kthreadd as PID 2 (kernel threads live only there). Another process's
 * ns/pid link would need ptrace access, which even root may lack.
 */
export function isKernelNumbering(procRoot: string): boolean {
  if (readLink(`${procRoot}/self/ns/pid`) === INIT_PID_NAMESPACE) return true;
  const stat = readText(`${procRoot}/2/stat`);
  return stat !== undefined && (Number(statFields(stat)[6]) & PF_KTHREAD) !== 0;
}

/** How the user's /proc numbers processes, and where the kernel's numbers can be read. */
export class PidNamespaces {
  private readonly userLevel: number;
  private readonly tidCache = new Map<number, number>();
  /** The task iterator's answer and how to ask again (no host /proc: see useTaskIterator). */
  private iterated?: { read: () => TaskNumbers[]; tasks: TaskNumbers[]; takenMs: number };

  private constructor(
    readonly userProc: string,
    /** A /proc with the kernel's numbers (userProc itself when no translation is needed); undefined: none found. */
    private readonly hostProc: string | undefined,
  ) {
    // NSpid lists a process's numbers from the /proc mount's namespace down
    // to its own: kdelay's own list is longer in the kernel's view by the
    // user namespace's depth.
    const depth = (root: string) => statusField(readText(`${root}/self/status`) ?? '', 'NSpid')?.split(/\s+/).length ?? 1;
    this.userLevel = hostProc === undefined ? 0 : depth(hostProc) - depth(userProc);
  }

  /** The namespaces of this kdelay (whether the kernel's numbers can be read is checked when they are needed). */
  static detect(userProc = '/proc', hostProcs = hostProcCandidates()): PidNamespaces {
    if (!existsSync(`${userProc}/self`))
      throw new UserError(`${userProc} does not show kdelay itself; mount the proc filesystem of kdelay's PID namespace there`, ExitCode.UNAVAILABLE);
    if (isKernelNumbering(userProc)) return new PidNamespaces(userProc, userProc);
    return new PidNamespaces(
      userProc,
      hostProcs.find((root) => existsSync(`${root}/self`) && isKernelNumbering(root)),
    );
  }

  get translates(): boolean {
    return this.userProc !== this.hostProc;
  }

  /** Translation is needed and no host /proc can do it: the driver must call useTaskIterator() before resolving a target. */
  get needsTaskIterator(): boolean {
    return this.hostProc === undefined && this.iterated === undefined;
  }

  /**
   * The inode number of the PID namespace the user's /proc shows: kdelay's
   * own (detect() found /proc/self there), which is also the namespace the
   * kernel's task iterator walks for kdelay. Not pid_for_children: that
   * differs only after an unshare(CLONE_NEWPID) without a fork, and kdelay's
   * /proc and getpid() use the namespace it runs in.
   */
  namespaceInode(): number {
    return statSync(`${this.userProc}/self/ns/pid`).ino;
  }

  /** Takes the kernel's numbers from `read` (the task iterator, system/task-numbers.ts) instead of a host /proc. */
  useTaskIterator(read: () => TaskNumbers[]): void {
    this.iterated = { read, tasks: read(), takenMs: Date.now() };
  }

  /** The iterator's tasks, asked again when the answer is older than maxAgeMs (a task it did not list may be new). */
  private iteratedTasks(maxAgeMs: number): TaskNumbers[] {
    const iterated = this.iterated!;
    if (Date.now() - iterated.takenMs > maxAgeMs) Object.assign(iterated, { tasks: iterated.read(), takenMs: Date.now() });
    return iterated.tasks;
  }

  /** Where the kernel's numbers come from, for messages. */
  get kernelSource(): string {
    return this.hostProc ?? "the kernel's task iterator";
  }

  /** The /proc with the kernel's numbers; throws (exit 69) explaining the fix when there is none. */
  get kernelProc(): string {
    if (this.hostProc !== undefined) return this.hostProc;
    throw new UserError(
      `kdelay runs in a PID namespace of its own and cannot see the host's PIDs, which the kernel probes compare; ` +
        `run it in the host's PID namespace (--pid=host) or mount the host's /proc at /host/proc or $KDELAY_HOST_PROC`,
      ExitCode.UNAVAILABLE,
    );
  }

  /** The kernel's number of the thread or process the user's namespace calls `id`, or undefined. */
  kernelId(id: number): number | undefined {
    if (!this.translates) return existsSync(`${this.userProc}/${id}`) ? id : undefined;
    if (this.iterated) {
      // The namespace's number of a process is its leader's: the leader's kernel tid is the kernel tgid.
      const find = (maxAgeMs: number) => this.iteratedTasks(maxAgeMs).find((t) => t.userTid === id)?.kernelTid;
      return find(Infinity) ?? find(-1);
    }
    const status = readText(`${this.userProc}/${id}/status`);
    const tgid = status && Number(statusField(status, 'Tgid'));
    if (!tgid) return undefined;
    const kernelTgid = this.findKernelProcess(tgid);
    if (kernelTgid === undefined || tgid === id) return kernelTgid;
    for (const tid of this.tasks(this.kernelProc, kernelTgid)) if (this.userNumber(`${this.kernelProc}/${kernelTgid}/task/${tid}`) === id) return tid;
    return undefined;
  }

  /** The user's number of a thread of process kernelTgid (kernel numbers), undefined once it is gone. */
  userTid(kernelTgid: number, kernelTid: number): number | undefined {
    if (!this.translates) return kernelTid;
    let tid = this.tidCache.get(kernelTid);
    if (tid === undefined) {
      tid = this.iterated ? this.iteratedUserTid(kernelTid) : this.userNumber(`${this.kernelProc}/${kernelTgid}/task/${kernelTid}`);
      if (tid !== undefined) this.tidCache.set(kernelTid, tid);
    }
    return tid;
  }

  /**
   * A thread the last iteration did not list started after it, or has
   * exited: iterate again, at most every 100 ms, so a report naming many
   * exited threads costs one iteration, not one per thread.
   */
  private iteratedUserTid(kernelTid: number): number | undefined {
    const find = (maxAgeMs: number) => this.iteratedTasks(maxAgeMs).find((t) => t.kernelTid === kernelTid)?.userTid || undefined;
    return find(Infinity) ?? find(100);
  }

  /** The process's number at the user's namespace level, from its NSpid in the kernel's view. */
  private userNumber(dir: string): number | undefined {
    const nspid = statusField(readText(`${dir}/status`) ?? '', 'NSpid')
      ?.split(/\s+/)
      .map(Number);
    return nspid?.[this.userLevel];
  }

  /** The kernel's number of the process the user calls pid: same number at the user's level, same process. */
  private findKernelProcess(pid: number): number | undefined {
    const identity = (root: string, p: number) => `${readLink(`${root}/${p}/ns/pid`)} ${statFields(readText(`${root}/${p}/stat`) ?? '')[19]}`;
    const wanted = identity(this.userProc, pid);
    for (const entry of readdirSync(this.kernelProc)) {
      if (!/^\d+$/.test(entry)) continue;
      if (this.userNumber(`${this.kernelProc}/${entry}`) === pid && identity(this.kernelProc, Number(entry)) === wanted) return Number(entry);
    }
    return undefined;
  }

  private tasks(root: string, pid: number): number[] {
    return threadIds(pid, root);
  }
}

/** The process (and perhaps the one thread) kdelay measures. */
export interface Target {
  /** The process as the user's namespace numbers it (/proc/PID there). */
  pid: number;
  /** The same process as the kernel numbers it: what the probes compare. */
  kernelTgid: number;
  /** -t: the one thread to report, in the kernel's numbers. */
  kernelTid?: number;
  /** Said on stderr when the target is not literally what -p named. */
  note?: string;
}

/** Why a process cannot be measured (exit 69), or undefined when it can. */
function unmeasurable(pid: number, procRoot: string): string | undefined {
  const stat = readText(`${procRoot}/${pid}/stat`);
  if (stat === undefined) return `no process with PID ${pid}`;
  const fields = statFields(stat);
  if (Number(fields[6]) & PF_KTHREAD) return `PID ${pid} is a kernel thread (${/\((.*)\)/.exec(stat)?.[1]}): kdelay measures user processes`;
  // /proc/PID/stat is the main thread's: after pthread_exit() it is a zombie while the other threads run on.
  if (isDead(fields[0]) && !hasLiveThread(pid, procRoot)) return `PID ${pid} is a zombie (it has exited; its parent has not reaped it): nothing left to measure`;
  return undefined;
}

/** Z (zombie) or X (dead): a task that will never run again. */
function isDead(state: string | undefined): boolean {
  return state === 'Z' || state === 'X';
}

/** Whether any thread of pid is alive (neither zombie nor dead). */
function hasLiveThread(pid: number, procRoot: string): boolean {
  for (const tid of threadIds(pid, procRoot)) {
    const stat = readSmall(`${procRoot}/${pid}/task/${tid}/stat`);
    if (stat !== undefined && !isDead(statState(stat))) return true;
  }
  return false;
}

/**
 * The target: -p PID (a thread id measures its process, with a note), -t
 * TID (that thread only), or else the single ovs-vswitchd.
 */
export function resolveTarget(pid: number | undefined, tid?: number, namespaces = PidNamespaces.detect()): Target {
  const procRoot = namespaces.userProc;
  let note: string | undefined;
  let processId: number;
  if (tid !== undefined) {
    const tgid = Number(statusField(readText(`${procRoot}/${tid}/status`) ?? '', 'Tgid'));
    if (!tgid) throw new UserError(`no thread with TID ${tid}`, ExitCode.UNAVAILABLE);
    if (pid !== undefined && pid !== tgid) throw new UserError(`thread ${tid} belongs to process ${tgid}, not ${pid}`, ExitCode.UNAVAILABLE);
    processId = tgid;
  } else if (pid !== undefined) {
    const why = unmeasurable(pid, procRoot);
    if (why) throw new UserError(why, ExitCode.UNAVAILABLE);
    const tgid = Number(statusField(readText(`${procRoot}/${pid}/status`) ?? '', 'Tgid'));
    processId = tgid || pid;
    if (processId !== pid) note = `measuring process ${processId}, thread ${pid} given (-t ${pid} reports that thread only)`;
  } else {
    const candidates = findProcesses(OPEN_VSWITCH_DAEMON, procRoot);
    if (candidates.length === 0) {
      throw new UserError(`failed to find ${OPEN_VSWITCH_DAEMON}'s PID; is it running? Use -p PID for another process`, ExitCode.UNAVAILABLE);
    }
    if (candidates.length > 1) {
      throw new UserError(`multiple ${OPEN_VSWITCH_DAEMON} daemons running (${candidates.join(', ')}); use the -p option`, ExitCode.NOINPUT);
    }
    processId = candidates[0];
  }
  const why = unmeasurable(processId, procRoot);
  if (why) throw new UserError(why, ExitCode.UNAVAILABLE);
  const kernelTgid = namespaces.kernelId(processId);
  if (kernelTgid === undefined) throw new UserError(`process ${processId} has no PID in ${namespaces.kernelSource}; is it the host's?`, ExitCode.UNAVAILABLE);
  const kernelTid = tid === undefined ? undefined : namespaces.kernelId(tid);
  if (tid !== undefined && kernelTid === undefined) throw new UserError(`thread ${tid} exited`, ExitCode.UNAVAILABLE);
  return { pid: processId, kernelTgid, kernelTid, note };
}

/** The thread's name as the reference shows it, `<unknown:PID/TID>` once it is gone. */
export function threadName(pid: number, tid: number, procRoot = '/proc'): string {
  return readComm(`${procRoot}/${pid}/task/${tid}/comm`) ?? `<unknown:${pid}/${tid}>`;
}

/**
 * Thread names of one process, for --thread-name: a name is read when it is
 * asked for, and remembered, so a thread that exits before the report keeps
 * the last name kdelay saw (look() sees them all at once, e.g. as a window
 * closes). A thread that started and ended between two looks has none.
 * By the numbers of procRoot (the user's /proc): /proc/PID/task/TID only
 * shows threads of PID, so a thread id reused by another process is not
 * taken for one of these.
 */
export class ThreadNames {
  private readonly lastSeen = new Map<number, string>();

  constructor(
    readonly pid: number,
    private readonly procRoot = '/proc',
  ) {}

  /** Reads every live thread's name now; returns them by thread id. */
  look(): Map<number, string> {
    const live = new Map<number, string>();
    // A process that is gone has no threads: the names seen so far stay.
    for (const tid of threadIds(this.pid, this.procRoot)) {
      const name = this.name(tid);
      if (name !== undefined) live.set(tid, name);
    }
    return live;
  }

  /** The thread's name now, else the last one seen; undefined if it was never seen. */
  name(tid: number): string | undefined {
    const now = readComm(`${this.procRoot}/${this.pid}/task/${tid}/comm`);
    if (now === undefined) return this.lastSeen.get(tid);
    this.lastSeen.set(tid, now);
    return now;
  }
}

/**
 * One process, told apart from whatever gets its PID later: by its start
 * time (/proc/PID/stat field 22, clock ticks since boot), which a reused PID
 * does not share. It is gone when its PID shows another process or none,
 * or when none of its threads is alive: a process that exited but is not
 * reaped yet (a zombie) keeps its /proc entry, and a main thread that
 * called pthread_exit() stays a zombie while the other threads work on.
 */
export class TargetProcess {
  private readonly startTime: string | undefined;

  constructor(
    readonly pid: number,
    private readonly procRoot = '/proc',
  ) {
    this.startTime = TargetProcess.startTimeOf(pid, procRoot);
  }

  private static startTimeOf(pid: number, procRoot: string): string | undefined {
    const stat = readSmall(`${procRoot}/${pid}/stat`);
    return stat === undefined ? undefined : statFields(stat)[19];
  }

  /** Whether the process is still there and has a live thread. Reads /proc/PID/stat, and the threads' only when the main thread is dead. */
  alive(): boolean {
    const stat = readSmall(`${this.procRoot}/${this.pid}/stat`);
    if (stat === undefined || this.startTime === undefined) return false;
    const fields = statFields(stat);
    if (fields[19] !== this.startTime) return false;
    return !isDead(fields[0]) || hasLiveThread(this.pid, this.procRoot);
  }
}

/** The thread ids of pid, as procRoot numbers them; none once the process is gone. */
export function threadIds(pid: number, procRoot = '/proc'): number[] {
  try {
    return readdirSync(`${procRoot}/${pid}/task`).map(Number);
  } catch {
    return [];
  }
}

/** Where a thread is, as /proc says: its scheduler state letter and the system call it is in. */
export interface ThreadWhereabouts {
  /** /proc/PID/task/TID/stat's state: R, S, D, T, t, I, Z, ... */
  state: string;
  /** The system call it sleeps in; null: outside any (an exception, e.g. a page fault); undefined: running or unknown. */
  syscall: number | null | undefined;
}

/** The state letter of a /proc/.../stat line (after the parenthesised name, which may hold anything). */
export function statState(stat: string): string | undefined {
  return /\) (\S)/.exec(stat.slice(stat.lastIndexOf(')')))?.[1];
}

/** /proc/.../syscall: "NR ARGS... SP PC" in a system call, "-1 SP PC" outside one, "running" on a CPU. */
export function syscallOfProcFile(text: string): number | null | undefined {
  const first = text.trim().split(/\s+/)[0];
  if (first === '-1') return null;
  return /^\d+$/.test(first) ? Number(first) : undefined;
}

/** Where thread tid of pid is now; undefined once it has exited. */
export function threadWhereabouts(pid: number, tid: number, procRoot = '/proc'): ThreadWhereabouts | undefined {
  const stat = readText(`${procRoot}/${pid}/task/${tid}/stat`);
  const state = stat === undefined ? undefined : statState(stat);
  if (state === undefined) return undefined;
  const syscall = readText(`${procRoot}/${pid}/task/${tid}/syscall`);
  return { state, syscall: syscall === undefined ? undefined : syscallOfProcFile(syscall) };
}
