/**
 * Reading a BPF object's BTF (the .BTF section clang writes): the types a
 * probe's kernel half declares, with their sizes and field offsets as the
 * compiler laid them out. Two users: the program policy's map types
 * (bpf-object.ts: mapTypes) and the build, which generates the user half's
 * sizes and offsets of every struct that crosses the kernel/user line from
 * them (scripts/lib/layouts.mjs), so that no offset is kept by hand.
 */
import { BpfError, EPERM } from '../base/errno.js';

// BTF kinds (linux/btf.h).
const BTF_KIND_INT = 1;
const BTF_KIND_PTR = 2;
const BTF_KIND_ARRAY = 3;
const BTF_KIND_STRUCT = 4;
const BTF_KIND_UNION = 5;
const BTF_KIND_ENUM = 6;
const BTF_KIND_TYPEDEF = 8;
const BTF_KIND_VOLATILE = 9;
const BTF_KIND_CONST = 10;
const BTF_KIND_RESTRICT = 11;
const BTF_KIND_VAR = 14;
const BTF_KIND_DATASEC = 15;
const BTF_KIND_TYPE_TAG = 18;
const BTF_KIND_ENUM64 = 19;
const BTF_INT_SIGNED = 1;
const MODIFIERS = [BTF_KIND_TYPEDEF, BTF_KIND_VOLATILE, BTF_KIND_CONST, BTF_KIND_RESTRICT, BTF_KIND_TYPE_TAG];

/** The bytes each kind adds after the 12-byte common header. */
const extraBytes = (kind: number, vlen: number): number => [0, 4, 0, 12, vlen * 12, vlen * 12, vlen * 8, 0, 0, 0, 0, 0, 0, vlen * 8, 4, vlen * 12, 0, 4, 0, vlen * 12][kind] ?? NaN;

interface BtfType {
  id: number;
  name: string;
  kind: number;
  vlen: number;
  kflag: boolean;
  /** size, or the referenced type. */
  sizeOrType: number;
  /** Offset of the kind-specific data in the BTF blob. */
  data: number;
}

/** A parsed .BTF section. */
export class Btf {
  private readonly types: BtfType[] = [{ id: 0, name: '', kind: 0, vlen: 0, kflag: false, sizeOrType: 0, data: 0 }]; // id 0 is void
  private readonly strStart: number;

  constructor(private readonly btf: Buffer) {
    if (btf.length < 24 || btf.readUInt16LE(0) !== 0xeb9f) throw new BpfError('.BTF: not BTF (bad magic)', EPERM);
    const hdrLen = btf.readUInt32LE(4);
    const typeStart = hdrLen + btf.readUInt32LE(8);
    const typeEnd = typeStart + btf.readUInt32LE(12);
    this.strStart = hdrLen + btf.readUInt32LE(16);
    for (let at = typeStart; at < typeEnd;) {
      const info = btf.readUInt32LE(at + 4);
      const kind = (info >>> 24) & 0x1f;
      const vlen = info & 0xffff;
      this.types.push({ id: this.types.length, name: this.str(btf.readUInt32LE(at)), kind, vlen, kflag: info >>> 31 === 1, sizeOrType: btf.readUInt32LE(at + 8), data: at + 12 });
      const extra = extraBytes(kind, vlen);
      if (Number.isNaN(extra)) throw new BpfError(`.BTF: unknown type kind ${kind}`, EPERM);
      at += 12 + extra;
    }
  }

  private str(off: number): string {
    return this.btf.toString('latin1', this.strStart + off, this.btf.indexOf(0, this.strStart + off));
  }

  /** A type with typedefs and qualifiers peeled off. */
  private resolve(id: number): BtfType | undefined {
    let t = this.types[id];
    while (t && MODIFIERS.includes(t.kind)) t = this.types[t.sizeOrType];
    return t;
  }

  private members(t: BtfType): { name: string; type: number; bitOffset: number }[] {
    return Array.from({ length: t.vlen }, (_, m) => {
      const at = t.data + m * 12;
      const offset = this.btf.readUInt32LE(at + 8);
      if ((t.kflag && offset >>> 24) || (offset & 0xffffff) % 8) throw new BpfError(`.BTF: struct ${t.name} has a bit field, which user code cannot read by offset`, EPERM);
      return { name: this.str(this.btf.readUInt32LE(at)), type: this.btf.readUInt32LE(at + 4), bitOffset: t.kflag ? offset & 0xffffff : offset };
    });
  }

  private sizeOf(id: number): number {
    const t = this.resolve(id);
    if (!t) return 0;
    switch (t.kind) {
      case BTF_KIND_PTR:
        return 8;
      case BTF_KIND_ARRAY:
        return this.sizeOf(this.btf.readUInt32LE(t.data)) * this.btf.readUInt32LE(t.data + 8);
      case BTF_KIND_INT:
      case BTF_KIND_STRUCT:
      case BTF_KIND_UNION:
      case BTF_KIND_ENUM:
      case BTF_KIND_ENUM64:
        return t.sizeOrType;
      default:
        return 0;
    }
  }

  /** How user code reads a field of this type: a scalar, an array of them, or bytes. */
  private fieldType(id: number): FieldType {
    const t = this.resolve(id);
    if (t?.kind === BTF_KIND_INT) return { scalar: `${(this.btf.readUInt32LE(t.data) >>> 24) & BTF_INT_SIGNED ? 'i' : 'u'}${t.sizeOrType * 8}` as Scalar };
    if (t?.kind === BTF_KIND_ENUM) return { scalar: `${t.kflag ? 'i' : 'u'}${t.sizeOrType * 8}` as Scalar };
    if (t?.kind === BTF_KIND_ARRAY) {
      const element = this.fieldType(this.btf.readUInt32LE(t.data));
      return { length: this.btf.readUInt32LE(t.data + 8), ...(element.scalar ? { element: element.scalar } : {}) };
    }
    return {};
  }

  /** A struct's layout; undefined if `id` is not a struct. */
  structLayout(id: number): StructLayout | undefined {
    const t = this.resolve(id);
    if (t?.kind !== BTF_KIND_STRUCT) return undefined;
    const fields = this.members(t).map((m) => ({ name: m.name, offset: m.bitOffset / 8, size: this.sizeOf(m.type), ...this.fieldType(m.type) }));
    return { name: t.name, size: t.sizeOrType, fields };
  }

  private enumLayout(t: BtfType): EnumLayout {
    // kflag: a signed enum (clang sets it unless every value is non-negative); 0xffffffff in an unsigned one is 4294967295, not -1.
    const value = (at: number) => (t.kflag ? this.btf.readInt32LE(at) : this.btf.readUInt32LE(at));
    const values = Array.from({ length: t.vlen }, (_, i) => ({ name: this.str(this.btf.readUInt32LE(t.data + i * 8)), value: value(t.data + i * 8 + 4) }));
    return { name: t.name, values };
  }

  /** The variables of a data section (.maps, .bss, ...): name and type id. */
  private variables(section: string): { name: string; type: number }[] {
    const datasec = this.types.find((t) => t.kind === BTF_KIND_DATASEC && t.name === section);
    const out: { name: string; type: number }[] = [];
    for (let i = 0; datasec && i < datasec.vlen; i++) {
      const variable = this.types[this.btf.readUInt32LE(datasec.data + i * 12)];
      if (variable?.kind === BTF_KIND_VAR) out.push({ name: variable.name, type: variable.sizeOrType });
    }
    return out;
  }

  /**
   * The maps declared in SEC(".maps"), from libbpf's BTF map definitions:
   * __uint(name, N) is a member `int (*name)[N]`, __type(name, T) a member
   * `T *name`.
   */
  maps(): MapDeclaration[] {
    const maps: MapDeclaration[] = [];
    for (const variable of this.variables('.maps')) {
      const definition = this.resolve(variable.type);
      if (definition?.kind !== BTF_KIND_STRUCT) continue;
      const map: MapDeclaration = { name: variable.name };
      for (const member of this.members(definition)) {
        const pointer = this.resolve(member.type);
        const target = pointer?.kind === BTF_KIND_PTR ? this.resolve(pointer.sizeOrType) : undefined;
        if (!target) continue;
        const number = target.kind === BTF_KIND_ARRAY ? this.btf.readUInt32LE(target.data + 8) : undefined;
        if (member.name === 'type' && number !== undefined) map.type = number;
        else if (member.name === 'key_size' && number !== undefined) map.keySize = number;
        else if (member.name === 'value_size' && number !== undefined) map.valueSize = number;
        else if (member.name === 'max_entries' && number !== undefined) map.maxEntries = number;
        else if (member.name === 'key') [map.keySize, map.keyType, map.keyScalar] = [this.sizeOf(target.id), target.id, this.fieldType(target.id).scalar];
        else if (member.name === 'value') [map.valueSize, map.valueType, map.valueScalar] = [this.sizeOf(target.id), target.id, this.fieldType(target.id).scalar];
      }
      maps.push(map);
    }
    return maps;
  }

  /**
   * What crosses the kernel/user line: the struct keys and values of every
   * map, and the structs and enums marked with KDELAY_SHARED_STRUCT /
   * KDELAY_SHARED_ENUM (probes/include/kdelay_core.bpf.h; in a build with
   * KDELAY_LAYOUT_BUILD they become `kdelay_layout__NAME` pointer globals),
   * such as ring-buffer records, which no map declaration names. In the
   * order of first appearance, each once.
   */
  sharedTypes(): { structs: StructLayout[]; enums: EnumLayout[]; maps: MapDeclaration[] } {
    const structs = new Map<string, StructLayout>();
    const enums = new Map<string, EnumLayout>();
    const addStruct = (id: number | undefined) => {
      const layout = id === undefined ? undefined : this.structLayout(id);
      if (layout && layout.name && !structs.has(layout.name)) structs.set(layout.name, layout);
    };
    const maps = this.maps();
    for (const map of maps) [map.keyType, map.valueType].forEach(addStruct);
    for (const section of ['.bss', '.data']) {
      for (const variable of this.variables(section).filter((v) => v.name.startsWith(LAYOUT_MARKER))) {
        const pointer = this.resolve(variable.type);
        const target = pointer?.kind === BTF_KIND_PTR ? this.resolve(pointer.sizeOrType) : undefined;
        if (target?.kind === BTF_KIND_STRUCT) addStruct(target.id);
        else if (target?.kind === BTF_KIND_ENUM && !enums.has(target.name)) enums.set(target.name, this.enumLayout(target));
      }
    }
    return { structs: [...structs.values()], enums: [...enums.values()], maps };
  }
}

/** Globals that exist only in layout builds, to put a type in the BTF (kdelay_core.bpf.h). */
const LAYOUT_MARKER = 'kdelay_layout__';

export type Scalar = 'u8' | 'u16' | 'u32' | 'u64' | 'i8' | 'i16' | 'i32' | 'i64';

export interface FieldType {
  /** An integer or enum field. */
  scalar?: Scalar;
  /** An array field: its number of elements, and their scalar type if they are integers. */
  length?: number;
  element?: Scalar;
}

export interface FieldLayout extends FieldType {
  name: string;
  offset: number;
  size: number;
}

export interface StructLayout {
  name: string;
  size: number;
  fields: FieldLayout[];
}

export interface EnumLayout {
  name: string;
  values: { name: string; value: number }[];
}

export interface MapDeclaration {
  name: string;
  /** BPF_MAP_TYPE_ number. */
  type?: number;
  keySize?: number;
  valueSize?: number;
  maxEntries?: number;
  keyType?: number;
  valueType?: number;
  /** The key's or value's integer type, when it is one (u32 tid keys, u64 counters). */
  keyScalar?: Scalar;
  valueScalar?: Scalar;
}
