/**
 * The --syscall-events symbolizer (host/symbols/): kallsyms parsing (pure),
 * /proc/PID/maps parsing (pure), and user frames of a real C workload built
 * three ways (PIE, non-PIE, stripped), checked against `nm` of the same
 * binaries. Kernel frames need root (real kallsyms addresses) and are gated
 * like the other kernel tests: skipped outside CI without it, failing in CI.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ElfCache, ElfFile, Kallsyms, parseMaps, ProcessMaps, Symbolizer } from '../../host/symbols/index.js';
import { sortedIndices } from '../../host/symbols/sort.js';
import { requireBpf, skipWithoutBpf } from '../helpers/bpf.js';
import { buildWorkload } from '../helpers/workloads.js';

const SOURCE = join(import.meta.dirname, '..', 'workloads', 'symbols_target.c');
// buildWorkload's flags, for the variants it cannot build.
const CFLAGS = ['-O2', '-g', '-fno-omit-frame-pointer', '-pthread', '-Wall', '-Werror'];
const FUNCTIONS = ['symbols_alpha', 'symbols_beta', 'symbols_local', 'symbols_exported', 'main'];

const hex = (n: bigint | number) => `0x${n.toString(16)}`;

// ---------------------------------------------------------------- pure parts

describe('kallsyms parsing', () => {
  const text = [
    'ffffffff81000000 T _stext',
    'ffffffff81000000 t startup_64',
    'ffffffff81000100 T do_one',
    'ffffffff81000200 t local_two',
    'ffffffff81000300 W weak_three',
    'ffffffff81000400 D some_data',
    'ffffffff81000500 T after_data',
    'ffffffff81000600 A absolute_ignored',
    'ffffffffc0002000 t mod_b_fn\t[mod_b]',
    'ffffffffc0001000 T mod_a_fn\t[mod_a]',
    'ffffffffc0001080 t mod_a_static\t[mod_a]',
    'ffffffffa0000000 t bpf_prog_0123456789abcdef_handler\t[bpf]',
  ].join('\n');
  const k = Kallsyms.parse(text);

  it('names core kernel symbols [kernel] with their offset', () => {
    expect(k.restricted).toBe(false);
    expect(k.symbolize(0xffffffff81000100n)).toBe('do_one+0x0 [kernel]');
    expect(k.symbolize(0xffffffff81000168n)).toBe('do_one+0x68 [kernel]');
    expect(k.symbolize(0xffffffff81000210n)).toBe('local_two+0x10 [kernel]');
    expect(k.symbolize(0xffffffff81000301n)).toBe('weak_three+0x1 [kernel]');
  });

  it('names module symbols [module], also when the file is not in address order', () => {
    expect(k.symbolize(0xffffffffc0001000n)).toBe('mod_a_fn+0x0 [mod_a]');
    expect(k.symbolize(0xffffffffc0001090n)).toBe('mod_a_static+0x10 [mod_a]');
    expect(k.symbolize(0xffffffffc0002004n)).toBe('mod_b_fn+0x4 [mod_b]');
    expect(k.symbolize(0xffffffffa0000010n)).toBe('bpf_prog_0123456789abcdef_handler+0x10 [bpf]');
  });

  it('prefers the first global name among aliases', () => {
    expect(k.symbolize(0xffffffff81000008n)).toBe('_stext+0x8 [kernel]');
  });

  it('does not stretch a function over a following data symbol', () => {
    expect(k.symbolize(0xffffffff81000410n)).toBe('[unknown] 0xffffffff81000410');
    expect(k.symbolize(0xffffffff81000510n)).toBe('after_data+0x10 [kernel]');
  });

  it('prints [unknown] below the first symbol', () => {
    expect(k.symbolize(0x1234n)).toBe('[unknown] 0x1234');
  });

  it('prints [unknown] for every frame when addresses are hidden (not root)', () => {
    const hidden = Kallsyms.parse('0000000000000000 T _stext\n0000000000000000 T do_one\n');
    expect(hidden.restricted).toBe(true);
    expect(hidden.symbolize(0xffffffff81000100n)).toBe('[unknown] 0xffffffff81000100');
  });
});

describe('index sort', () => {
  it('orders like Array.prototype.sort, stable, for random, run-structured and tiny inputs', () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const inputs: number[][] = [[], [5], [2, 1], Array.from({ length: 1000 }, () => Math.floor(random() * 50))];
    // Ascending runs, as kallsyms with modules: core, then module blocks.
    const runs: number[] = [];
    for (let r = 0; r < 7; r++) for (let i = 0, base = Math.floor(random() * 1000); i < 100; i++) runs.push(base + i * 3);
    inputs.push(runs, [...runs].reverse());
    for (const keys of inputs) {
      const expected = keys.map((_, i) => i).sort((a, b) => keys[a] - keys[b] || a - b);
      expect([...sortedIndices(keys.length, (a, b) => keys[a] - keys[b])]).toEqual(expected);
    }
  });
});

describe('maps parsing', () => {
  const maps = parseMaps(
    [
      '55d5a6c1d000-55d5a6c1e000 r--p 00000000 fd:01 1234                       /usr/bin/my prog',
      '55d5a6c1e000-55d5a6c1f000 r-xp 00001000 fd:01 1234                       /usr/bin/my prog',
      '7f90cd300000-7f90cd400000 r-xp 00026000 fd:01 99                         /usr/lib/libc.so.6 (deleted)',
      '7f90cd44f000-7f90cd450000 rwxp 00000000 00:00 0 ',
      '7f90cd458000-7f90cd45a000 r-xp 00000000 00:00 0                          [vdso]',
      'ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]',
    ].join('\n'),
  );

  it('keeps executable mappings with their offset, path (spaces and all) and kind', () => {
    expect(maps.map((m) => [m.kind, m.path, m.deleted])).toEqual([
      ['file', '/usr/bin/my prog', false],
      ['file', '/usr/lib/libc.so.6', true],
      ['anon', '', false],
      ['vdso', '[vdso]', false],
    ]);
    expect(maps[0]).toMatchObject({ start: 0x55d5a6c1e000, end: 0x55d5a6c1f000, offset: 0x1000, inode: 1234, range: '55d5a6c1e000-55d5a6c1f000' });
  });

  it('finds the mapping of an address, ends exclusive', () => {
    const snapshot = new ProcessMaps(1, maps);
    expect(snapshot.find(0x55d5a6c1e000)?.path).toBe('/usr/bin/my prog');
    expect(snapshot.find(0x55d5a6c1efff)?.path).toBe('/usr/bin/my prog');
    expect(snapshot.find(0x55d5a6c1f000)).toBeUndefined();
    expect(snapshot.find(0x55d5a6c1d000)).toBeUndefined();
  });
});

// ------------------------------------------------------ real user-space frames

interface Target {
  child: ChildProcess;
  pid: number;
  fns: Map<string, bigint>;
  getppid: bigint;
  vdso: bigint;
  anon: bigint;
}

const running: ChildProcess[] = [];

/** Starts a symbols_target build and reads its address lines up to "done". */
async function start(binary: string): Promise<Target> {
  const child = spawn(binary, [], { stdio: ['ignore', 'pipe', 'inherit'] });
  running.push(child);
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${binary}: no "done" line within 20 s`)), 20_000);
    child.once('exit', (code) => reject(new Error(`${binary} exited (${code}) before "done"`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      if (line === 'done') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const field = (re: RegExp) => BigInt(lines.map((l) => re.exec(l)?.[1]).find((v) => v !== undefined)!);
  const fns = new Map<string, bigint>();
  for (const l of lines) {
    const m = /^fn (\S+) (0x[0-9a-f]+)$/.exec(l);
    if (m) fns.set(m[1], BigInt(m[2]));
  }
  return {
    child,
    pid: Number(/^ready (\d+)$/.exec(lines[0])![1]),
    fns,
    getppid: field(/^libc getppid (0x[0-9a-f]+)$/),
    vdso: field(/^vdso (0x[0-9a-f]+|0)$/),
    anon: field(/^anon (0x[0-9a-f]+)$/),
  };
}

async function stop(t: Target): Promise<void> {
  if (t.child.exitCode !== null || t.child.signalCode !== null) return;
  await new Promise((resolve) => {
    t.child.once('exit', resolve);
    t.child.kill('SIGTERM');
  });
}

/** Function and object addresses as `nm` prints them (ELF virtual addresses). */
function nm(binary: string, dynamic = false): Map<string, bigint> {
  const out = execFileSync('nm', dynamic ? ['-D', '--defined-only', binary] : ['--defined-only', binary], { encoding: 'utf8' });
  const symbols = new Map<string, bigint>();
  for (const line of out.split('\n')) {
    const [value, , versioned] = line.split(' ');
    const name = versioned?.replace(/@.*/, ''); // nm -D: clock_gettime@@LINUX_2.6
    if (name && !symbols.has(name)) symbols.set(name, BigInt(`0x${value}`));
  }
  return symbols;
}

let dir: string;
let pie: string;
let noPie: string;
let exported: string;
let stripped: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kdelay-symbols-'));
  pie = buildWorkload('symbols_target');
  noPie = join(dir, 'symbols_target_nopie');
  execFileSync('gcc', [...CFLAGS, '-fno-pie', '-no-pie', '-o', noPie, SOURCE]);
  // The stripped binary's unstripped twin: same build, so nm of it gives the
  // addresses the stripped one has lost.
  exported = join(dir, 'symbols_target_export');
  execFileSync('gcc', [...CFLAGS, '-Wl,--export-dynamic-symbol=symbols_exported', '-o', exported, SOURCE]);
  stripped = join(dir, 'symbols_target_stripped');
  execFileSync('strip', ['-o', stripped, exported]);
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((child) => stop({ child } as Target)));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('user frames', () => {
  it('PIE: each function is name+0x0 and +5 is name+0x5, at nm address + one load bias', async () => {
    expect(ElfFile.open(pie).isPositionIndependent).toBe(true);
    const t = await start(pie);
    const s = Symbolizer.forProcess(t.pid);
    const symbols = nm(pie);
    const biases = new Set<bigint>();
    for (const name of FUNCTIONS) {
      const addr = t.fns.get(name)!;
      expect(s.user(addr)).toBe(`${name}+0x0 [symbols_target]`);
      expect(s.user(addr + 5n)).toBe(`${name}+0x5 [symbols_target]`);
      biases.add(addr - symbols.get(name)!);
    }
    // The printed addresses are the nm addresses moved by one load bias.
    expect(biases.size).toBe(1);
    expect([...biases][0]).not.toBe(0n);
  });

  it('a libc function is named in [libc.so.6]', async () => {
    const t = await start(pie);
    const s = Symbolizer.forProcess(t.pid);
    expect(s.user(t.getppid)).toMatch(/^\S*getppid\S*\+0x0 \[libc\.so\.6\]$/);
    expect(s.user(t.getppid + 4n)).toMatch(/^\S*getppid\S*\+0x4 \[libc\.so\.6\]$/);
  });

  it('non-PIE: addresses are the nm addresses and symbolize the same way', async () => {
    expect(ElfFile.open(noPie).isPositionIndependent).toBe(false);
    const t = await start(noPie);
    const s = Symbolizer.forProcess(t.pid);
    const symbols = nm(noPie);
    for (const name of FUNCTIONS) {
      const addr = t.fns.get(name)!;
      expect(addr).toBe(symbols.get(name));
      expect(s.user(addr)).toBe(`${name}+0x0 [symbols_target_nopie]`);
      expect(s.user(addr + 5n)).toBe(`${name}+0x5 [symbols_target_nopie]`);
    }
    expect(s.user(t.getppid)).toMatch(/^\S*getppid\S*\+0x0 \[libc\.so\.6\]$/);
  });

  it('stripped: .dynsym functions are named, the rest are [unknown] with the ELF address nm gives the twin, and why', async () => {
    expect(nm(stripped, true).has('symbols_exported')).toBe(true);
    expect(ElfFile.open(stripped).hasSymtab).toBe(false);
    const t = await start(stripped);
    const s = Symbolizer.forProcess(t.pid);
    const twin = nm(exported);
    expect(s.user(t.fns.get('symbols_exported')!)).toBe('symbols_exported+0x0 [symbols_target_stripped]');
    for (const name of ['symbols_alpha', 'symbols_beta', 'symbols_local', 'main']) {
      const addr = t.fns.get(name)!;
      const why = `${stripped}: stripped (no .symtab): only exported functions are named`;
      expect(s.user(addr)).toBe(`[unknown] ${hex(addr)} (symbols_target_stripped+${hex(twin.get(name)!)}; ${why})`);
      expect(s.user(addr + 5n)).toBe(`[unknown] ${hex(addr + 5n)} (symbols_target_stripped+${hex(twin.get(name)! + 5n)}; ${why})`);
    }
  });

  it('stripped of everything: [unknown] says the file has no symbol table', async () => {
    const bare = join(dir, 'symbols_target_bare');
    execFileSync('strip', ['--strip-all', '-o', bare, pie]);
    const t = await start(bare);
    const s = Symbolizer.forProcess(t.pid);
    const addr = t.fns.get('symbols_alpha')!;
    expect(s.user(addr)).toBe(`[unknown] ${hex(addr)} (symbols_target_bare+${hex(nm(pie).get('symbols_alpha')!)}; ${bare}: no symbol table)`);
  });

  it('a binary deleted while running, unreadable once the target exited: [unknown] says deleted', async () => {
    const copy = join(dir, 'symbols_target_deleted');
    copyFileSync(pie, copy);
    const t = await start(copy);
    rmSync(copy);
    const s = Symbolizer.forProcess(t.pid); // maps already say "(deleted)"
    await stop(t);
    const addr = t.fns.get('symbols_alpha')!;
    expect(s.user(addr)).toBe(`[unknown] ${hex(addr)} (symbols_target_deleted+${hex(nm(pie).get('symbols_alpha')!)}; ${copy}: deleted)`);
  });

  it('anonymous executable memory and unmapped addresses are [unknown] 0xADDR', async () => {
    const t = await start(pie);
    const s = Symbolizer.forProcess(t.pid);
    expect(s.user(t.anon + 0x10n)).toBe(`[unknown] ${hex(t.anon + 0x10n)}`);
    expect(s.user(0x1n)).toBe('[unknown] 0x1');
    expect(s.user(0xffffffffff600000n)).toBe('[unknown] 0xffffffffff600000');
  });

  it('the snapshot outlives the target: files are first read after it exited', async () => {
    const t = await start(pie);
    const elfCache = new ElfCache();
    const s = Symbolizer.forProcess(t.pid, { elfCache });
    await stop(t);
    expect(existsSync(`/proc/${t.pid}`)).toBe(false);
    expect(elfCache.loads).toBe(0);
    for (const name of FUNCTIONS) expect(s.user(t.fns.get(name)! + 5n)).toBe(`${name}+0x5 [symbols_target]`);
    expect(s.user(t.getppid)).toMatch(/getppid\S*\+0x0 \[libc\.so\.6\]$/);
    expect(elfCache.loads).toBe(2);
  });

  it('a binary deleted after the target exited gives [unknown] with its offset, not stale names', async () => {
    const copy = join(dir, 'symbols_target_gone');
    copyFileSync(pie, copy);
    const t = await start(copy);
    const s = Symbolizer.forProcess(t.pid);
    await stop(t);
    rmSync(copy);
    const symbols = nm(pie);
    const addr = t.fns.get('symbols_alpha')!;
    // Without the file the offset is the file offset, equal to the ELF
    // address in this PIE's text (the test checks that premise first).
    const text = ElfFile.open(pie).segments.find((seg) => seg.executable)!;
    expect(text.vaddr).toBe(text.offset);
    expect(s.user(addr)).toBe(`[unknown] ${hex(addr)} (symbols_target_gone+${hex(symbols.get('symbols_alpha')!)}; ${copy}: not found)`);
  });
});

// ------------------------------------------------------------ needs root

interface KallsymsLine {
  addr: bigint;
  type: string;
  name: string;
  module: string;
}

/** kallsyms text parsed the slow, obvious way, to check the fast parser against. */
function slowParse(text: string): KallsymsLine[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [addr, type, rest] = line.split(' ');
      const [name, module] = rest.split('\t');
      return { addr: BigInt(`0x${addr}`), type, name, module: module ? module.slice(1, -1) : 'kernel' };
    });
}

/** Text symbols alone at their address, with no other symbol in the next `room` bytes. */
function loneSymbols(lines: KallsymsLine[], room: bigint): KallsymsLine[] {
  const sorted = [...lines].sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
  return sorted.filter((l, i) => 'tTwW'.includes(l.type) && (i === 0 || sorted[i - 1].addr !== l.addr) && (i + 1 === sorted.length || sorted[i + 1].addr > l.addr + room));
}

describe.skipIf(skipWithoutBpf)('as root', () => {
  let lines: KallsymsLine[];
  let kallsyms: Kallsyms;

  beforeAll(() => {
    if (process.geteuid?.() !== 0) return;
    // One read for both parsers: BPF programs (other tests, other tools)
    // come and go, and each changes the [bpf] lines of /proc/kallsyms.
    const text = readFileSync('/proc/kallsyms');
    lines = slowParse(text.toString('latin1'));
    kallsyms = Kallsyms.parse(text);
  });

  it('loads the real /proc/kallsyms with addresses', () => {
    requireBpf();
    const loaded = Kallsyms.load();
    expect(loaded.restricted).toBe(false);
    expect(loaded.size).toBeGreaterThan(10_000);
  });

  it('kernel text symbols: name+0x0 [kernel] and name+0x10 [kernel]', () => {
    requireBpf();
    expect(kallsyms.restricted).toBe(false);
    const lone = loneSymbols(lines, 0x10n);
    const picked = lone.filter((l) => l.module === 'kernel' && ['do_syscall_64', '__x64_sys_getppid', 'ksys_read', 'schedule'].includes(l.name));
    expect(picked.length).toBeGreaterThan(0);
    // And a spread of others, so aliases and ordering are exercised too.
    const kernelLone = lone.filter((l) => l.module === 'kernel');
    for (let i = 0; i < kernelLone.length; i += Math.ceil(kernelLone.length / 200)) picked.push(kernelLone[i]);
    for (const l of picked) {
      expect(kallsyms.symbolize(l.addr)).toBe(`${l.name}+0x0 [kernel]`);
      expect(kallsyms.symbolize(l.addr + 0x10n)).toBe(`${l.name}+0x10 [kernel]`);
    }
  });

  it('a module (or BPF, ftrace) text symbol prints its [module]', () => {
    requireBpf();
    // A real module if there is one: they stay loaded, BPF programs may not.
    const others = loneSymbols(lines, 0x4n).filter((l) => l.module !== 'kernel');
    const mod = others.find((l) => l.module !== 'bpf') ?? others[0];
    if (!mod) {
      console.warn('no module text symbols in /proc/kallsyms: only the parsing test covers [module]');
      return;
    }
    expect(kallsyms.symbolize(mod.addr)).toBe(`${mod.name}+0x0 [${mod.module}]`);
    expect(kallsyms.symbolize(mod.addr + 4n)).toBe(`${mod.name}+0x4 [${mod.module}]`);
  });

  it('Symbolizer.kernel uses the kallsyms snapshot', async () => {
    requireBpf();
    const t = await start(pie);
    const s = Symbolizer.forProcess(t.pid);
    const l = loneSymbols(lines, 0x10n).find((x) => x.module === 'kernel')!;
    expect(s.kernel(l.addr + 0x8n)).toBe(`${l.name}+0x8 [kernel]`);
  });

  it('vDSO frames are named from the vDSO image', async () => {
    requireBpf();
    const t = await start(pie);
    expect(t.vdso).not.toBe(0n);
    const s = Symbolizer.forProcess(t.pid);
    // nm of the target's own vDSO, dumped from its memory.
    const vdsoMap = parseMaps(readFileSync(`/proc/${t.pid}/maps`, 'utf8')).find((m) => m.kind === 'vdso')!;
    expect(BigInt(vdsoMap.start)).toBe(t.vdso);
    const image = Buffer.alloc(vdsoMap.end - vdsoMap.start);
    const fd = openSync(`/proc/${t.pid}/mem`, 'r');
    try {
      readSync(fd, image, 0, image.length, vdsoMap.start);
    } finally {
      closeSync(fd);
    }
    const dump = join(dir, 'vdso.so');
    writeFileSync(dump, image);
    const value = nm(dump, true).get('__vdso_clock_gettime');
    expect(value).toBeDefined();
    expect(s.user(t.vdso + value!)).toMatch(/^(__vdso_)?clock_gettime\+0x0 \[vdso\]$/);
    expect(s.user(t.vdso + value! + 3n)).toMatch(/^(__vdso_)?clock_gettime\+0x3 \[vdso\]$/);
    expect(s.user(t.vdso)).toBe(`[unknown] ${hex(t.vdso)} ([vdso]+0x0)`);
  });

  it('a binary replaced on disk while running is read through map_files', async () => {
    requireBpf();
    const copy = join(dir, 'symbols_target_replaced');
    copyFileSync(pie, copy);
    const t = await start(copy);
    // An "upgrade": a different build under the same path.
    rmSync(copy);
    copyFileSync(noPie, copy);
    const s = Symbolizer.forProcess(t.pid);
    expect(s.users.snapshot.mappings.some((m) => m.path === copy && m.deleted)).toBe(true);
    expect(s.user(t.fns.get('symbols_beta')! + 5n)).toBe('symbols_beta+0x5 [symbols_target_replaced]');
  });
});
