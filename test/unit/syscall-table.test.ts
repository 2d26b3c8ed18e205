// Tests for the per-architecture syscall tables (host/syscalls/*).
//
// The tables are generated from kernel UAPI headers; these tests re-derive the
// facts independently (a different, deliberately naive parser, hand-checked
// numbers, and the running kernel's tracefs) so a generator bug cannot hide.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SyscallTable, hostArch, type Arch } from '../../host/syscalls/table.js';
import { SYSCALL_HEADERS_VERSION, syscallHeadersDir } from '../../scripts/lib/syscall-headers.mjs';

const CI = Boolean(process.env.CI);
const ARCHES: Arch[] = ['x86_64', 'arm64'];

// The pinned Debian linux-libc-dev the tables were generated from, downloaded
// into the cache on first use (a cold cache needs Debian's mirror). Off CI we
// skip without it; on CI a missing header must fail the run, not silently skip.
let include = '/nonexistent';
let headersProblem: string | undefined;
try {
  include = syscallHeadersDir();
} catch (err) {
  headersProblem = (err as Error).message;
}
const X86_64_HEADER = join(include, 'x86_64-linux-gnu/asm/unistd_64.h');
const ARM64_HEADER = join(include, 'aarch64-linux-gnu/asm/unistd_64.h');
const GENERIC_HEADER = join(include, 'asm-generic/unistd.h');
const VERSION_HEADER = join(include, 'linux/version.h');
const haveHeaders = headersProblem === undefined;
if (!haveHeaders && !CI) console.warn(`skipping header comparisons: linux-libc-dev ${SYSCALL_HEADERS_VERSION}: ${headersProblem}`);

/** Every `#define __NR_<name> <value>` in a header, value kept as text. */
function nrDefines(path: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0] === '#define' && words[1]?.startsWith('__NR_') && words.length === 3) {
      out.push([words[1].slice('__NR_'.length), words[2]!]);
    }
  }
  return out;
}

/** A generated asm/unistd_64.h as [number, name] pairs, sorted by number. */
function headerEntries(path: string): Array<[number, string]> {
  const fromHeader = nrDefines(path).map(([name, v]): [number, string] => {
    expect(v, `__NR_${name}`).toMatch(/^\d+$/);
    return [Number(v), name];
  });
  fromHeader.sort((a, b) => a[0] - b[0]);
  expect(fromHeader.length).toBeGreaterThan(300);
  return fromHeader;
}

/** Value of `#define __NR3264_<x> N` in the generic header. */
function nr3264(x: string): number {
  const m = readFileSync(GENERIC_HEADER, 'utf8').match(new RegExp(`^#define __NR3264_${x}\\s+(\\d+)$`, 'gm'));
  expect(m, `__NR3264_${x} defined exactly once`).toHaveLength(1);
  return Number(m![0].split(/\s+/)[2]);
}

describe('x86_64 table', () => {
  const t = SyscallTable.for('x86_64');

  it.skipIf(!haveHeaders && !CI)(`agrees entry by entry with linux-libc-dev ${SYSCALL_HEADERS_VERSION}'s x86_64 asm/unistd_64.h`, () => {
    expect(t.entries().map(([n, s]) => [n, s])).toEqual(headerEntries(X86_64_HEADER));
  });

  it('has the well-known x86_64 numbers', () => {
    const known: Record<string, number> = {
      read: 0,
      write: 1,
      poll: 7,
      nanosleep: 35,
      recvmsg: 47,
      getppid: 110,
      futex: 202,
      openat: 257,
      clone3: 435,
      // a few more that differ from arm64 and are easy to mix up
      open: 2,
      stat: 4,
      fstat: 5,
      epoll_wait: 232,
      newfstatat: 262,
      io_uring_enter: 426,
    };
    for (const [name, nr] of Object.entries(known)) {
      expect(t.number(name), name).toBe(nr);
      expect(t.name(nr), String(nr)).toBe(name);
    }
    expect(t.arch).toBe('x86_64');
  });
});

describe('arm64 table', () => {
  const t = SyscallTable.for('arm64');

  // Hand-checked against the kernel's generic numbering
  // (include/uapi/asm-generic/unistd.h, which arch/arm64 uses).
  const known: Record<string, number> = {
    io_setup: 0,
    epoll_pwait: 22,
    fcntl: 25, // via __NR3264_fcntl
    renameat: 38, // __ARCH_WANT_RENAMEAT
    openat: 56,
    getdents64: 61,
    lseek: 62, // via __NR3264_lseek
    read: 63,
    write: 64,
    sendfile: 71, // via __NR3264_sendfile
    ppoll: 73,
    newfstatat: 79, // via __NR3264_fstatat, __ARCH_WANT_NEW_STAT
    fstat: 80, // via __NR3264_fstat, __ARCH_WANT_NEW_STAT
    sync_file_range: 84, // not sync_file_range2
    exit_group: 94,
    futex: 98,
    nanosleep: 101,
    getrlimit: 163, // __ARCH_WANT_SET_GET_RLIMIT
    setrlimit: 164,
    getppid: 173,
    clone: 220,
    mmap: 222, // via __NR3264_mmap
    wait4: 260,
    io_uring_enter: 426,
    clone3: 435, // __ARCH_WANT_SYS_CLONE3
    memfd_secret: 447, // __ARCH_WANT_MEMFD_SECRET
  };

  it.skipIf(!haveHeaders && !CI)(`agrees entry by entry with linux-libc-dev ${SYSCALL_HEADERS_VERSION}'s arm64 asm/unistd_64.h`, () => {
    expect(t.entries().map(([n, s]) => [n, s])).toEqual(headerEntries(ARM64_HEADER));
  });

  it('has the well-known arm64 numbers', () => {
    for (const [name, nr] of Object.entries(known)) {
      expect(t.number(name), name).toBe(nr);
      expect(t.name(nr), String(nr)).toBe(name);
    }
    expect(t.arch).toBe('arm64');
  });

  it.skipIf(!haveHeaders && !CI)(`the well-known numbers are what ${GENERIC_HEADER} says`, () => {
    const defs = new Map(nrDefines(GENERIC_HEADER));
    for (const [name, nr] of Object.entries(known)) {
      const v = defs.get(name);
      expect(v, `__NR_${name} in header`).toBeDefined();
      const fromHeader = v!.startsWith('__NR3264_') ? nr3264(v!.slice('__NR3264_'.length)) : Number(v);
      expect(fromHeader, name).toBe(nr);
    }
  });

  it('has no legacy or 32-bit-only syscalls', () => {
    // arm64 never had these: only ppoll/openat/getdents64/fstatat/... exist.
    for (const name of ['poll', 'open', 'getdents', 'stat', 'lstat', 'fork', 'pipe', 'select', 'epoll_wait', 'dup2', 'access']) {
      expect(t.number(name), name).toBeUndefined();
    }
    // Not for arm64 LP64: sync_file_range2 (other arches), 32-bit aliases and
    // the time64 block (403..423), and the header's non-syscall markers.
    for (const name of ['sync_file_range2', 'fcntl64', 'llseek', 'sendfile64', 'fstatat64', 'mmap2', 'futex_time64', 'clock_gettime64', 'syscalls', 'arch_specific_syscall']) {
      expect(t.number(name), name).toBeUndefined();
    }
    for (const [nr, name] of t.entries()) {
      expect(name, name).not.toMatch(/_time(32|64)$/);
      expect(nr < 403 || nr > 423, `${nr} ${name}`).toBe(true);
    }
  });

  it.skipIf(!haveHeaders && !CI)(`contains exactly ${GENERIC_HEADER}'s 64-bit entries`, () => {
    // Names #defined in the header that arm64 LP64 must NOT have, with why.
    const excluded = new Set([
      'syscalls', // table size marker
      'arch_specific_syscall', // start of the per-arch range, not a syscall
      'sync_file_range2', // only with __ARCH_WANT_SYNC_FILE_RANGE2 (not arm64)
      // 32-bit aliases of the __NR3264_ slots (#else of __BITS_PER_LONG == 64)
      'fcntl64',
      'statfs64',
      'fstatfs64',
      'truncate64',
      'ftruncate64',
      'llseek',
      'sendfile64',
      'fstatat64',
      'fstat64',
      'mmap2',
      'fadvise64_64',
      // only #ifdef __NR3264_stat, which the generic header never defines
      'stat',
      'lstat',
      'stat64',
      'lstat64',
    ]);
    const expected: Array<[number, string]> = [];
    for (const [name, v] of nrDefines(GENERIC_HEADER)) {
      if (excluded.has(name)) continue;
      const nr = v.startsWith('__NR3264_') ? nr3264(v.slice('__NR3264_'.length)) : Number(v);
      expect(Number.isInteger(nr), `__NR_${name} ${v}`).toBe(true);
      if (nr >= 403 && nr <= 423) continue; // `#if __BITS_PER_LONG == 32` time64 block
      expected.push([nr, name]);
    }
    expected.sort((a, b) => a[0] - b[0]);
    expect(t.entries().map(([n, s]) => [n, s])).toEqual(expected);
  });
});

describe.each(ARCHES)('%s table', (arch) => {
  // Numbers added since 6.6 are the same on both: x86_64 follows the generic numbering from 424 on.
  it.each([
    [452, 'fchmodat2'], // 6.6
    [462, 'mseal'], // 6.10
    [463, 'setxattrat'], // 6.13
    [464, 'getxattrat'],
    [465, 'listxattrat'],
    [466, 'removexattrat'],
  ])('names %i %s (kernels up to 6.18 at least)', (nr, name) => {
    expect(SyscallTable.for(arch).name(nr)).toBe(name);
  });
});

describe.each(ARCHES)('%s table consistency', (arch) => {
  const t = SyscallTable.for(arch);

  it('round-trips every entry and has no duplicate numbers or names', () => {
    const entries = t.entries();
    expect(entries.length).toBeGreaterThan(250);
    expect(new Set(entries.map(([n]) => n)).size).toBe(entries.length);
    expect(new Set(entries.map(([, s]) => s)).size).toBe(entries.length);
    for (const [nr, name] of entries) {
      expect(name).toMatch(/^_?[a-z][a-z0-9_]*$/); // no __NR_ prefix left (x86_64 has '_sysctl')
      expect(t.name(nr)).toBe(name);
      expect(t.number(name)).toBe(nr);
      expect(t.name(t.number(name)!)).toBe(name);
    }
    const nrs = entries.map(([n]) => n);
    expect(nrs).toEqual([...nrs].sort((a, b) => a - b));
  });

  it('returns undefined for unknown numbers and names', () => {
    expect(t.name(-1)).toBeUndefined();
    expect(t.name(100_000)).toBeUndefined();
    expect(t.number('no_such_syscall')).toBeUndefined();
    expect(t.number('__NR_read')).toBeUndefined();
  });

  it('is cached per architecture', () => {
    expect(SyscallTable.for(arch)).toBe(t);
  });
});

describe('hostArch', () => {
  it('maps process.arch to the kernel architecture name', () => {
    const expected = process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'arm64' : undefined;
    expect(hostArch()).toBe(expected);
  });
});

// ---------------------------------------------------------------------------
// Running kernel: every syscall trace event (events/syscalls/sys_enter_<name>)
// must be a syscall our table knows. The kernel creates these events only for
// syscalls in its sys_call_table that were defined with SYSCALL_DEFINE, named
// after the SYSCALL_DEFINE name. Event ids are not syscall numbers and the
// `format` file carries no number, so this checks names only.

// tracefs can be mounted at either place; KDELAY_TRACEFS lets you point the
// test at a temporary mount (`mount -t tracefs nodev /tmp/t`).
const tracefsCandidates = [process.env.KDELAY_TRACEFS, '/sys/kernel/tracing', '/sys/kernel/debug/tracing'].filter((d): d is string => Boolean(d));
const syscallEvents = tracefsCandidates.map((d) => join(d, 'events', 'syscalls')).find((d) => existsSync(join(d, 'sys_enter_read')));

// Event name -> table name, where the SYSCALL_DEFINE name is not the __NR_ name
// (arch/x86/entry/syscalls/syscall_64.tbl: `4 common stat sys_newstat`, ...).
const TRACEFS_ALIASES: Record<string, string> = {
  newstat: 'stat', // fs/stat.c SYSCALL_DEFINE2(newstat, ...)
  newlstat: 'lstat', // fs/stat.c SYSCALL_DEFINE2(newlstat, ...)
  newfstat: 'fstat', // fs/stat.c SYSCALL_DEFINE2(newfstat, ...)
  newuname: 'uname', // kernel/sys.c SYSCALL_DEFINE1(newuname, ...)
  sendfile64: 'sendfile', // fs/read_write.c SYSCALL_DEFINE4(sendfile64, ...)
  umount: 'umount2', // fs/namespace.c SYSCALL_DEFINE2(umount, ...)
};

// Syscalls added to x86_64 after the linux-libc-dev headers the table is
// generated from, with the kernel version that added them. They are only
// excused when the headers predate that version; if the headers are new
// enough they must be in the table (regenerate it).
const NEWER_THAN_HEADERS: Record<string, [major: number, minor: number]> = {
  cachestat: [6, 5], // 451
  fchmodat2: [6, 6], // 452
  map_shadow_stack: [6, 6], // 453
  futex_wake: [6, 7], // 454
  futex_wait: [6, 7], // 455
  futex_requeue: [6, 7], // 456
  statmount: [6, 8], // 457
  listmount: [6, 8], // 458
  lsm_get_self_attr: [6, 8], // 459
  lsm_set_self_attr: [6, 8], // 460
  lsm_list_modules: [6, 8], // 461
  mseal: [6, 10], // 462
  uretprobe: [6, 11], // 335 (x86_64 only)
  setxattrat: [6, 13], // 463
  getxattrat: [6, 13], // 464
  listxattrat: [6, 13], // 465
  removexattrat: [6, 13], // 466
  open_tree_attr: [6, 15], // 467
  file_getattr: [6, 17], // 468
  file_setattr: [6, 17], // 469
  uprobe: [6, 18], // 336 (x86_64 only)
};

function headersVersion(): [number, number] {
  const t = readFileSync(VERSION_HEADER, 'utf8');
  const get = (k: string) => Number(new RegExp(`#define ${k} (\\d+)`).exec(t)?.[1]);
  const v: [number, number] = [get('LINUX_VERSION_MAJOR'), get('LINUX_VERSION_PATCHLEVEL')];
  expect(v.every(Number.isInteger), `version in ${VERSION_HEADER}`).toBe(true);
  return v;
}

const tracefsSkip =
  process.arch !== 'x64'
    ? 'tracefs check is written for x86_64 only (its aliases/newer lists are x86_64 facts)'
    : !syscallEvents && !CI
      ? `no syscall trace events under ${tracefsCandidates.join(' or ')} (tracefs not mounted, or CONFIG_FTRACE_SYSCALLS=n)`
      : undefined;
if (tracefsSkip) console.warn(`skipping running-kernel syscall check: ${tracefsSkip}`);

describe('running kernel', () => {
  it.skipIf(tracefsSkip !== undefined)('every sys_enter_<name> tracefs event is in the x86_64 table', () => {
    if (!syscallEvents) {
      throw new Error(`CI: no syscall trace events under ${tracefsCandidates.join(' or ')}; mount tracefs or unset CI`);
    }
    const t = SyscallTable.for('x86_64');
    const [hMajor, hMinor] = headersVersion();
    const events = readdirSync(syscallEvents)
      .filter((e) => e.startsWith('sys_enter_'))
      .map((e) => e.slice('sys_enter_'.length));
    expect(events.length).toBeGreaterThan(200);

    const unknown: string[] = [];
    for (const event of events) {
      const alias = TRACEFS_ALIASES[event];
      if (alias !== undefined) {
        // the alias must be needed (event name itself absent) and resolve
        expect(t.number(event), `${event} is aliased but in the table`).toBeUndefined();
        expect(t.number(alias), `${event} -> ${alias}`).toBeDefined();
        continue;
      }
      if (t.number(event) !== undefined) continue;
      const added = NEWER_THAN_HEADERS[event];
      if (added && (added[0] > hMajor || (added[0] === hMajor && added[1] > hMinor))) continue;
      unknown.push(event);
    }
    expect(unknown, 'tracefs syscalls missing from the x86_64 table').toEqual([]);
  });
});
