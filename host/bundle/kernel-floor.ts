/**
 * The oldest kernel a BPF object can load on, checked without that kernel:
 * a build-time gate (npm run build:probes / check:probes, via
 * scripts/lib/probe-build.mjs) against a manifest's `min_kernel`.
 *
 * The verifier of an old kernel rejects instructions, helpers and map types
 * it predates, and only a run on that kernel shows it (5.10 refused the
 * trigger probe's cmpxchg with "BPF_STX uses reserved fields"). What can be
 * told from the object alone is checked here, on the code libbpf actually
 * loads (bpf-object.ts: loadedInstructions):
 *   - BPF atomics other than a plain add (fetch variants, xchg, cmpxchg: 5.12;
 *     load-acquire / store-release: 6.15), cpu v4 instructions (6.6),
 *     kernel function calls (kfuncs: 5.13);
 *   - helper ids and BPF_MAP_TYPE_ values newer than the floor (both are
 *     numbered in the order they were added, so "newest id in release X" is
 *     enough; the numbers below were read from Debian's linux-libc-dev
 *     linux/bpf.h of each release);
 *   - program kinds newer than the floor.
 * It cannot see attach targets and their prototypes (sched_switch grew a
 * fourth argument in 5.18; module BTF for fentry/fexit came in 5.11), or
 * what a helper may be called from: the kernel matrix test runs those.
 */

import { releaseAtLeast } from '../base/kernel-release.js';
import { BpfObjectFile } from './bpf-object.js';

/** The newest helper id and map type of each release, from its linux/bpf.h. */
const RELEASES = [
  { release: '5.10', lastHelper: 155 /* redirect_peer */, lastMapType: 28 /* INODE_STORAGE */ },
  { release: '6.1', lastHelper: 209 /* user_ringbuf_drain */, lastMapType: 31 /* USER_RINGBUF */ },
  { release: '6.12', lastHelper: 211 /* cgrp_storage_delete */, lastMapType: 33 /* ARENA */ },
];

const BPF_STX_ATOMIC_W = 0xc3; // BPF_STX | BPF_ATOMIC | BPF_W
const BPF_STX_ATOMIC_DW = 0xdb;
const BPF_ADD = 0x00;
const LOAD_ACQUIRE = 0x100; // BPF_LOAD_ACQ, BPF_STORE_REL = 0x110
const ATOMIC_NAMES: Record<number, string> = {
  0x01: 'fetch_add',
  0x40: 'or',
  0x41: 'fetch_or',
  0x50: 'and',
  0x51: 'fetch_and',
  0xa0: 'xor',
  0xa1: 'fetch_xor',
  0xe1: 'xchg',
  0xf1: 'cmpxchg',
};

/** SEC() prefixes of program kinds newer than 5.10, and the release that added them. */
const NEWER_KINDS: [prefix: string, release: string][] = [
  ['kprobe.multi', '5.18'],
  ['kretprobe.multi', '5.18'],
  ['uprobe.multi', '6.6'],
  ['uretprobe.multi', '6.6'],
  ['kprobe.session', '6.10'],
];

/** Why an instruction needs a newer kernel than the floor: [what, release], or undefined. */
function instructionNeeds(insn: { opcode: number; src: number; off: number; imm: number }): [string, string] | undefined {
  const { opcode, off, imm } = insn;
  if (opcode === BPF_STX_ATOMIC_W || opcode === BPF_STX_ATOMIC_DW) {
    if (imm === BPF_ADD) return undefined; // the old XADD: every kernel
    if (imm >= LOAD_ACQUIRE) return [imm === LOAD_ACQUIRE ? 'load-acquire' : 'store-release', '6.15'];
    return [`atomic ${ATOMIC_NAMES[imm] ?? `op 0x${imm.toString(16)}`}`, '5.12'];
  }
  const cls = opcode & 0x07;
  const op = opcode & 0xf0;
  if (opcode === 0x85 && insn.src === 2) return ['a kernel function call (kfunc)', '5.13'];
  // cpu v4 (clang -mcpu=v4): sign-extending loads and moves, signed division, bswap, 32-bit-offset jumps.
  if (cls === 0x01 && (opcode & 0xe0) === 0x80) return ['a sign-extending load (cpu v4)', '6.6'];
  if ((cls === 0x04 || cls === 0x07) && (op === 0x30 || op === 0x90) && off === 1) return ['a signed division (cpu v4)', '6.6'];
  if ((cls === 0x04 || cls === 0x07) && op === 0xb0 && off !== 0) return ['a sign-extending move (cpu v4)', '6.6'];
  if (opcode === 0xd7) return ['bswap (cpu v4)', '6.6'];
  if (opcode === 0x06) return ['a 32-bit-offset jump (cpu v4)', '6.6'];
  return undefined;
}

/**
 * Everything in the object newer than `floor` ("5.10"), one line each, e.g.
 * `section usdt: atomic cmpxchg needs 5.12`. Empty when it fits.
 */
export function newerThanFloor(elf: Uint8Array, floor: string): string[] {
  const known = RELEASES.filter((r) => releaseAtLeast(floor, r.release)).at(-1);
  if (!known) throw new Error(`min_kernel ${floor}: kdelay knows helpers and map types from ${RELEASES[0].release} on only`);
  const newer = (release: string) => !releaseAtLeast(floor, release);
  const object = new BpfObjectFile(elf);
  const problems = new Set<string>();
  for (const section of object.executableSections()) {
    const kind = NEWER_KINDS.find(([prefix]) => section.name === prefix || section.name.startsWith(`${prefix}/`));
    if (kind && newer(kind[1])) problems.add(`section ${section.name}: the program kind ${kind[0]} needs ${kind[1]}`);
  }
  for (const insn of object.loadedInstructions()) {
    const needs = instructionNeeds(insn);
    if (needs && newer(needs[1])) problems.add(`section ${insn.section}: ${needs[0]} needs ${needs[1]}`);
    if (insn.opcode === 0x85 && insn.src === 0 && insn.imm > known.lastHelper) {
      problems.add(`section ${insn.section}: helper ${insn.imm} is newer than ${known.release} (its last is ${known.lastHelper})`);
    }
  }
  for (const [map, type] of object.mapTypes()) {
    if (type > known.lastMapType) problems.add(`map ${map}: map type ${type} is newer than ${known.release} (its last is ${known.lastMapType})`);
  }
  return [...problems];
}
