/**
 * What kernel code a guest may load. The Wasm sandbox protects the host's
 * memory, not the kernel: a bundle's BPF object runs in the kernel as root.
 * Before an object is opened, its ELF program sections are checked against
 * an allow-list of tracing attach kinds, and their instructions for calls
 * to helpers that act on the system; networking hooks, LSM, cgroup and
 * struct_ops programs and those helpers (which change what the system
 * does, rather than observe it) are refused unless the user names them with
 * --allow-program-kind.
 */
import { BpfError, EPERM } from '../base/errno.js';
import type { Section } from '../symbols/elf.js';
import { BPF_CALL, BpfObjectFile, INSN_SIZE } from './bpf-object.js';

/** SEC() prefixes of program kinds that only observe. */
const ALLOWED = [
  'tp_btf/',
  'tp_btf',
  'raw_tp/',
  'raw_tp',
  'raw_tracepoint/',
  'tracepoint/',
  'tracepoint',
  'tp/',
  'kprobe/',
  'kprobe',
  'kretprobe/',
  'kretprobe',
  'uprobe/',
  'uprobe',
  'uretprobe/',
  'uretprobe',
  'usdt/',
  'usdt',
  'fentry/',
  'fentry',
  'fexit/',
  'fexit',
  'perf_event',
];

/**
 * Every program kind libbpf knows by its SEC() name (the part before any
 * `/`), and the forbidden helpers below: what --allow-program-kind may name.
 * Anything else would be a typo that lets nothing through without a word.
 */
export const PROGRAM_KINDS: readonly string[] = [
  'socket',
  'sk_reuseport',
  'kprobe',
  'kretprobe',
  'uprobe',
  'uretprobe',
  'uprobe.s',
  'uretprobe.s',
  'kprobe.multi',
  'kretprobe.multi',
  'kprobe.session',
  'uprobe.multi',
  'uretprobe.multi',
  'uprobe.multi.s',
  'uretprobe.multi.s',
  'uprobe.session',
  'uprobe.session.s',
  'ksyscall',
  'kretsyscall',
  'usdt',
  'usdt.s',
  'tc',
  'classifier',
  'action',
  'tcx',
  'netkit',
  'tracepoint',
  'tp',
  'raw_tracepoint',
  'raw_tp',
  'raw_tracepoint.w',
  'raw_tp.w',
  'tp_btf',
  'fentry',
  'fmod_ret',
  'fexit',
  'fentry.s',
  'fmod_ret.s',
  'fexit.s',
  'freplace',
  'lsm',
  'lsm.s',
  'lsm_cgroup',
  'iter',
  'iter.s',
  'syscall',
  'xdp',
  'xdp.frags',
  'perf_event',
  'lwt_in',
  'lwt_out',
  'lwt_xmit',
  'lwt_seg6local',
  'sockops',
  'sk_skb',
  'sk_msg',
  'lirc_mode2',
  'flow_dissector',
  'cgroup_skb',
  'cgroup',
  'struct_ops',
  'struct_ops.s',
  'sk_lookup',
  'netfilter',
];

/** Whether --allow-program-kind may name this: a kind (`xdp`, `cgroup/sock_create`) or a forbidden helper. */
export function isKnownProgramKind(kind: string): boolean {
  return PROGRAM_KINDS.includes(kind.split('/')[0]) || [...FORBIDDEN_HELPERS.values()].includes(kind);
}

/** What --allow-program-kind accepts, for its error message. */
export const knownProgramKinds = (): string => `kinds ${PROGRAM_KINDS.join(', ')}; helpers ${[...FORBIDDEN_HELPERS.values()].join(', ')}`;

/** The names of an ELF64-LE object's executable sections (its BPF programs). */
export function programSections(elf: Uint8Array): string[] {
  return new BpfObjectFile(elf).executableSections().map((s) => s.name);
}

/**
 * Helpers that change what the traced system does instead of observing it:
 * writing user memory, forcing a kernel function's return value, signalling
 * processes. A program calling one is refused like a forbidden kind.
 */
const FORBIDDEN_HELPERS = new Map<number, string>([
  [36, 'probe_write_user'],
  [58, 'override_return'],
  [109, 'send_signal'],
  [117, 'send_signal_thread'],
]);

/** The forbidden helpers a section calls, by name (every instruction: policy does not trust reachability). */
function forbiddenHelperCalls(object: BpfObjectFile, section: Section): string[] {
  // Over the bytes, not object.instructions(): every program section of every probe is scanned at each start,
  // and an object per instruction made sched's 5,700 cost ~14 ms, cold, against 0.5.
  const code = object.contents(section);
  const view = new DataView(code.buffer, code.byteOffset, code.byteLength);
  const found = new Set<string>();
  for (let at = 0; at + INSN_SIZE <= code.length; at += INSN_SIZE) {
    if (code[at] !== BPF_CALL || code[at + 1] >> 4 !== 0) continue; // src_reg 0: a helper, imm its id
    const helper = FORBIDDEN_HELPERS.get(view.getInt32(at + 4, true));
    if (helper) found.add(helper);
  }
  return [...found];
}

/**
 * Throws (EPERM) unless every program of the object is of an allowed kind
 * and calls no forbidden helper. `extraAllowed` (--allow-program-kind)
 * names kinds ("xdp", matching SEC("xdp") and SEC("xdp/...")) or helpers
 * ("probe_write_user") to let through anyway.
 */
export function checkProgramPolicy(elf: Uint8Array, owner: string, extraAllowed: readonly string[] = []): void {
  const allowedKind = (section: string) =>
    ALLOWED.some((prefix) => section === prefix || (prefix.endsWith('/') && section.startsWith(prefix))) ||
    extraAllowed.some((kind) => section === kind || section.startsWith(`${kind}/`));
  const object = new BpfObjectFile(elf);
  for (const section of object.executableSections()) {
    // .text holds BPF subprograms (static functions): not attachable, but their calls count.
    if (section.name !== '.text' && !allowedKind(section.name)) {
      throw new BpfError(`${owner}: program section "${section.name}" is not an allowed kind (kdelay loads tracing programs only; --allow-program-kind to override)`, EPERM);
    }
    const helpers = forbiddenHelperCalls(object, section).filter((h) => !extraAllowed.includes(h));
    if (helpers.length) {
      throw new BpfError(
        `${owner}: program section "${section.name}" calls bpf_${helpers[0]}, which changes the traced system (--allow-program-kind ${helpers[0]} to override)`,
        EPERM,
      );
    }
  }
}
