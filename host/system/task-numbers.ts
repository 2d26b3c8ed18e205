/**
 * The kernel's numbers of the tasks in kdelay's PID namespace, from the
 * host's own task iterator (host/bpf/pid_numbers.bpf.c): what lets kdelay
 * measure a process in its own PID namespace when no host /proc is mounted
 * (`unshare -p -f --mount-proc`, a container without `-v /proc:/host/proc`).
 * system/procfs.ts: PidNamespaces uses it only then; a host /proc, when
 * present, is preferred, because reading it needs no BPF program loaded.
 */
import { OBJECTS } from '../bpf/pid-numbers.object.js';
import type { BpfBackend, OpenedObject } from '../libbpf/backend.js';
import { machineName } from './kernel-features.js';

/** One task: its numbers in the initial PID namespace and in kdelay's (userTid 0: none there). */
export interface TaskNumbers {
  kernelTgid: number;
  kernelTid: number;
  userTid: number;
}

/** struct kdelay_pid_numbers in pid_numbers.bpf.c: three u32. */
const RECORD_SIZE = 12;

/**
 * The iterator for the PID namespace whose inode (stat of /proc/self/ns/pid)
 * is namespaceInode, loaded on the first read() and kept until close():
 * loading and verifying it was most of the ~20-45 ms an answer cost, and a
 * run asks again whenever a thread it has not seen shows up. The kernel
 * walks the tasks of the namespace of the process that creates the
 * iterator: kdelay's, so every task the user's /proc shows is listed.
 */
export class TaskNumbersReader {
  private opened: OpenedObject | undefined;

  constructor(
    private readonly backend: BpfBackend,
    private readonly namespaceInode: number,
  ) {}

  read(): TaskNumbers[] {
    this.opened ??= this.load();
    const bytes = this.opened.readIterator('kdelay_pid_numbers');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const tasks: TaskNumbers[] = [];
    for (let at = 0; at + RECORD_SIZE <= bytes.length; at += RECORD_SIZE) {
      tasks.push({ kernelTgid: view.getUint32(at, true), kernelTid: view.getUint32(at + 4, true), userTid: view.getUint32(at + 8, true) });
    }
    return tasks;
  }

  close(): void {
    this.opened?.close();
    this.opened = undefined;
  }

  private load(): OpenedObject {
    const object = OBJECTS.find((o) => o.architectures.includes(machineName()));
    if (!object) throw new Error(`the task iterator was not built for ${machineName()}`);
    const opened = this.backend.open(Buffer.from(object.base64, 'base64'), 'pid_numbers');
    try {
      const inode = Buffer.alloc(4);
      inode.writeUInt32LE(this.namespaceInode);
      opened.setGlobal('user_namespace_inode', inode);
      opened.load();
      return opened;
    } catch (err) {
      opened.close();
      throw err;
    }
  }
}

/** One answer from a reader used once (loaded, read, unloaded). */
export function readTaskNumbers(backend: BpfBackend, namespaceInode: number): TaskNumbers[] {
  const reader = new TaskNumbersReader(backend, namespaceInode);
  try {
    return reader.read();
  } finally {
    reader.close();
  }
}
