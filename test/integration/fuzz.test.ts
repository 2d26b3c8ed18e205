/**
 * Seeded, time-bounded fuzzing of the two surfaces a bundle's author
 * controls:
 *
 * - the bundle reader (seal, sections, manifest, embedded objects): random
 *   mutations of the real built-in bundles, and random edits of their
 *   manifests sealed again. Each result is refused with one line
 *   (IntegrityError/ManifestError, no newline), or accepted only if its
 *   digest still matches its body (or, with --allow-unsigned, it carries no
 *   seal at all), and an accepted manifest can be laid out;
 * - the guest ABI: random calls of every wasm_bpf and kdelay import with
 *   random arguments over random guest memory (with real BPF objects in it
 *   now and then), against the real libbpf backend. Each call returns a
 *   number or traps the guest (GuestTrap); the host survives, and closing
 *   the session leaves nothing in the kernel.
 *
 * FUZZ_SEED and FUZZ_MS override the seed and the time budget per part.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { admitBundle, releaseKey } from '../../host/driver/catalog.js';
import { formatStatistics } from '../../host/report/statistics.js';
import { formatSystemSections } from '../../host/report/system-sections.js';
import { ManifestError, valueCount } from '../../host/bundle/manifest.js';
import { type SampleTables, tableFor } from '../../host/model/section-table.js';
import { embeddedObjects } from '../../host/bundle/bundle.js';
import { GuestMemory, GuestTrap } from '../../host/runtime/guest-memory.js';
import { GuestSession } from '../../host/runtime/guest-session.js';
import { kdelayImports } from '../../host/runtime/kdelay-imports.js';
import { IntegrityError, sha256Hex, splitSeal, trustedKey } from '../../host/bundle/seal.js';
import { SharedMaps } from '../../host/runtime/shared-maps.js';
import { wasmBpfImports } from '../../host/runtime/wasm-bpf-imports.js';
import { kernelLeftovers, requireBpf, skipWithoutBpf } from '../helpers/bpf.js';
import { manifestText, withManifestText } from '../helpers/bundle-edits.js';
import { makeKeyPair } from '../helpers/probe-variants.js';
import { tempDir } from '../helpers/temp-dirs.js';

const ROOT = join(import.meta.dirname, '..', '..');
const SEED = Number(process.env.FUZZ_SEED ?? 20261130);
const BUDGET_MS = Number(process.env.FUZZ_MS ?? 5000);

/** mulberry32: small, seedable, good enough to pick mutations. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  return { next, int, pick };
}
type Rng = ReturnType<typeof prng>;

const bundles = readdirSync(join(ROOT, 'bundles'))
  .filter((f) => f.endsWith('.wasm'))
  .map((f) => readFileSync(join(ROOT, 'bundles', f)));

/** Byte-level mutations of a whole bundle (seal included). */
function mutateBytes(rng: Rng, original: Buffer): Buffer {
  const bytes = Buffer.from(original);
  switch (rng.int(5)) {
    case 0: // flip a few bits anywhere
      for (let i = 1 + rng.int(4); i > 0; i--) bytes[rng.int(bytes.length)] ^= 1 << rng.int(8);
      return bytes;
    case 1: // cut short
      return bytes.subarray(0, rng.int(bytes.length));
    case 2: // insert random bytes
      return Buffer.concat([
        bytes.subarray(0, rng.int(bytes.length)),
        Buffer.from(Array.from({ length: 1 + rng.int(16) }, () => rng.int(256))),
        bytes.subarray(rng.int(bytes.length)),
      ]);
    case 3: {
      // change one character of the seal's JSON (its last bytes)
      const at = bytes.length - 1 - rng.int(Math.min(200, bytes.length));
      bytes[at] = rng.pick([0x22, 0x3d, 0x41, 0x2b, 0x20, 0x7d, bytes[at] ^ 1]);
      return bytes;
    }
    default: // drop a range
      return Buffer.concat([bytes.subarray(0, rng.int(bytes.length)), bytes.subarray(rng.int(bytes.length))]);
  }
}

const oddValues: unknown[] = [null, true, 0, -1, 1e9, 2 ** 53, 1.5, '', 'x'.repeat(300), 'A\nB', '\u001b[2J', [], {}, [null], { a: 1 }];

/** One random edit somewhere in a parsed manifest. */
function mutateManifest(rng: Rng, value: unknown, depth = 0): unknown {
  if (Array.isArray(value) && value.length && rng.next() < 0.7) {
    const copy = [...value];
    const i = rng.int(copy.length);
    if (rng.next() < 0.15) copy.splice(i, 1);
    else if (rng.next() < 0.1) copy.push(copy[i]);
    else copy[i] = mutateManifest(rng, copy[i], depth + 1);
    return copy;
  }
  if (value && typeof value === 'object' && !Array.isArray(value) && rng.next() < 0.8) {
    const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    const keys = Object.keys(copy);
    const key = rng.pick([...keys, 'layout', 'scope', 'legend', 'total', 'sortDescendingBy', 'headerAlign']);
    if (rng.next() < 0.15) delete copy[key];
    else copy[key] = mutateManifest(rng, copy[key], depth + 1);
    return copy;
  }
  if (typeof value === 'number' && rng.next() < 0.5) return rng.pick([value + 1, value - 1, -value, value * 1000, 0]);
  return rng.pick(oddValues);
}

/** An accepted manifest must lay out: one row per section, through the real formatter. */
function layOut(manifest: { sections: Parameters<typeof formatSystemSections>[0] }): void {
  const tables: SampleTables = new Map();
  for (const section of manifest.sections) {
    const width = valueCount(section);
    tableFor(tables, section.id, width).add(
      section.scope === 'system' ? 0 : 1,
      section.columns[0].format === 'label' ? 'label' : undefined,
      Array.from({ length: width }, (_, i) => i * 1000),
    );
  }
  formatStatistics({ sections: manifest.sections, tables, threadName: () => 'thread' });
  formatSystemSections(manifest.sections, tables);
}

describe('fuzz: the bundle, manifest and seal reader', () => {
  it(`refuses with one line, or accepts only what its digest vouches for (seed ${SEED})`, () => {
    const rng = prng(SEED);
    const dir = tempDir('kdelay-fuzz-');
    const file = join(dir, 'fuzz.wasm');
    const release = releaseKey(ROOT);
    const author = makeKeyPair();
    const trusted = [release, trustedKey(author.publicPem, 'author.pub')];
    const tally = { iterations: 0, refused: 0, accepted: 0, manifestEdits: 0 };
    const deadline = Date.now() + BUDGET_MS;
    while (Date.now() < deadline) {
      tally.iterations++;
      const original = rng.pick(bundles);
      let candidate: Buffer;
      if (rng.next() < 0.5) {
        candidate = mutateBytes(rng, original);
      } else {
        // A manifest edit, sealed again (so the digest matches): the schema check must stand on its own.
        tally.manifestEdits++;
        const edited = mutateManifest(rng, JSON.parse(manifestText(original)));
        candidate = withManifestText(original, JSON.stringify(edited), rng.next() < 0.5 ? author.privatePem : undefined);
      }
      writeFileSync(file, candidate);
      const allowUnsigned = rng.next() < 0.7;
      let accepted;
      try {
        accepted = admitBundle(file, trusted, { builtin: false, allowUnsigned });
      } catch (err) {
        if (!(err instanceof IntegrityError || err instanceof ManifestError)) throw new Error(`iteration ${tally.iterations}: ${(err as Error).stack}`, { cause: err });
        expect((err as Error).message, (err as Error).message).not.toContain('\n');
        tally.refused++;
        continue;
      }
      tally.accepted++;
      const { body, seal } = splitSeal(candidate);
      if (seal) expect(sha256Hex(body)).toBe(seal.sha256);
      else expect(allowUnsigned).toBe(true);
      if (!allowUnsigned) expect(accepted.seal.kind).toBe('signed');
      layOut(accepted.bundle.manifest);
    }
    console.log(`bundle reader fuzz, seed ${SEED}: ${JSON.stringify(tally)}`);
    expect(tally.iterations).toBeGreaterThan(200);
    expect(tally.refused).toBeGreaterThan(0);
    expect(tally.accepted).toBeGreaterThan(0);
  });
});

/** The parameter names of an import (its source), to give i64 parameters BigInts. */
function parameterNames(fn: (...args: never[]) => unknown): string[] {
  const match = /^[\w$]*\s*\(([^)]*)\)/.exec(fn.toString());
  return (match?.[1] ?? '')
    .split(',')
    .map((p) =>
      p
        .trim()
        .replace(/[:=].*$/, '')
        .trim(),
    )
    .filter(Boolean);
}

const isI64 = (name: string) => name === 'obj' || name === 'fallback' || name.endsWith('Arg');

describe.skipIf(skipWithoutBpf)('fuzz: the guest ABI', () => {
  it(`every import with random arguments returns a number or traps the guest; the host survives (seed ${SEED})`, async () => {
    requireBpf();
    const { LibbpfBackend } = await import('../../host/libbpf/libbpf-backend.js');
    const { RingBufferPoller } = await import('../../host/runtime/ring-buffer.js');
    // libbpf's messages about the garbage it is fed are kept, not printed (as in a run without -D).
    (await import('../../host/libbpf/log.js')).libbpfLog.install(false);
    const rng = prng(SEED ^ 0x5eed);
    const backend = new LibbpfBackend();
    const shared = new SharedMaps(backend);
    const session = new GuestSession('fuzz', backend, shared, process.pid);
    const poller = new RingBufferPoller();
    const wasmMemory = new WebAssembly.Memory({ initial: 4, maximum: 4 });
    const memory = new GuestMemory(wasmMemory);
    const bytes = new Uint8Array(wasmMemory.buffer);
    const objects = bundles.flatMap((b) => embeddedObjects(b));
    const words = ['counts', 'kdelay_gate', 'kdelay_map_full', 'syscalls_sys_enter', 'sys_enter', 'sched', 'main', 'syscalls', 'x'];
    const services = {
      option: () => undefined,
      optionString: (name: string) => (name.length % 2 ? 'fexit' : undefined),
      syscallNumber: (name: string) => (name === 'read' ? 0 : undefined),
      syscallName: (nr: number) => (nr === 0 ? 'read' : undefined),
      rows: () => {},
      histograms: () => {},
      warning: () => {},
    };
    const imports: Record<string, (...args: unknown[]) => unknown> = {
      ...(wasmBpfImports({
        session,
        memory: () => memory,
        poller,
        callSample: () => {
          if (rng.next() < 0.3) throw new GuestTrap('callback trapped');
          return rng.int(2);
        },
      }) as unknown as Record<string, (...args: unknown[]) => unknown>),
      ...(kdelayImports(session, () => memory, services) as unknown as Record<string, (...args: unknown[]) => unknown>),
    };
    const names = Object.keys(imports);
    /** Where the last real object was copied, so loads can point at it. */
    let object = { at: 0, size: 0 };
    const refill = () => {
      for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
      // NUL-terminated names the imports look for, here and there.
      for (let n = 0; n < 64; n++) {
        const word = Buffer.from(`${rng.pick(words)}\0`);
        bytes.set(word, rng.int(bytes.length - word.length));
      }
      const elf = rng.pick(objects);
      object = { at: bytes.length - elf.length - rng.int(64), size: elf.length };
      bytes.set(elf, object.at);
    };
    const i32 = (): number =>
      rng.pick([0, 1, 3, 4, 8, -1, 2 ** 31 - 1, -(2 ** 31), rng.int(bytes.length), bytes.length - 1 - rng.int(16), bytes.length, object.at, object.size, rng.int(2 ** 32) | 0]);
    const i64 = (): bigint => rng.pick([0n, 1n, 2n, 3n, BigInt(rng.int(8)), -1n, 2n ** 63n - 1n, BigInt(i32())]);

    const tally = { calls: 0, returned: 0, trapped: 0, loaded: 0 };
    const deadline = Date.now() + BUDGET_MS;
    refill();
    try {
      while (Date.now() < deadline) {
        if (tally.calls % 500 === 0) refill();
        tally.calls++;
        const name = rng.pick(names);
        const fn = imports[name];
        let args = parameterNames(fn as never).map((p) => (isI64(p) ? i64() : i32()));
        // Now and then hand over the real object, so load, configure and attach go deeper.
        if ((name === 'wasm_load_bpf_object' || name === 'bpf_object_open') && rng.next() < 0.3) args = [object.at, object.size];
        // A poll may only wait briefly: the fuzz is about arguments, not time.
        if (name === 'wasm_bpf_buffer_poll') args[6] = rng.int(3);
        try {
          const result = fn(...args);
          expect(['number', 'bigint']).toContain(typeof result);
          if ((name === 'wasm_load_bpf_object' || name === 'bpf_object_open') && result !== 0n) tally.loaded++;
          tally.returned++;
        } catch (err) {
          if (!(err instanceof GuestTrap)) throw new Error(`${name}(${args.join(', ')}) threw ${(err as Error).stack}`, { cause: err });
          tally.trapped++;
        }
      }
    } finally {
      poller.close();
      session.close();
      shared.closeAll();
    }
    console.log(`guest ABI fuzz, seed ${SEED}: ${JSON.stringify(tally)} over ${names.length} imports`);
    expect(tally.calls).toBeGreaterThan(1000);
    expect(tally.trapped).toBeGreaterThan(0);
    expect(tally.returned).toBeGreaterThan(0);
    expect(await kernelLeftovers()).toEqual([]);
  });
});
