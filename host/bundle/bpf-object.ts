/**
 * Reading a BPF object (ELF64-LE, as clang -target bpf writes it) without
 * loading it: its program sections, their instructions, which of them libbpf
 * would actually load, and the types of the maps it declares. Used by the
 * program policy (policy.ts, before a guest opens an object) and by the
 * build's kernel-compatibility check (kernel-floor.ts).
 */
import { BpfError, EPERM } from '../base/errno.js';
import { SHF_EXECINSTR, SHT_REL, SHT_SYMTAB, STT_FUNC, SYM_SIZE } from '../symbols/elf-constants.js';
import { bufferSource, ElfError, readSections, type Section } from '../symbols/elf.js';
import { Btf } from './btf.js';

const REL_SIZE = 16;
export const INSN_SIZE = 8;

/** Opcodes and pseudo sources the readers below look at (linux/bpf.h, linux/bpf_common.h). */
export const BPF_CALL = 0x85; // BPF_JMP | BPF_CALL
export const BPF_LD_IMM64 = 0x18; // BPF_LD | BPF_IMM | BPF_DW: two instruction slots
export const BPF_PSEUDO_CALL = 1; // src_reg of a call to a BPF subprogram (imm: relative index)
export const BPF_PSEUDO_KFUNC_CALL = 2; // src_reg of a call to a kernel function
export const BPF_PSEUDO_FUNC = 4; // src_reg of an ld_imm64 loading a subprogram's address (a callback)

/** One 8-byte BPF instruction. */
export interface Instruction {
  /** Its index in its section. */
  index: number;
  opcode: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

/** A readable BPF object: its sections and bytes. */
export class BpfObjectFile {
  readonly sections: Section[];

  /** Throws BpfError (EPERM) if `bytes` is not an ELF64 little-endian object. */
  constructor(readonly bytes: Uint8Array) {
    try {
      this.sections = readSections(bufferSource(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)));
    } catch (err) {
      if (err instanceof ElfError) throw new BpfError(`not an ELF64 little-endian object (${err.message})`, EPERM);
      throw err;
    }
  }

  /** Its executable sections: one per SEC() of its programs, and .text for subprograms. */
  executableSections(): Section[] {
    return this.sections.filter((s) => s.flags & SHF_EXECINSTR);
  }

  contents(section: Section): Uint8Array {
    return this.bytes.subarray(section.offset, section.offset + section.size);
  }

  /** The instructions of a section (an ld_imm64's second slot included, as the zero-opcode slot it is). */
  *instructions(section: Section, from = 0, to = section.size / INSN_SIZE): Generator<Instruction> {
    const code = this.contents(section);
    const view = new DataView(code.buffer, code.byteOffset, code.byteLength);
    for (let index = from; index < to && (index + 1) * INSN_SIZE <= code.length; index++) {
      const at = index * INSN_SIZE;
      yield { index, opcode: code[at], dst: code[at + 1] & 0xf, src: code[at + 1] >> 4, off: view.getInt16(at + 2, true), imm: view.getInt32(at + 4, true) };
    }
  }

  /**
   * The code libbpf loads: every instruction of the program sections, and of
   * the .text subprograms they call (directly, or as callbacks), however
   * deep. Subprograms no program reaches are left out of the object libbpf
   * loads, so a kernel never sees them (libbpf's usdt.bpf.h defines a few
   * that call newer helpers under a CO-RE guard; a probe that does not call
   * them does not need those helpers).
   */
  *loadedInstructions(): Generator<Instruction & { section: string }> {
    const symbols = this.symbols();
    const textIndex = this.sections.findIndex((s) => s.name === '.text');
    const functionsInText = symbols.filter((s) => s.type === STT_FUNC && s.section === textIndex).map((s) => ({ start: s.value / INSN_SIZE, end: (s.value + s.size) / INSN_SIZE }));
    const pending: { section: number; from: number; to: number }[] = [];
    const seen = new Set<number>();
    const reach = (textInsn: number) => {
      const fn = functionsInText.find((f) => textInsn >= f.start && textInsn < f.end);
      // A target outside any function symbol: scan the whole .text rather than miss code.
      const range = fn ?? { start: 0, end: this.sections[textIndex].size / INSN_SIZE };
      if (seen.has(range.start)) return;
      seen.add(range.start);
      pending.push({ section: textIndex, from: range.start, to: range.end });
    };
    this.sections.forEach((s, i) => {
      if (s.flags & SHF_EXECINSTR && i !== textIndex) pending.push({ section: i, from: 0, to: s.size / INSN_SIZE });
    });
    while (pending.length) {
      const { section, from, to } = pending.shift()!;
      const relocations = this.relocations(section);
      for (const insn of this.instructions(this.sections[section], from, to)) {
        yield { ...insn, section: this.sections[section].name };
        const isCall = insn.opcode === BPF_CALL && insn.src === BPF_PSEUDO_CALL;
        const isCallback = insn.opcode === BPF_LD_IMM64 && insn.src === BPF_PSEUDO_FUNC;
        if (!isCall && !isCallback) continue;
        const relocation = relocations.get(insn.index * INSN_SIZE);
        if (relocation === undefined) {
          // A call inside the same section: imm is relative to the next instruction.
          if (section === textIndex) reach(insn.index + insn.imm + 1);
          continue;
        }
        const symbol = symbols[relocation];
        if (symbol?.section !== textIndex) continue;
        // libbpf's rule (bpf_object__reloc_code); a call to a global function has imm -1.
        const base = symbol.value / INSN_SIZE;
        reach(isCall ? base + insn.imm + 1 : base + insn.imm / INSN_SIZE);
      }
    }
  }

  /**
   * The names of its programs (the functions of its program sections; .text
   * holds subprograms), in libbpf's order: by section, then by offset in it,
   * which is the order the C source defines them. The build lists them for
   * the guest's attachAll() (scripts/lib/layouts.mjs).
   */
  programs(): string[] {
    const textIndex = this.sections.findIndex((s) => s.name === '.text');
    return this.symbols()
      .filter((s) => s.type === STT_FUNC && s.section !== textIndex && (this.sections[s.section]?.flags ?? 0) & SHF_EXECINSTR)
      .sort((a, b) => a.section - b.section || a.value - b.value)
      .map((s) => s.name);
  }

  /** The symbol table: name, type, section index, value and size of each symbol. */
  private symbols(): { name: string; type: number; section: number; value: number; size: number }[] {
    const symtab = this.sections.find((s) => s.type === SHT_SYMTAB);
    if (!symtab) return [];
    const data = Buffer.from(this.contents(symtab));
    const strtab = this.sections[symtab.link];
    const names = strtab ? Buffer.from(this.contents(strtab)) : Buffer.alloc(0);
    const nameAt = (offset: number) => names.toString('latin1', offset, Math.max(offset, names.indexOf(0, offset)));
    const out = [];
    for (let at = 0; at + SYM_SIZE <= data.length; at += SYM_SIZE) {
      out.push({
        name: nameAt(data.readUInt32LE(at)),
        type: data[at + 4] & 0xf,
        section: data.readUInt16LE(at + 6),
        value: Number(data.readBigUInt64LE(at + 8)),
        size: Number(data.readBigUInt64LE(at + 16)),
      });
    }
    return out;
  }

  /** A section's relocations: byte offset in the section -> symbol index. */
  private relocations(section: number): Map<number, number> {
    const out = new Map<number, number>();
    for (const rel of this.sections.filter((s) => s.type === SHT_REL && s.info === section)) {
      const data = Buffer.from(this.contents(rel));
      for (let at = 0; at + REL_SIZE <= data.length; at += REL_SIZE) out.set(Number(data.readBigUInt64LE(at)), data.readUInt32LE(at + 12));
    }
    return out;
  }

  /**
   * The BPF_MAP_TYPE_ of each map declared in SEC(".maps"), read from the
   * object's BTF: libbpf's __uint(type, N) is a member `int (*type)[N]`.
   */
  mapTypes(): Map<string, number> {
    const types = new Map<string, number>();
    for (const map of this.btf()?.maps() ?? []) if (map.type !== undefined) types.set(map.name, map.type);
    return types;
  }

  /** The object's BTF, if it has any. */
  btf(): Btf | undefined {
    const section = this.sections.find((s) => s.name === '.BTF');
    return section ? new Btf(Buffer.from(this.contents(section))) : undefined;
  }
}
