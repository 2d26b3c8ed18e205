/**
 * Kernel symbols from /proc/kallsyms, for kernel stack frames.
 *
 * Lines look like `ffffffff821ecbe0 T do_syscall_64` and, for modules (and
 * the kernel's own pseudo-modules such as `[bpf]` for JITed BPF programs and
 * `[__builtin__ftrace]` for ftrace trampolines), `... t fn\t[module]`.
 * Frames print as `fn+0xOFF [kernel]` or `fn+0xOFF [module]`, as OVS's
 * kernel_delay.py does.
 *
 * Only root sees real addresses: with kptr_restrict, other users read all
 * zeros; then `restricted` is true and every frame is `[unknown] 0xADDR`
 * rather than a confidently wrong name.
 *
 * Speed: the file has 100k-300k lines and is read once per run, on the path
 * between "attach" and the first report. So it is parsed as bytes, not as
 * strings: addresses go straight into two Uint32Arrays (high and low halves,
 * no BigInt per line), names stay in the file buffer as offsets and are
 * decoded only for frames that are printed. The kernel already emits core
 * kernel symbols in address order, so sorting is usually skipped.
 */
import { readFileSync } from 'node:fs';
import { lastAtOrBelow, sortedIndices } from './sort.js';

// Per-symbol flags.
const TEXT = 1; // t, T, w, W: a place code can be
const GLOBAL = 2; // upper-case type
// A data symbol (d D b B r R) only bounds the text symbol before it, so an
// address past the end of the text (init data, a gap) is not reported as
// `last_text_symbol+0x123456`. Kernels without CONFIG_KALLSYMS_ALL list few.
const BARRIER = 4;

const NL = 0x0a;
const TAB = 0x09;
const SPACE = 0x20;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
/** Hex digit values by byte; -1 for anything else. A table beats branches per digit. */
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i;
for (let i = 0; i < 6; i++) HEX[0x41 + i] = HEX[0x61 + i] = 10 + i;

function classify(type: number): number {
  switch (type) {
    case 0x54: // T
    case 0x57: // W
      return TEXT | GLOBAL;
    case 0x74: // t
    case 0x77: // w
      return TEXT;
    case 0x44: // D
    case 0x42: // B
    case 0x52: // R
    case 0x64: // d
    case 0x62: // b
    case 0x72: // r
      return BARRIER;
    default:
      // A (absolute), U, ?, and the rest: not addresses in kernel memory we
      // can reason about.
      return 0;
  }
}

export interface KernelSymbolHit {
  name: string;
  /** 'kernel' for the core kernel, else the module name without brackets. */
  module: string;
  offset: number;
}

function hex(addr: bigint): string {
  return `0x${addr.toString(16)}`;
}

export class Kallsyms {
  private constructor(
    private readonly text: Buffer,
    private readonly hi: Uint32Array,
    private readonly lo: Uint32Array,
    private readonly nameStart: Uint32Array,
    private readonly nameEnd: Uint32Array,
    /** 0 = core kernel, i > 0 = modules[i]. */
    private readonly moduleIndex: Uint32Array,
    private readonly flags: Uint8Array,
    private readonly modules: string[],
    /** Number of symbols (text and barriers). */
    readonly size: number,
    /** All addresses were zero: not root (kptr_restrict). */
    readonly restricted: boolean,
  ) {}

  /** Reads /proc/kallsyms (or a saved copy, for tests). */
  static load(path = '/proc/kallsyms'): Kallsyms {
    return Kallsyms.parse(readFileSync(path));
  }

  static parse(input: Buffer | string): Kallsyms {
    const buf = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
    const len = buf.length;
    // ~40 bytes a line; grown if that guess is short.
    let cap = Math.max(1024, (len / 32) | 0);
    let hi = new Uint32Array(cap);
    let lo = new Uint32Array(cap);
    let nameStart = new Uint32Array(cap);
    let nameEnd = new Uint32Array(cap);
    let moduleIndex = new Uint32Array(cap);
    let flags = new Uint8Array(cap);
    const modules = ['kernel'];
    const moduleIds = new Map<string, number>();
    let n = 0;
    let sorted = true;
    let anyNonZero = false;
    let prevHi = 0;
    let prevLo = 0;

    let pos = 0;
    while (pos < len) {
      let eol = buf.indexOf(NL, pos);
      if (eol < 0) eol = len;
      const lineStart = pos;
      pos = eol + 1;

      // Address: hex digits up to the first space, shifted into hi:lo.
      let h = 0;
      let l = 0;
      let p = lineStart;
      for (; p < eol; p++) {
        const d = HEX[buf[p]];
        if (d < 0) break;
        h = ((h << 4) | (l >>> 28)) >>> 0;
        l = ((l << 4) | d) >>> 0;
      }
      // p: space before the type; p+1: type; p+2: space; p+3: name.
      if (p + 3 >= eol || buf[p] !== SPACE) continue;
      const f = classify(buf[p + 1]);
      if (f === 0) continue;
      const ns = p + 3;
      // Most lines have no module: only a line ending in ']' is searched
      // (backwards, natively) for the tab, instead of scanning every name.
      let ne = eol;
      let mod = 0;
      if (buf[eol - 1] === RBRACKET) {
        const tab = buf.lastIndexOf(TAB, eol);
        if (tab > ns && buf[tab + 1] === LBRACKET) {
          ne = tab;
          const name = buf.toString('latin1', tab + 2, eol - 1);
          let id = moduleIds.get(name);
          if (id === undefined) {
            id = modules.push(name) - 1;
            moduleIds.set(name, id);
          }
          mod = id;
        }
      }

      if (n === cap) {
        cap *= 2;
        const grow = <T extends Uint32Array | Uint8Array>(a: T, make: (c: number) => T): T => {
          const b = make(cap);
          b.set(a);
          return b;
        };
        hi = grow(hi, (c) => new Uint32Array(c));
        lo = grow(lo, (c) => new Uint32Array(c));
        nameStart = grow(nameStart, (c) => new Uint32Array(c));
        nameEnd = grow(nameEnd, (c) => new Uint32Array(c));
        moduleIndex = grow(moduleIndex, (c) => new Uint32Array(c));
        flags = grow(flags, (c) => new Uint8Array(c));
      }
      hi[n] = h;
      lo[n] = l;
      nameStart[n] = ns;
      nameEnd[n] = ne;
      moduleIndex[n] = mod;
      flags[n] = f;
      if (h < prevHi || (h === prevHi && l < prevLo)) sorted = false;
      prevHi = h;
      prevLo = l;
      if (h !== 0 || l !== 0) anyNonZero = true;
      n++;
    }

    if (!sorted) {
      // Modules and BPF programs come after the core kernel in file order but
      // not in address order. Sort an index (stable: file order breaks ties,
      // and it decides which alias prints), then permute.
      const h = hi;
      const l = lo;
      const order = sortedIndices(n, (a, b) => h[a] - h[b] || l[a] - l[b]);
      const permute = <T extends Uint32Array | Uint8Array>(a: T, make: (c: number) => T): T => {
        const b = make(n);
        for (let i = 0; i < n; i++) b[i] = a[order[i]];
        return b;
      };
      hi = permute(hi, (c) => new Uint32Array(c));
      lo = permute(lo, (c) => new Uint32Array(c));
      nameStart = permute(nameStart, (c) => new Uint32Array(c));
      nameEnd = permute(nameEnd, (c) => new Uint32Array(c));
      moduleIndex = permute(moduleIndex, (c) => new Uint32Array(c));
      flags = permute(flags, (c) => new Uint8Array(c));
    }
    return new Kallsyms(buf, hi, lo, nameStart, nameEnd, moduleIndex, flags, modules, n, n > 0 && !anyNonZero);
  }

  lookup(addr: bigint): KernelSymbolHit | undefined {
    if (this.restricted || addr < 0n || addr > 0xffff_ffff_ffff_ffffn) return undefined;
    const h = Number(addr >> 32n);
    const l = Number(addr & 0xffff_ffffn);
    const { hi, lo, flags } = this;
    // Last symbol at or below addr.
    const last = lastAtOrBelow(this.size, (i) => hi[i] < h || (hi[i] === h && lo[i] <= l));
    if (last < 0) return undefined;
    // Several names can share an address (`_stext`, `_text`, a function and
    // its alias). Pick the first global text symbol in file order, else the
    // first text symbol; an address whose nearest symbols are data only is
    // outside any function.
    let first = last;
    while (first > 0 && hi[first - 1] === hi[last] && lo[first - 1] === lo[last]) first--;
    let pick = -1;
    for (let i = first; i <= last; i++) {
      if (flags[i] & TEXT) {
        if (flags[i] & GLOBAL) {
          pick = i;
          break;
        }
        if (pick < 0) pick = i;
      }
    }
    if (pick < 0) return undefined;
    const offset = (h - hi[pick]) * 0x1_0000_0000 + (l - lo[pick]);
    return {
      name: this.text.toString('latin1', this.nameStart[pick], this.nameEnd[pick]),
      module: this.modules[this.moduleIndex[pick]],
      offset,
    };
  }

  /** `fn+0xOFF [kernel]`, `fn+0xOFF [module]`, or `[unknown] 0xADDR`. */
  symbolize(addr: bigint): string {
    const hit = this.lookup(addr);
    if (!hit) return `[unknown] ${hex(addr)}`;
    return `${hit.name}+0x${hit.offset.toString(16)} [${hit.module}]`;
  }
}
