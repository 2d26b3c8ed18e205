#!/usr/bin/env zx
// The symbolizer's costs (host/symbols/), printed, never asserted:
//   1. loading /proc/kallsyms (read + parse), and parsing alone, also for a
//      file out of address order (as with modules loaded);
//   2. symbolizing 10k stack frames, half kernel, half user, of a live
//      process: cold (fresh symbolizer, every ELF file parsed on first use),
//      warm files (new symbolizer sharing the parsed files, nothing memoized)
//      and warm (the same symbolizer again).
// Run after `npx tsc -p tsconfig.json`:  npx zx scripts/bench-symbols.mjs [--pid PID]
// Without --pid the target is a child `node` (a 98 MB binary with 78k
// function symbols, plus libc, libstdc++ and friends). Needs root for real
// kernel addresses; without it kernel frames are all [unknown].
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { argv, echo, path } from 'zx';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const dist = (p) => path.join(ROOT, 'dist', 'host', 'symbols', p);
const { Kallsyms } = await import(dist('kallsyms.js'));
const { ElfCache } = await import(dist('user-symbolizer.js'));
const { Symbolizer } = await import(dist('index.js'));
const { ProcessMaps } = await import(dist('process-maps.js'));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (n) => `${n.toFixed(1)} ms`;
const time = (fn) => {
  const t0 = performance.now();
  const result = fn();
  return [performance.now() - t0, result];
};
// Deterministic pseudo-random numbers (mulberry32), so runs are comparable.
let seed = 0x6b64656c;
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (xs) => xs[Math.floor(random() * xs.length)];

// 1. kallsyms
{
  const [first] = time(() => Kallsyms.load());
  const loads = [];
  const reads = [];
  const parses = [];
  let k;
  for (let i = 0; i < 10; i++) {
    loads.push(time(() => (k = Kallsyms.load()))[0]);
    const [r, text] = time(() => readFileSync('/proc/kallsyms'));
    reads.push(r);
    parses.push(time(() => Kallsyms.parse(text))[0]);
  }
  const text = readFileSync('/proc/kallsyms');
  // Out of order: the last third first, as module and BPF symbols come after
  // the core kernel in the file but sit below or above it in memory.
  const cut = text.lastIndexOf(10, Math.floor((text.length * 2) / 3)) + 1;
  const shuffled = Buffer.concat([text.subarray(cut), text.subarray(0, cut)]);
  const unsorted = [];
  for (let i = 0; i < 10; i++) unsorted.push(time(() => Kallsyms.parse(shuffled))[0]);
  echo(`kallsyms: ${k.size} symbols kept, ${(text.length / 1e6).toFixed(1)} MB${k.restricted ? ' (RESTRICTED: not root, all addresses zero)' : ''}`);
  echo(`  load (read + parse): first ${ms(first)}, median of 10 ${ms(median(loads))}`);
  echo(`  read alone ${ms(median(reads))}, parse alone ${ms(median(parses))}, parse out-of-order copy ${ms(median(unsorted))}`);
}

// 2. 10k frames
const ownTarget = argv.pid === undefined;
const target = ownTarget ? spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' }) : undefined;
const pid = ownTarget ? target.pid : Number(argv.pid);
if (ownTarget) await new Promise((r) => setTimeout(r, 300)); // let it map its libraries
try {
  const kallsyms = Kallsyms.load();
  const maps = ProcessMaps.read(pid);
  const files = maps.mappings.filter((m) => m.kind === 'file');
  // Kernel frames: text symbols plus a small offset, as return addresses are.
  const text = readFileSync('/proc/kallsyms', 'latin1').split('\n');
  const kernelText = text.filter((l) => / [tT] /.test(l)).map((l) => BigInt(`0x${l.slice(0, l.indexOf(' '))}`));
  // A stack pool: 2000 distinct kernel and 2000 distinct user addresses,
  // drawn 10k times (real stacks repeat frames a lot).
  const kernelPool = Array.from({ length: 2000 }, () => pick(kernelText) + BigInt(Math.floor(random() * 0x80)));
  const userPool = Array.from({ length: 2000 }, () => {
    const m = pick(files);
    return BigInt(m.start + Math.floor(random() * (m.end - m.start)));
  });
  const frames = Array.from({ length: 10_000 }, (_, i) => (i % 2 === 0 ? { kernel: true, addr: pick(kernelPool) } : { kernel: false, addr: pick(userPool) }));
  const run = (s) => {
    let chars = 0;
    for (const f of frames) chars += (f.kernel ? s.kernel(f.addr) : s.user(f.addr)).length;
    return chars;
  };

  const cache = new ElfCache();
  const cold = Symbolizer.forProcess(pid, { kallsyms, elfCache: cache });
  const [coldMs] = time(() => run(cold));
  const warmFiles = [];
  for (let i = 0; i < 5; i++) {
    const s = Symbolizer.forProcess(pid, { kallsyms, elfCache: cache });
    warmFiles.push(time(() => run(s))[0]);
  }
  const warm = [];
  for (let i = 0; i < 5; i++) warm.push(time(() => run(cold))[0]);
  const unknown = frames.filter((f) => (f.kernel ? cold.kernel(f.addr) : cold.user(f.addr)).startsWith('[unknown]')).length;

  echo(`10k frames (5k kernel, 5k user) of PID ${pid}${ownTarget ? ' (a child node)' : ''}: ${files.length} executable file mappings, ${cache.loads} ELF files parsed`);
  echo(`  cold (fresh symbolizer, ELF files parsed on first use): ${ms(coldMs)}`);
  echo(`  warm files (new symbolizer, parsed files shared, nothing memoized): median of 5 ${ms(median(warmFiles))}`);
  echo(`  warm (same symbolizer again): median of 5 ${ms(median(warm))}`);
  echo(`  ${unknown} of 10k frames [unknown] (user addresses are random bytes of the mappings: padding, PLT, stripped code)`);
  for (const f of frames.slice(0, 6)) echo(`    ${f.kernel ? cold.kernel(f.addr) : cold.user(f.addr)}`);
} finally {
  target?.kill();
}
