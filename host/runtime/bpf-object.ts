/**
 * Reading a BPF object (ELF64-LE, as clang -target bpf writes it) without
 * loading it: its program sections, their instructions, which of them libbpf
 * would actually load, and the types of the maps it declares. Used by the
 * program policy (policy.ts, before a guest opens an object) and by the
 * build's kernel-compatibility check (kernel-floor.ts).
 */
import { BpfError, EPERM } from '../libbpf/errors.js';
import { bufferSource, ElfError, readSections, type Section } from '../symbols/elf.js';

const SHF_EXECINSTR = 0x4;
const SHT_SYMTAB = 2;
const SHT_REL = 9;
const STT_FUNC = 2;
const SYM_SIZE = 24;
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

  /** The symbol table: type, section index, value and size of each symbol. */
  private symbols(): { type: number; section: number; value: number; size: number }[] {
    const symtab = this.sections.find((s) => s.type === SHT_SYMTAB);
    if (!symtab) return [];
    const data = Buffer.from(this.contents(symtab));
    const out = [];
    for (let at = 0; at + SYM_SIZE <= data.length; at += SYM_SIZE) {
      out.push({ type: data[at + 4] & 0xf, section: data.readUInt16LE(at + 6), value: Number(data.readBigUInt64LE(at + 8)), size: Number(data.readBigUInt64LE(at + 16)) });
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
    const section = this.sections.find((s) => s.name === '.BTF');
    return section ? btfMapTypes(Buffer.from(this.contents(section))) : new Map();
  }
}

// BTF kinds (linux/btf.h) and the bytes each adds after the 12-byte common header.
const BTF_KIND_PTR = 2;
const BTF_KIND_ARRAY = 3;
const BTF_KIND_STRUCT = 4;
const BTF_KIND_TYPEDEF = 8;
const BTF_KIND_VOLATILE = 9;
const BTF_KIND_CONST = 10;
const BTF_KIND_RESTRICT = 11;
const BTF_KIND_VAR = 14;
const BTF_KIND_DATASEC = 15;
const BTF_KIND_TYPE_TAG = 18;
const extraBytes = (kind: number, vlen: number): number =>
  [0, 4, 0, 12, vlen * 12, vlen * 12, vlen * 8, 0, 0, 0, 0, 0, 0, vlen * 8, 4, vlen * 12, 0, 4, 0, vlen * 12][kind] ?? NaN;

interface BtfType {
  name: string;
  kind: number;
  vlen: number;
  /** size, or the referenced type. */
  sizeOrType: number;
  /** Offset of the kind-specific data in the BTF blob. */
  data: number;
}

function btfMapTypes(btf: Buffer): Map<string, number> {
  if (btf.length < 24 || btf.readUInt16LE(0) !== 0xeb9f) throw new BpfError('.BTF: not BTF (bad magic)', EPERM);
  const hdrLen = btf.readUInt32LE(4);
  const typeStart = hdrLen + btf.readUInt32LE(8);
  const typeEnd = typeStart + btf.readUInt32LE(12);
  const strStart = hdrLen + btf.readUInt32LE(16);
  const str = (off: number) => btf.toString('latin1', strStart + off, btf.indexOf(0, strStart + off));
  const types: BtfType[] = [{ name: '', kind: 0, vlen: 0, sizeOrType: 0, data: 0 }]; // id 0 is void
  for (let at = typeStart; at < typeEnd; ) {
    const info = btf.readUInt32LE(at + 4);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    types.push({ name: str(btf.readUInt32LE(at)), kind, vlen, sizeOrType: btf.readUInt32LE(at + 8), data: at + 12 });
    const extra = extraBytes(kind, vlen);
    if (Number.isNaN(extra)) throw new BpfError(`.BTF: unknown type kind ${kind}`, EPERM);
    at += 12 + extra;
  }
  const MODIFIERS = [BTF_KIND_TYPEDEF, BTF_KIND_VOLATILE, BTF_KIND_CONST, BTF_KIND_RESTRICT, BTF_KIND_TYPE_TAG];
  const resolve = (id: number) => {
    let t = types[id];
    while (t && MODIFIERS.includes(t.kind)) t = types[t.sizeOrType];
    return t;
  };
  const maps = new Map<string, number>();
  const datasec = types.find((t) => t.kind === BTF_KIND_DATASEC && t.name === '.maps');
  for (let i = 0; datasec && i < datasec.vlen; i++) {
    const variable = types[btf.readUInt32LE(datasec.data + i * 12)];
    if (variable?.kind !== BTF_KIND_VAR) continue;
    const definition = resolve(variable.sizeOrType);
    if (definition?.kind !== BTF_KIND_STRUCT) continue;
    for (let m = 0; m < definition.vlen; m++) {
      const member = definition.data + m * 12;
      if (str(btf.readUInt32LE(member)) !== 'type') continue;
      const pointer = resolve(btf.readUInt32LE(member + 4));
      const array = pointer?.kind === BTF_KIND_PTR ? resolve(pointer.sizeOrType) : undefined;
      if (array?.kind === BTF_KIND_ARRAY) maps.set(variable.name, btf.readUInt32LE(array.data + 8));
    }
  }
  return maps;
}
