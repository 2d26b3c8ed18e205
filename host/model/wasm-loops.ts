/**
 * The report's per-row loops as WebAssembly (source: wasm-loops/report-loops.ts,
 * AssemblyScript, built into dist/report-loops.wasm). A CLI run reads and
 * formats once per process, and the same loops in JS ran mostly before V8
 * had optimised them: a 100k-row report took ~2.5x its steady-state time.
 * Wasm is compiled before its first call.
 *
 * Memory is a stack of scratch space: withArena() gives back what its
 * callback allocated, so a pointer into the module's memory lives only as
 * long as the callback that allocated it; callers copy their typed arrays
 * in, run the loops and copy the results out.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const FILE = 'report-loops.wasm';

interface Exports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  layoutLines(...args: number[]): number;
  firstSeenIds(keys: number, n: number, table: number, bits: number, ids: number, distinct: number): number;
  gather(dst: number, index: number, lookup: number, n: number): void;
  wordsToF64(src: number, dst: number, n: number): void;
  identity(dst: number, n: number): void;
  differing(keys: number, n: number): number;
  radixPass(keys: number, shift: number, from: number, to: number, n: number, counts: number): void;
  descendingKeys(values: number, width: number, column: number, n: number, high: number, low: number): void;
  groupByThread(sorted: number, threadOfRow: number, n: number, threads: number, starts: number, next: number, order: number): void;
  threadSums(...args: number[]): void;
}

/**
 * The wasm file sits in dist/: next to the one-file CLI (dist/kdelay.mjs),
 * two folders above this module in tsc's output (dist/host/model/), and
 * in dist/ two folders above its source (host/model/, which tests run).
 */
function wasmPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [here, join(here, '..', '..')].flatMap((dir) => [join(dir, FILE), join(dir, 'dist', FILE)]);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`${FILE} not found (looked for ${candidates.join(', ')}); run npm run build`);
  return found;
}

/** A bump allocator over the module's memory (which stays grown to its largest use). */
export class Arena {
  top: number;

  constructor(readonly loops: Exports) {
    this.top = loops.heapBase();
  }

  /** bytes of memory, 16-byte aligned; views taken before may be detached by growth. */
  alloc(bytes: number): number {
    const at = this.top;
    this.top = (at + bytes + 15) & ~15;
    const memory = this.loops.memory;
    const missing = this.top - memory.buffer.byteLength;
    if (missing > 0) memory.grow(Math.ceil(missing / 65536));
    return at;
  }

  u32(at: number, n: number): Uint32Array {
    return new Uint32Array(this.loops.memory.buffer, at, n);
  }

  f64(at: number, n: number): Float64Array {
    return new Float64Array(this.loops.memory.buffer, at, n);
  }

  u8(at: number, n: number): Uint8Array {
    return new Uint8Array(this.loops.memory.buffer, at, n);
  }

  private wholeView = new Uint8Array(0);

  /**
   * All of the module's memory as one view, kept until the memory grows: hot
   * loops index it instead of taking a view per call (each view is a small
   * object, and a report of a few hundred threads took thousands a sample).
   */
  get bytes(): Uint8Array {
    const buffer = this.loops.memory.buffer;
    if (this.wholeView.buffer !== buffer) this.wholeView = new Uint8Array(buffer);
    return this.wholeView;
  }

  /** Allocates room for src and copies it in. */
  copyU32(src: Uint32Array): number {
    const at = this.alloc(src.length * 4);
    this.u32(at, src.length).set(src);
    return at;
  }

  copyF64(src: Float64Array): number {
    const at = this.alloc(src.length * 8);
    this.f64(at, src.length).set(src);
    return at;
  }

  copyU8(src: Uint8Array): number {
    const at = this.alloc(src.length);
    this.u8(at, src.length).set(src);
    return at;
  }
}

let arena: Arena | undefined;

/**
 * Runs use() with the process's arena and frees what it allocated; the
 * module is compiled on first use.
 */
export function withArena<T>(use: (a: Arena) => T): T {
  if (!arena) {
    const module = new WebAssembly.Module(readFileSync(wasmPath()));
    arena = new Arena(new WebAssembly.Instance(module, {}).exports as unknown as Exports);
  }
  const mark = arena.top;
  try {
    return use(arena);
  } finally {
    arena.top = mark;
  }
}

/**
 * Numbers the distinct u32 keys 0, 1, 2, ... in order of first appearance
 * (thread ids of report rows, label pointers of a report_rows batch): each
 * key's number, and the distinct keys by number.
 */
export function firstSeenIds(keys: Uint32Array): { ids: Uint32Array; distinct: Uint32Array } {
  return withArena((a) => {
    const n = keys.length;
    let bits = 4;
    while (1 << bits <= 2 * n) bits++;
    const keysAt = a.copyU32(keys);
    const table = a.alloc(8 << bits);
    const ids = a.alloc(4 * n);
    const distinct = a.alloc(4 * n);
    a.u8(table, 8 << bits).fill(0);
    const count = a.loops.firstSeenIds(keysAt, n, table, bits, ids, distinct);
    return { ids: a.u32(ids, n).slice(), distinct: a.u32(distinct, count).slice() };
  });
}

/** u64 values given as little-endian u32 word pairs, as doubles, into dst. */
export function wordsToF64(words: Uint32Array, dst: Float64Array): void {
  withArena((a) => {
    const n = words.length >>> 1;
    const src = a.copyU32(words.subarray(0, 2 * n));
    const out = a.alloc(8 * n);
    a.loops.wordsToF64(src, out, n);
    dst.set(a.f64(out, n));
  });
}

/** lookup[index[i]] for each i. */
export function gather(index: Uint32Array, lookup: Uint32Array): Uint32Array {
  return withArena((a) => {
    const out = a.alloc(4 * index.length);
    a.loops.gather(out, a.copyU32(index), a.copyU32(lookup), index.length);
    return a.u32(out, index.length).slice();
  });
}
