#!/usr/bin/env node
// Generate host/syscalls/x86_64.ts and host/syscalls/arm64.ts: Linux syscall
// number -> name tables for kdelay's per-thread syscall statistics.
//
//   node scripts/generate-syscall-tables.mjs
//
// Source: the kernel UAPI headers of one pinned Debian linux-libc-dev (the
// newest Debian has; scripts/lib/syscall-headers.mjs downloads it into the
// cache), never the build machine's own, so every machine generates the same
// tables:
//   x86_64: x86_64-linux-gnu/asm/unistd_64.h
//           plain `#define __NR_read 0` lines, nothing conditional.
//   arm64:  aarch64-linux-gnu/asm/unistd_64.h, likewise. arm64 uses the
//           "generic" numbering of asm-generic/unistd.h (x86_64 its own);
//           since 6.11 its unistd_64.h is generated from that numbering.
//           As a cross-check, asm-generic/unistd.h is also read with a tiny
//           preprocessor and arm64 LP64's configuration (below), and the two
//           must agree entry by entry.
//
// The script fails loudly on anything it does not understand (an unknown
// macro in an #if, a duplicate number or name, an __NR3264_ entry without a
// 64-bit alias, the two arm64 sources disagreeing), so regenerating from newer
// headers cannot silently produce a wrong table. No dependencies: plain Node >= 20.

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SYSCALL_HEADERS_PACKAGE, SYSCALL_HEADERS_VERSION, syscallHeadersDir } from './lib/syscall-headers.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = join(ROOT, 'host', 'syscalls');
const INCLUDE = syscallHeadersDir();
const X86_64_HEADER = 'x86_64-linux-gnu/asm/unistd_64.h';
const ARM64_HEADER = 'aarch64-linux-gnu/asm/unistd_64.h';
const GENERIC_HEADER = 'asm-generic/unistd.h';
const VERSION_HEADER = 'linux/version.h';
const read = (header) => readFileSync(join(INCLUDE, header), 'utf8');

// ---------------------------------------------------------------------------
// arm64 configuration of asm-generic/unistd.h.
//
// arm64's arch/arm64/include/uapi/asm/unistd.h (v5.14 .. v6.10; from v6.11 it
// is generated from the same numbering) does:
//   #define __ARCH_WANT_RENAMEAT        -> renameat (38) exists on arm64
//   #define __ARCH_WANT_NEW_STAT        -> newfstatat (79), fstat (80)
//   #define __ARCH_WANT_SET_GET_RLIMIT  -> getrlimit (163), setrlimit (164)
//   #define __ARCH_WANT_TIME32_SYSCALLS -> honoured, but a no-op for us: every
//       guard using it reads `defined(__ARCH_WANT_TIME32_SYSCALLS) ||
//       __BITS_PER_LONG != 32`, already true on 64-bit, and on 64-bit the
//       __SC_3264 entries pick the 64-bit name (futex, not futex_time32).
//   #define __ARCH_WANT_SYS_CLONE3      -> clone3 (435)
//   #define __ARCH_WANT_MEMFD_SECRET    -> memfd_secret (447)
//   #include <asm-generic/unistd.h>
// We honour exactly those. Everything else is not defined for native arm64:
//   __ARCH_WANT_SYNC_FILE_RANGE2 -> arm64 has sync_file_range (84), not ...2
//   __ARCH_WANT_STAT64           -> 32-bit only (fstatat64/fstat64)
//   __SYSCALL_COMPAT             -> the aarch32 compat table, not native
//   __ARCH_NOMMU                 -> arm64 has an MMU (swapon..move_pages kept)
// and __BITS_PER_LONG is 64, which drops the 32-bit-only block (403..423,
// the *_time64 syscalls) and the 32-bit __NR3264_ aliases (fcntl64, llseek...).
const ARM64_DEFINED = new Set([
  '__ARCH_WANT_RENAMEAT',
  '__ARCH_WANT_NEW_STAT',
  '__ARCH_WANT_SET_GET_RLIMIT',
  '__ARCH_WANT_TIME32_SYSCALLS',
  '__ARCH_WANT_SYS_CLONE3',
  '__ARCH_WANT_MEMFD_SECRET',
]);
const ARM64_UNDEFINED = new Set([
  '__ARCH_WANT_SYNC_FILE_RANGE2',
  '__ARCH_WANT_STAT64',
  '__SYSCALL_COMPAT',
  '__ARCH_NOMMU',
  '__SYSCALL', // the header's own `#ifndef __SYSCALL` fallback; irrelevant
]);
const ARM64_VALUES = new Map([['__BITS_PER_LONG', 64]]);

// Markers in the header that are not syscalls.
const NOT_SYSCALLS = new Set(['syscalls', 'arch_specific_syscall']);

// ---------------------------------------------------------------------------

function fail(msg) {
  throw new Error(`generate-syscall-tables: ${msg}`);
}

/** Join backslash-continued lines, keep 1-based line numbers for errors. */
function logicalLines(text) {
  const out = [];
  const raw = text.split('\n');
  for (let i = 0; i < raw.length; i++) {
    const start = i + 1;
    let line = raw[i];
    while (line.endsWith('\\') && i + 1 < raw.length) line = line.slice(0, -1) + ' ' + raw[++i];
    out.push({ no: start, text: line.replace(/\/\*.*?\*\//g, '').trim() });
  }
  return out;
}

/** A generated arch header: `#define __NR_name N` lines inside an include guard. */
function parseUnistd64(text, header) {
  const entries = [];
  for (const { no, text: line } of logicalLines(text)) {
    if (line === '' || /^#(ifndef|define|endif)\s+_ASM_UNISTD_64_H\b/.test(line) || line === '#endif') continue;
    const m = /^#define\s+__NR_(\w+)\s+(\d+)$/.exec(line);
    if (!m) fail(`${header}:${no}: unexpected line: ${line}`);
    entries.push([Number(m[2]), m[1]]);
  }
  return entries;
}

/**
 * Evaluate a preprocessor #if expression. Supports what asm-generic/unistd.h
 * uses: defined(X) / defined X, !, ==, !=, &&, ||, parentheses, integers and
 * the macros in `values`. Any other identifier is an error (we refuse to
 * guess what an unknown guard means for arm64).
 */
function evalCondition(expr, isDefined, values, where) {
  const tokens = expr.match(/\w+|\|\||&&|==|!=|[!()]/g) ?? [];
  if (tokens.join('').replace(/\s/g, '') !== expr.replace(/\s/g, '')) fail(`${where}: cannot parse #if ${expr}`);
  let pos = 0;
  const peek = () => tokens[pos];
  const next = () => tokens[pos++];
  const expect = (t) => {
    if (next() !== t) fail(`${where}: expected ${t} in #if ${expr}`);
  };
  const primary = () => {
    const t = next();
    if (t === '!') return primary() ? 0 : 1;
    if (t === '(') {
      const v = or();
      expect(')');
      return v;
    }
    if (t === 'defined') {
      const paren = peek() === '(';
      if (paren) next();
      const name = next();
      if (paren) expect(')');
      return isDefined(name, where) ? 1 : 0;
    }
    if (t !== undefined && /^\d+$/.test(t)) return Number(t);
    if (t !== undefined && values.has(t)) return values.get(t);
    return fail(`${where}: unknown macro ${t} in #if ${expr}`);
  };
  const equality = () => {
    let v = primary();
    while (peek() === '==' || peek() === '!=') {
      const op = next();
      const r = primary();
      v = (op === '==' ? v === r : v !== r) ? 1 : 0;
    }
    return v;
  };
  const and = () => {
    let v = equality();
    while (peek() === '&&') {
      next();
      const r = equality();
      v = v && r ? 1 : 0;
    }
    return v;
  };
  const or = () => {
    let v = and();
    while (peek() === '||') {
      next();
      const r = and();
      v = v || r ? 1 : 0;
    }
    return v;
  };
  const v = or();
  if (pos !== tokens.length) fail(`${where}: trailing tokens in #if ${expr}`);
  return v !== 0;
}

function parseGenericArm64(text) {
  const defined = new Set(ARM64_DEFINED); // plus macros #defined by the header itself
  const isDefined = (name, where) => {
    if (defined.has(name)) return true;
    if (ARM64_UNDEFINED.has(name) || name.startsWith('__NR')) return false; // __NR3264_stat etc.
    return fail(`${where}: unknown guard ${name}; decide whether arm64 defines it`);
  };

  // Stack of conditional frames: {active: this branch is taken, taken: some branch was taken, parent}
  const stack = [];
  const active = () => stack.every((f) => f.active);
  const nr = new Map(); // __NR_xxx -> number (active branches only)
  const nr3264 = new Map(); // __NR3264_xxx -> number
  const aliases = []; // [name, __NR3264_xxx]

  for (const { no, text: line } of logicalLines(text)) {
    const where = `${GENERIC_HEADER}:${no}`;
    let m;
    if ((m = /^#\s*if\s+(.*)$/.exec(line))) {
      const v = active() && evalCondition(m[1], isDefined, ARM64_VALUES, where);
      stack.push({ active: v, taken: v });
    } else if ((m = /^#\s*(ifdef|ifndef)\s+(\w+)$/.exec(line))) {
      const v = active() && isDefined(m[2], where) === (m[1] === 'ifdef');
      stack.push({ active: v, taken: v });
    } else if ((m = /^#\s*elif\s+(.*)$/.exec(line))) {
      const f = stack.at(-1) ?? fail(`${where}: #elif without #if`);
      const outer = stack.slice(0, -1).every((x) => x.active);
      f.active = !f.taken && outer && evalCondition(m[1], isDefined, ARM64_VALUES, where);
      f.taken ||= f.active;
    } else if (/^#\s*else\b/.test(line)) {
      const f = stack.at(-1) ?? fail(`${where}: #else without #if`);
      f.active = !f.taken;
      f.taken = true;
    } else if (/^#\s*endif\b/.test(line)) {
      if (!stack.pop()) fail(`${where}: #endif without #if`);
    } else if (!active()) {
      continue;
    } else if ((m = /^#\s*define\s+(\w+)\b\s*(.*)$/.exec(line))) {
      const [, macro, value] = m;
      defined.add(macro);
      let n;
      if ((n = /^__NR_(\w+)$/.exec(macro)) && /^\d+$/.test(value)) {
        if (!NOT_SYSCALLS.has(n[1])) nr.set(n[1], Number(value));
      } else if (/^__NR3264_\w+$/.test(macro) && /^\d+$/.test(value)) {
        nr3264.set(macro, Number(value));
      } else if ((n = /^__NR_(\w+)$/.exec(macro)) && /^__NR3264_\w+$/.test(value)) {
        aliases.push([n[1], value]);
      } else if (macro.startsWith('__NR')) {
        fail(`${where}: unexpected syscall define: ${line}`);
      } // else: __SYSCALL/__SC_* helper macros, ignore
    } else if (/^#\s*undef\s+__NR_syscalls$/.test(line)) {
      // paired with `#define __NR_syscalls N`, which we skip anyway
    } else if (line.startsWith('#') && !/^#\s*include\s/.test(line)) {
      fail(`${where}: unexpected directive: ${line}`);
    } // else: __SYSCALL(...) table lines, comments, blank lines
  }
  if (stack.length) fail(`${GENERIC_HEADER}: unterminated #if`);

  // On 64-bit the __NR3264_xxx slots are exposed through aliases such as
  // `#define __NR_fcntl __NR3264_fcntl` and `#define __NR_newfstatat
  // __NR3264_fstatat`; the alias is the userspace/strace name, so use it.
  for (const [name, target] of aliases) {
    const v = nr3264.get(target) ?? fail(`alias __NR_${name} -> undefined ${target}`);
    nr.set(name, v);
    nr3264.delete(target);
  }
  if (nr3264.size) fail(`__NR3264_ entries without a 64-bit alias: ${[...nr3264.keys()].join(', ')}`);
  return [...nr].map(([name, n]) => [n, name]);
}

function checkAndSort(entries, what) {
  const byNr = new Map();
  const byName = new Map();
  for (const [n, name] of entries) {
    if (byNr.has(n)) fail(`${what}: number ${n} is both ${byNr.get(n)} and ${name}`);
    if (byName.has(name)) fail(`${what}: name ${name} is both ${byName.get(name)} and ${n}`);
    byNr.set(n, name);
    byName.set(name, n);
  }
  if (entries.length < 250) fail(`${what}: only ${entries.length} entries, parser is probably broken`);
  return [...entries].sort((a, b) => a[0] - b[0]);
}

function headersVersion() {
  try {
    const t = read(VERSION_HEADER);
    const get = (k) => new RegExp(`#define\\s+${k}\\s+(\\d+)`).exec(t)?.[1];
    const v = [get('LINUX_VERSION_MAJOR'), get('LINUX_VERSION_PATCHLEVEL'), get('LINUX_VERSION_SUBLEVEL')];
    return v.every(Boolean) ? v.join('.') : undefined;
  } catch {
    return undefined;
  }
}

function render(constName, header, entries) {
  const version = headersVersion();
  const lines = [
    '// GENERATED FILE - DO NOT EDIT.',
    `// Generated by \`node scripts/generate-syscall-tables.mjs\` from /usr/include/${header} of`,
    `// Debian ${SYSCALL_HEADERS_PACKAGE} ${SYSCALL_HEADERS_VERSION}${version ? ` (kernel headers ${version})` : ''}. Edit the script and re-run it instead.`,
    `// ${entries.length} entries: [syscall number, name without __NR_], sorted by number.`,
    '',
    `export const ${constName}: ReadonlyArray<readonly [number, string]> = [`,
    ...entries.map(([n, name]) => `  [${n}, '${name}'],`),
    '];',
    '',
  ];
  return lines.join('\n');
}

/** arm64's own header, checked against the generic numbering it comes from. */
function parseArm64() {
  const own = checkAndSort(parseUnistd64(read(ARM64_HEADER), ARM64_HEADER), ARM64_HEADER);
  const generic = checkAndSort(parseGenericArm64(read(GENERIC_HEADER)), GENERIC_HEADER);
  const text = (entries) => entries.map(([n, name]) => `${n} ${name}`);
  const ownText = new Set(text(own));
  const genericText = new Set(text(generic));
  const onlyOwn = [...ownText].filter((e) => !genericText.has(e));
  const onlyGeneric = [...genericText].filter((e) => !ownText.has(e));
  if (onlyOwn.length || onlyGeneric.length) {
    fail(
      `${ARM64_HEADER} and ${GENERIC_HEADER} (arm64 LP64) disagree: only in the first: ${onlyOwn.join(', ') || 'none'}; only in the second: ${onlyGeneric.join(', ') || 'none'}`,
    );
  }
  return own;
}

const tables = [
  { file: 'x86_64.ts', constName: 'SYSCALLS_X86_64', header: X86_64_HEADER, entries: () => checkAndSort(parseUnistd64(read(X86_64_HEADER), X86_64_HEADER), X86_64_HEADER) },
  { file: 'arm64.ts', constName: 'SYSCALLS_ARM64', header: ARM64_HEADER, entries: parseArm64 },
];

mkdirSync(OUT_DIR, { recursive: true });
for (const t of tables) {
  const entries = t.entries();
  writeFileSync(join(OUT_DIR, t.file), render(t.constName, t.header, entries));
  console.log(`wrote host/syscalls/${t.file}: ${entries.length} entries from ${t.header} (${SYSCALL_HEADERS_PACKAGE} ${SYSCALL_HEADERS_VERSION})`);
}
