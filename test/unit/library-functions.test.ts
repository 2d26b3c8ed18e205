/**
 * Uprobe triggers on library functions, the pure parts: which mapped file a
 * library name means (BCC's and bpftrace's rules), which of a name's symbol
 * table entries is the function, and where it is in the file.
 */
import { describe, expect, it } from 'vitest';
import { chooseFunction, type FunctionCandidate, vaddrToFileOffset } from '../../host/symbols/elf-functions.js';
import { findMappedLibrary, libraryMatch, parseMaps } from '../../host/symbols/process-maps.js';

describe('libraryMatch', () => {
  it.each<[string, string, number | undefined]>([
    ['libc.so.6', 'libc.so.6', 0],
    ['libc.so.6', 'libc.so', 1],
    ['libc.so.6', 'libc', 1],
    ['libc.so.6', 'c', 2],
    ['libkdtest.so', 'libkdtest.so', 0],
    ['libkdtest.so', 'libkdtest', 1],
    ['libkdtest.so', 'kdtest', 2],
    ['libpthread.so.0', 'pthread', 2],
    ['libstdc++.so.6', 'stdc++', 2],
    ['libcrypto.so.3', 'libc', undefined],
    ['libcrypto.so.3', 'c', undefined],
    ['libc.so.6', 'libc.so.7', undefined],
    ['libc.so.6', 'libc.so.6.1', undefined],
    ['libc-2.31.so', 'libc', undefined], // as BCC: versions in the name are given in full
    ['ld-linux-x86-64.so.2', 'ld-linux-x86-64.so.2', 0],
    ['myprogram', 'myprogram', 0],
  ])('%s is named by %s: %s', (file, library, rank) => expect(libraryMatch(file, library)).toBe(rank));
});

describe('findMappedLibrary', () => {
  const maps = parseMaps(
    [
      '55d0c0a00000-55d0c0a01000 r--p 00000000 08:01 1001                       /usr/bin/myprogram',
      '55d0c0a01000-55d0c0a02000 r-xp 00001000 08:01 1001                       /usr/bin/myprogram',
      '7f0000000000-7f0000028000 r--p 00000000 08:01 2002                       /usr/lib/x86_64-linux-gnu/libc.so.6',
      '7f0000028000-7f000019d000 r-xp 00028000 08:01 2002                       /usr/lib/x86_64-linux-gnu/libc.so.6',
      '7f00001a0000-7f00001a1000 r-xp 00001000 08:01 3003                       /opt/a/libfoo.so.1',
      '7f00001b0000-7f00001b1000 r-xp 00001000 08:01 3004                       /opt/b/libfoo.so.2',
      '7f00001c0000-7f00001c1000 r-xp 00001000 08:01 3005                       /opt/libbar.so (deleted)',
      '7f00001d0000-7f00001d1000 r-xp 00001000 08:01 3006                       /opt/libbaz.so.1',
      '7f00001e0000-7f00001e1000 r-xp 00001000 08:01 3007                       /opt/libbaz.so',
      '7f00001f0000-7f00001f1000 r--p 00000000 08:01 4004                       /usr/lib/locale/libdata.so',
      '7ffd0e9f0000-7ffd0e9f2000 r-xp 00000000 00:00 0                          [vdso]',
    ].join('\n'),
  );
  const path = (library: string) => {
    const found = findMappedLibrary(maps, library);
    return 'mapping' in found ? found.mapping.path : found.problem;
  };

  it.each([
    ['libc.so.6', '/usr/lib/x86_64-linux-gnu/libc.so.6'],
    ['libc', '/usr/lib/x86_64-linux-gnu/libc.so.6'],
    ['c', '/usr/lib/x86_64-linux-gnu/libc.so.6'],
    ['myprogram', '/usr/bin/myprogram'],
    ['libfoo.so.1', '/opt/a/libfoo.so.1'],
    ['libbar', '/opt/libbar.so'],
    // The exact file name wins over a versioned one.
    ['libbaz.so', '/opt/libbaz.so'],
  ])('%s: %s', (library, expected) => expect(path(library)).toBe(expected));

  it('says which files a name could mean when it means several', () => {
    expect(path('libfoo')).toBe('libfoo could be any of /opt/a/libfoo.so.1, /opt/b/libfoo.so.2; give the path');
  });

  it('keeps a deleted file, for the caller to refuse', () => {
    const found = findMappedLibrary(maps, 'libbar.so');
    expect('mapping' in found && found.mapping.deleted).toBe(true);
  });

  it('lists the mapped files when none matches (only executable mappings: code is what a uprobe needs)', () => {
    expect(path('libdata')).toBe('the target has mapped no library libdata (its mapped files: myprogram, libc.so.6, libfoo.so.1, libfoo.so.2, libbar.so, libbaz.so.1, libbaz.so)');
    expect(path('vdso')).toMatch(/^the target has mapped no library vdso/);
  });
});

describe('chooseFunction', () => {
  const fn = (vaddr: number, bind: FunctionCandidate['bind'] = 'global', more: Partial<FunctionCandidate> = {}): FunctionCandidate => ({
    vaddr,
    bind,
    ifunc: false,
    defaultVersion: true,
    ...more,
  });
  it.each<[string, FunctionCandidate[], { vaddr: number } | { problem: string }]>([
    ['one definition', [fn(0x1100)], { vaddr: 0x1100 }],
    ['the same address in .symtab and .dynsym', [fn(0x1100), fn(0x1100)], { vaddr: 0x1100 }],
    ['a weak alias of a global function', [fn(0xd54e0, 'weak')], { vaddr: 0xd54e0 }],
    ['global over weak', [fn(0x2000, 'weak'), fn(0x1000)], { vaddr: 0x1000 }],
    ['global over a static function of the same name', [fn(0x3000, 'local'), fn(0x1000)], { vaddr: 0x1000 }],
    ['the default version over an older one', [fn(0xa2d70, 'global', { defaultVersion: false }), fn(0x9be70)], { vaddr: 0x9be70 }],
    ['an old version when it is the only one', [fn(0xa2d70, 'global', { defaultVersion: false })], { vaddr: 0xa2d70 }],
    ['two static functions of one name', [fn(0x3000, 'local'), fn(0x4000, 'local')], { problem: 'f is ambiguous (local functions of that name at 0x3000, 0x4000)' }],
    ['two globals (two versions both default: a broken table)', [fn(0x5000), fn(0x4000)], { problem: 'f is ambiguous (global functions of that name at 0x4000, 0x5000)' }],
    [
      'an IFUNC (glibc memcpy@@GLIBC_2.14)',
      [fn(0xa2d70, 'global', { defaultVersion: false }), fn(0x9be70, 'global', { ifunc: true })],
      { problem: 'f is an indirect function (IFUNC), whose symbol is the resolver, run once at load time; name the implementation it picks instead' },
    ],
    ['none', [], { problem: 'no function f' }],
  ])('%s', (_, candidates, expected) => expect(chooseFunction('f', candidates)).toEqual(expected));
});

describe('vaddrToFileOffset', () => {
  const segments = [
    { offset: 0, vaddr: 0, filesz: 0x500, memsz: 0x500, align: 0x1000, executable: false },
    { offset: 0x1000, vaddr: 0x1000, filesz: 0x200, memsz: 0x200, align: 0x1000, executable: true },
    // Older linkers: the file offset and the address differ.
    { offset: 0x1200, vaddr: 0x201200, filesz: 0x100, memsz: 0x300, align: 0x200000, executable: true },
  ];
  it.each<[number, number | undefined]>([
    [0x1100, 0x1100],
    [0x201250, 0x1250],
    [0x201350, undefined], // .bss: no file bytes
    [0x9000, undefined],
  ])('%i -> %s', (vaddr, offset) => expect(vaddrToFileOffset(segments, vaddr)).toBe(offset));
});
