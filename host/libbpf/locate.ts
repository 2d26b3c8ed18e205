/**
 * Which libbpf kdelay uses. In order:
 *
 * 1. `$KDELAY_LIBBPF`, a path (or a name for the dynamic loader): an explicit
 *    choice, so it is the only candidate; if it is unusable kdelay says why
 *    and stops rather than quietly running another libbpf.
 * 2. The system's `libbpf.so.1` (found the way the dynamic loader finds
 *    libraries: LD_LIBRARY_PATH, the ld.so cache, the default folders).
 * 3. The system's `libbpf.so.0`, only if it has every function kdelay calls
 *    (libbpf >= 0.8) and `libbpf_set_strict_mode()`, which switches 0.x to
 *    libbpf 1.0's semantics (errors returned directly, NULL + errno from
 *    pointer-returning calls): that is what ffi.ts expects.
 * 4. The copy that ships with kdelay, `vendor/libbpf/<process.arch>/libbpf.so.1`
 *    (built by scripts/build-libbpf.mjs against Debian 11's glibc 2.31; needs
 *    libelf.so.1 and libz.so.1 from the host).
 *
 * A system libbpf is preferred to the shipped one because the distribution
 * keeps it patched. `judge()` and `chooseLibbpf()` are pure (tested in
 * test/integration/libbpf-locate.test.ts); `findLibbpf()` gathers the facts, trying
 * candidates in order and stopping at the first usable one, so a host with a
 * good libbpf.so.1 never opens the others.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { koffi } from './libc.js';

type Library = ReturnType<typeof koffi.load>;
export type NativeFunction = ReturnType<Library['func']>;

export class LibbpfUnavailableError extends Error {}

export interface Candidate {
  kind: 'override' | 'system' | 'shipped';
  /** What is handed to dlopen: a path, or a bare soname the loader searches for. */
  file: string;
  /** How kdelay names it in messages. */
  label: string;
}

/** What examining one candidate found out. */
export interface CandidateFacts {
  candidate: Candidate;
  /** There is no such file (or the loader finds no library of that name). */
  notFound?: boolean;
  /** dlopen's complaint, when the file is there but could not be loaded. */
  loadError?: string;
  /** Functions kdelay calls that the library does not export. */
  missingSymbols: string[];
  /** From libbpf_major_version()/libbpf_minor_version() (libbpf >= 0.6). */
  version?: { major: number; minor: number };
  /** It exports libbpf_set_strict_mode() (libbpf 0.6 to 0.8; 1.x keeps it as a no-op). */
  strictMode: boolean;
  /** The file the loader actually mapped, when known. */
  path?: string;
}

export type Verdict = { usable: true } | { usable: false; reason: string };

export const SHIPPED_LIBBPF_DIR = join('vendor', 'libbpf');
/** process.arch values scripts/build-libbpf.mjs builds a copy for. */
export const SHIPPED_ARCHES = ['x64', 'arm64'];

/** The candidates, in the order they are tried (pure). */
export function libbpfCandidates(options: { override?: string; arch: string; packageRoot: string }): Candidate[] {
  if (options.override) return [{ kind: 'override', file: options.override, label: `$KDELAY_LIBBPF (${options.override})` }];
  const shipped = join(SHIPPED_LIBBPF_DIR, options.arch, 'libbpf.so.1');
  return [
    { kind: 'system', file: 'libbpf.so.1', label: 'the system libbpf.so.1' },
    { kind: 'system', file: 'libbpf.so.0', label: 'the system libbpf.so.0' },
    { kind: 'shipped', file: join(options.packageRoot, shipped), label: `the libbpf shipped with kdelay (${shipped})` },
  ];
}

/** Whether kdelay can run on this library, and if not, why (pure). */
export function judge(facts: CandidateFacts): Verdict {
  const { candidate, loadError, missingSymbols, version } = facts;
  if (facts.notFound) {
    if (candidate.kind === 'shipped') return { usable: false, reason: `not found (kdelay ships one for ${SHIPPED_ARCHES.join(' and ')})` };
    return { usable: false, reason: candidate.kind === 'system' ? 'not installed' : 'not found' };
  }
  if (loadError !== undefined) return { usable: false, reason: `cannot be loaded (${loadError})` };
  const named = version ? `libbpf ${version.major}.${version.minor}` : 'a libbpf older than 0.6';
  if (missingSymbols.length) {
    const shown = missingSymbols.slice(0, 3).join(', ') + (missingSymbols.length > 3 ? `, ... (${missingSymbols.length} in all)` : '');
    return { usable: false, reason: `${named} lacks functions kdelay calls: ${shown}` };
  }
  if (!version) return { usable: false, reason: 'too old (no libbpf_major_version(); kdelay needs libbpf 0.8 or newer)' };
  if (version.major === 0 && !facts.strictMode) {
    return { usable: false, reason: `${named} cannot be switched to libbpf 1.0 semantics (no libbpf_set_strict_mode())` };
  }
  return { usable: true };
}

export interface PassedOver {
  facts: CandidateFacts;
  reason: string;
}

/**
 * The first usable candidate, and why each one before it was passed over
 * (pure over the facts; consumes the iterable only up to the choice, so a
 * lazy iterable examines no more libraries than needed).
 */
export function chooseLibbpf(examined: Iterable<CandidateFacts>): { chosen?: CandidateFacts; passedOver: PassedOver[] } {
  const passedOver: PassedOver[] = [];
  for (const facts of examined) {
    const verdict = judge(facts);
    if (verdict.usable) return { chosen: facts, passedOver };
    passedOver.push({ facts, reason: verdict.reason });
  }
  return { passedOver };
}

/** One line per libbpf considered, for -D. */
export function describeChoice(choice: { chosen?: CandidateFacts; passedOver: PassedOver[] }): string[] {
  const lines: string[] = [];
  if (choice.chosen) {
    const { candidate, version, path } = choice.chosen;
    const named = version ? `libbpf ${version.major}.${version.minor}` : 'libbpf (version unknown)';
    lines.push(`using ${named} from ${path ?? candidate.file}: ${candidate.label}`);
  }
  for (const { facts, reason } of choice.passedOver) {
    const where = facts.path && facts.path !== facts.candidate.file ? ` at ${facts.path}` : '';
    lines.push(`passed over ${facts.candidate.label}${where}: ${reason}`);
  }
  return lines;
}

/** The one-line error when nothing is usable, with the remedy that fits. */
export function noUsableLibbpf(passedOver: PassedOver[]): string {
  const why = passedOver.map(({ facts, reason }) => `${facts.candidate.label}: ${reason}`).join('; ');
  const shipped = passedOver.find(({ facts }) => facts.candidate.kind === 'shipped');
  const needsLibs = shipped?.facts.loadError && /lib(elf|z)\.so\.1/.test(shipped.facts.loadError);
  const remedy = needsLibs ? 'install libelf1 and zlib1g (which the shipped copy needs) or libbpf1' : 'install libbpf 1.x (Debian/Ubuntu: libbpf1) or set $KDELAY_LIBBPF to one';
  return `no usable libbpf (${why}); ${remedy}`;
}

export interface FoundLibbpf {
  functions: Record<string, NativeFunction>;
  facts: CandidateFacts;
  passedOver: PassedOver[];
  /** -D lines: which libbpf, and why the others were passed over. */
  description: string[];
}

const LIBBPF_STRICT_ALL = 0xffffffff;

/** Files whose name starts with libbpf.so that this process has mapped. */
function mappedLibbpfFiles(): Set<string> {
  try {
    const paths = readFileSync('/proc/self/maps', 'utf8')
      .split('\n')
      .map((line) => line.slice(line.indexOf('/')));
    return new Set(paths.filter((p) => /\/libbpf\.so[^/]*$/.test(p)));
  } catch {
    return new Set();
  }
}

const symbolOf = (declaration: string) => /([A-Za-z_][A-Za-z0-9_]*)\s*\(/.exec(declaration)?.[1] ?? declaration;

/** Loads one candidate and binds every function; the library stays loaded only if it is chosen. */
function examine(candidate: Candidate, declarations: Record<string, string>): { facts: CandidateFacts; library?: Library; functions: Record<string, NativeFunction> } {
  const facts: CandidateFacts = { candidate, missingSymbols: [], strictMode: false };
  const functions: Record<string, NativeFunction> = {};
  const before = mappedLibbpfFiles();
  let library: Library;
  if (candidate.file.includes('/') && !existsSync(candidate.file)) {
    facts.notFound = true;
    return { facts, functions };
  }
  try {
    library = koffi.load(candidate.file);
  } catch (err) {
    facts.loadError = (err as Error).message.split('\n')[0].replace(/^Failed to load shared library: /, '');
    // Loaded by name and not found: koffi drops the name from dlerror's message (a missing
    // dependency keeps its own name, "libelf.so.1: cannot open ...", and is a load error).
    const notFoundMessage = 'cannot open shared object file';
    if (!candidate.file.includes('/') && [notFoundMessage, `${candidate.file}: ${notFoundMessage}`].some((m) => facts.loadError!.startsWith(m))) {
      facts.notFound = true;
    }
    return { facts, functions };
  }
  for (const [key, declaration] of Object.entries(declarations)) {
    try {
      functions[key] = library.func(declaration);
    } catch {
      facts.missingSymbols.push(symbolOf(declaration));
    }
  }
  try {
    facts.version = {
      major: library.func('uint32_t libbpf_major_version(void)')(),
      minor: library.func('uint32_t libbpf_minor_version(void)')(),
    };
  } catch {
    /* older than 0.6: judge() says so */
  }
  try {
    functions.set_strict_mode = library.func('int libbpf_set_strict_mode(uint32_t mode)');
    facts.strictMode = true;
  } catch {
    /* not in 0.x before 0.6 */
  }
  if (candidate.file.includes('/')) {
    try {
      facts.path = realpathSync(candidate.file);
    } catch {
      facts.path = candidate.file;
    }
  } else {
    facts.path = [...mappedLibbpfFiles()].find((p) => !before.has(p));
  }
  return { facts, library, functions };
}

/**
 * Finds and loads the libbpf to use, binding `declarations` (key -> C
 * prototype) from it. Throws LibbpfUnavailableError (one line) when none is usable.
 */
export function findLibbpf(options: { override?: string; arch: string; packageRoot: string; declarations: Record<string, string> }): FoundLibbpf {
  let loaded: ReturnType<typeof examine> | undefined;
  const examined = function* () {
    for (const candidate of libbpfCandidates(options)) {
      loaded?.library?.unload();
      loaded = examine(candidate, options.declarations);
      yield loaded.facts;
    }
  };
  const choice = chooseLibbpf(examined());
  if (!choice.chosen || !loaded) {
    loaded?.library?.unload();
    throw new LibbpfUnavailableError(noUsableLibbpf(choice.passedOver));
  }
  if (choice.chosen.version?.major === 0) {
    const err = loaded.functions.set_strict_mode(LIBBPF_STRICT_ALL);
    if (err) throw new LibbpfUnavailableError(`${choice.chosen.candidate.label}: libbpf_set_strict_mode() failed (${err})`);
  }
  return { functions: loaded.functions, facts: choice.chosen, passedOver: choice.passedOver, description: describeChoice(choice) };
}
