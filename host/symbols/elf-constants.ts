/**
 * The numbers of the ELF format (elf.h) that kdelay's ELF readers use, once:
 * the symbol readers here (elf.ts, elf-functions.ts), the BPF object reader
 * (bundle/bpf-object.ts) and the host's own machine (runtime/kdelay).
 */

// e_type
export const ET_EXEC = 2;
export const ET_DYN = 3;
// e_machine
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
// p_type, p_flags
export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const PF_X = 1;
// sh_type, sh_flags
export const SHT_SYMTAB = 2;
export const SHT_NOTE = 7;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;
export const SHT_DYNSYM = 11;
export const SHT_GNU_VERSYM = 0x6fffffff;
export const SHF_EXECINSTR = 0x4;
// st_info type / binding, st_shndx
export const STT_FUNC = 2;
export const STT_GNU_IFUNC = 10;
export const STB_LOCAL = 0;
export const STB_GLOBAL = 1;
export const STB_WEAK = 2;
export const SHN_UNDEF = 0;
/** Elf64_Sym's size. */
export const SYM_SIZE = 24;
// note types
export const NT_GNU_BUILD_ID = 3;
