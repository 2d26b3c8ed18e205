/**
 * `kdelay run`: a plain wasm-bpf guest (examples/wasm-bpf-getppid, built
 * from its folder at test time) runs under the real CLI, attaches, and
 * prints the ring-buffer events of a workload whose getppid() calls are
 * known exactly. test/guests/plain_misbehaving.ts breaks the ABI in the ways
 * the host must survive, each after attaching, so that cleanup is checked too.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, openSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BpfBackend } from '../../host/libbpf/backend.js';
import { PlainGuestTrap, runPlainGuest } from '../../host/runtime/plain-guest.js';
import { requireBpf, skipWithoutBpf, waitUntilNoKdelayPrograms } from '../helpers/bpf.js';
import { KDELAY_BIN, runKdelay, startKdelay } from '../helpers/kdelay.js';
import { type RunningWorkload, startWorkload } from '../helpers/workloads.js';
import { type KeyPair, makeKeyPair } from '../helpers/probe-variants.js';
import { splitSeal } from '../../host/bundle/seal.js';
// A plain JS build module, shared with scripts/build-plain-guest.mjs.
import { compilePlainGuest } from '../../scripts/lib/plain-guest-build.mjs';
import { tempDir } from '../helpers/temp-dirs.js';

const ROOT = join(import.meta.dirname, '..', '..');
/** The example's program is getppid_sys_enter (the kernel keeps 15 characters of it). */
const GUEST_PROGRAMS = ['getppid_'];
const EVENT_LINE = /^getppid tid=(\d+) ts=(\d+)$/;

let out: string;
/** The example guest, signed by author (trusted with --trust-key). */
let guest: string;
let author: KeyPair;
let misbehaving: string;
let workload: RunningWorkload | undefined;

beforeAll(async () => {
  out = tempDir('kdelay-run-');
  author = makeKeyPair();
  execFileSync('npx', ['zx', join(ROOT, 'scripts', 'build-plain-guest.mjs'), 'examples/wasm-bpf-getppid', out, '--key', author.privateFile], { cwd: ROOT, encoding: 'utf8' });
  guest = join(out, 'wasm-bpf-getppid.wasm');
  // Embeds the example's object, so it is built after the example.
  misbehaving = await compilePlainGuest(join(ROOT, 'test', 'guests', 'plain_misbehaving.ts'), join(out, 'plain_misbehaving.wasm'));
});
afterEach(async () => {
  await workload?.stop();
  workload = undefined;
});

const stderrLines = (stderr: string) => stderr.split('\n').filter(Boolean);
/** `kdelay run` arguments for the signed example guest, and for the unsigned misbehaving one. */
const signedGuest = () => ['--trust-key', author.publicFile, guest];
const unsignedMisbehaving = () => ['--allow-unsigned', misbehaving];

/**
 * Starts getppid_calls (CALLS calls after its go signal), runs `kdelay run`
 * with args(pid), lets the workload go once the guest says it is attached,
 * and returns the run's result and the calling thread's tid.
 */
async function runWithWorkload(calls: number, args: (pid: number) => (string | number)[]) {
  workload = await startWorkload('getppid_calls', [calls]);
  const tid = Number((await workload.waitFor(/^caller \d+$/)).split(' ')[1]);
  const startedAt = Date.now();
  const kdelay = startKdelay(['run', ...args(workload.pid)]);
  await kdelay.waitForOutput(/^attached/m);
  const attachedAfterMs = Date.now() - startedAt;
  workload.child.kill('SIGUSR1');
  await workload.waitFor(/^done$/);
  const result = await kdelay.done;
  return { ...result, tid, attachedAfterMs, elapsedMs: Date.now() - startedAt };
}

describe('kdelay run: command line', () => {
  it('without a guest file: usage, exit 2, one line', async () => {
    const { code, stdout, stderr } = await runKdelay(['run']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderrLines(stderr)).toEqual([expect.stringMatching(/^kdelay: run: no guest file; usage: kdelay run /)]);
  });

  it('an unknown option before the file: exit 2, one line', async () => {
    const { code, stderr } = await runKdelay(['run', '--bogus', 'x.wasm']);
    expect(code).toBe(2);
    expect(stderrLines(stderr)).toEqual([expect.stringMatching(/^kdelay: run: unknown option --bogus; usage:/)]);
  });

  it('--help prints the usage on stdout', async () => {
    const { code, stdout } = await runKdelay(['run', '--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^usage: kdelay run \[--debug\] \[--trust-key FILE\] \[--allow-unsigned\] GUEST\.wasm \[ARGS\.\.\.\]$/m);
  });

  it('not root, no capabilities: exit 77, one line naming them', () => {
    // As root, run it as nobody; otherwise the test process is not root anyway.
    const asNobody = process.geteuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const { status, stderr } = spawnSync(process.execPath, [KDELAY_BIN, 'run', guest, '1', '1'], { encoding: 'utf8', ...asNobody });
    expect(status).toBe(77);
    expect(stderrLines(stderr)).toEqual([expect.stringMatching(/^kdelay: missing CAP_BPF and CAP_PERFMON: loading BPF probes needs /)]);
  });
});

describe.skipIf(skipWithoutBpf)('kdelay run: files that are not plain guests', () => {
  it.each([
    ['a missing file', () => join(out, 'missing.wasm'), /: cannot read \(no such file\)$/],
    ['a file that is not wasm', () => join(ROOT, 'examples', 'wasm-bpf-getppid', 'README.md'), /: not a WebAssembly module \(/],
    ['a probe bundle', () => join(ROOT, 'bundles', 'syscalls.wasm'), /: not a plain wasm-bpf guest: it imports kdelay\.\w+: it is a probe bundle/],
    ['a module without _start', () => noStartModule(), /: not a plain wasm-bpf guest: it exports no _start function/],
  ])('%s: exit 78, one line, nothing run', async (_what, file, message) => {
    requireBpf();
    const { code, stdout, stderr } = await runKdelay(['run', file(), '1', '1']);
    expect(code, stderr).toBe(78);
    expect(stdout).toBe('');
    expect(stderrLines(stderr)).toEqual([expect.stringMatching(message)]);
  });
});

describe.skipIf(skipWithoutBpf)('kdelay run: guests it does not trust (exit 78, one line, nothing run)', () => {
  const copyOfGuest = (edit: (bytes: Buffer) => Buffer) => {
    const file = join(tempDir('kdelay-guest-'), 'guest.wasm');
    writeFileSync(file, edit(readFileSync(guest)));
    return file;
  };

  it('a signed guest whose key the user did not name, unless --allow-unsigned', async () => {
    requireBpf();
    const refused = await runKdelay(['run', guest, 1, 1, 100]);
    expect(refused.code).toBe(78);
    expect(stderrLines(refused.stderr)).toEqual([expect.stringMatching(/^kdelay: refusing \S+: it is signed by key [0-9a-f]{16}, which kdelay does not trust/)]);
    const allowed = await runKdelay(['run', '--allow-unsigned', guest, 1, 1, 100]);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stdout).toMatch(/^attached: /);
  });

  it('an unsigned guest (an upstream-style module with no seal)', async () => {
    requireBpf();
    const plain = copyOfGuest((bytes) => Buffer.from(splitSeal(bytes).body));
    const { code, stdout, stderr } = await runKdelay(['run', '--trust-key', author.publicFile, plain, 1, 1, 100]);
    expect(code).toBe(78);
    expect(stdout).toBe('');
    expect(stderrLines(stderr)).toEqual([`kdelay: refusing ${plain}: it is not signed, and it loads kernel code as root; add --allow-unsigned if you trust it`]);
  });

  it('a guest with one changed byte, even with --allow-unsigned', async () => {
    requireBpf();
    const tampered = copyOfGuest((bytes) => {
      bytes[Math.floor(bytes.length / 3)] ^= 0x01;
      return bytes;
    });
    const { code, stderr } = await runKdelay(['run', '--trust-key', author.publicFile, '--allow-unsigned', tampered, 1, 1, 100]);
    expect(code).toBe(78);
    expect(stderrLines(stderr)).toEqual([expect.stringMatching(/^kdelay: refusing \S+: digest mismatch: the file was changed after it was sealed/)]);
  });
});

/** (module (memory (export "memory") 1)): valid wasm, but not a WASI command. */
function noStartModule(): string {
  const file = join(out, 'no-start.wasm');
  writeFileSync(file, Buffer.from('0061736d010000000503010001070a01066d656d6f72790200', 'hex'));
  return file;
}

describe.skipIf(skipWithoutBpf)('kdelay run: the example guest', () => {
  it("prints exactly the target thread's getppid() calls, stops after COUNT, releases everything", async () => {
    requireBpf();
    const calls = 1000;
    const { code, stdout, stderr, tid } = await runWithWorkload(calls, (pid) => [...signedGuest(), pid, calls, 5000]);
    expect(code, stderr).toBe(0);
    expect(stderr).toBe('');
    const lines = stdout.split('\n').filter(Boolean);
    expect(lines[0]).toBe(`attached: watching getppid() in PID ${workload!.pid}`);
    const events = lines.filter((l) => l.startsWith('getppid ')).map((l) => l.match(EVENT_LINE));
    expect(events).toHaveLength(calls);
    expect(
      events.every((m) => m !== null && Number(m[1]) === tid),
      stdout,
    ).toBe(true);
    // One thread's records come out of the ring in the order it made the calls.
    const stamps = events.map((m) => BigInt(m![2]));
    expect(stamps.every((t, i) => i === 0 || t >= stamps[i - 1])).toBe(true);
    expect(lines.at(-1)).toBe(`total: calls=${calls} events=${calls} lost=0`);
    expect(lines).toHaveLength(calls + 2);
    expect(await waitUntilNoKdelayPrograms(GUEST_PROGRAMS)).toEqual([]);
  });

  it('stops at its timeout when fewer events come, with none twice', async () => {
    requireBpf();
    const { code, stdout, stderr, tid, elapsedMs } = await runWithWorkload(5, (pid) => [...signedGuest(), pid, 50, 1500]);
    expect(code, stderr).toBe(0);
    const events = stdout.split('\n').filter((l) => EVENT_LINE.test(l));
    expect(events).toHaveLength(5);
    expect(events.every((l) => l.startsWith(`getppid tid=${tid} `))).toBe(true);
    expect(stdout).toMatch(/^total: calls=5 events=5 lost=0$/m);
    expect(elapsedMs).toBeGreaterThanOrEqual(1500);
    expect(await waitUntilNoKdelayPrograms(GUEST_PROGRAMS)).toEqual([]);
  });
});

// Through the CLI: what the user sees. Whether the host itself releases what
// a guest left behind cannot show here (the kernel releases a dead process's
// fds anyway); the in-process tests below check that.
describe.skipIf(skipWithoutBpf)('kdelay run: more events than the ring holds', () => {
  it('every call is either delivered once or counted as lost', async () => {
    requireBpf();
    // 200k calls in a burst of well under a second; the 256 KiB ring holds about 11k records.
    const calls = 200_000;
    const { code, stdout, stderr } = await runWithWorkload(calls, (pid) => [...signedGuest(), pid, calls, 2000]);
    expect(code, stderr).toBe(0);
    const delivered = stdout.split('\n').filter((l) => EVENT_LINE.test(l)).length;
    const [, counted, events, lost] = stdout.match(/^total: calls=(\d+) events=(\d+) lost=(\d+)$/m)!.map(Number);
    expect(counted).toBe(calls);
    expect(events).toBe(delivered);
    expect(delivered + lost).toBe(calls);
  });
});

describe.skipIf(skipWithoutBpf)('kdelay run: guests that misbehave', () => {
  it('a bad pointer after attaching: one line on stderr, exit 70', async () => {
    requireBpf();
    const { code, stdout, stderr } = await runKdelay(['run', ...unsignedMisbehaving(), 'trap', 1]);
    expect(stdout).toBe('attached\n');
    expect(code).toBe(70);
    expect(stderrLines(stderr)).toEqual([expect.stringMatching(/^kdelay: \S+plain_misbehaving\.wasm trapped: map key: \[\d+, \d+\) is outside guest memory/)]);
  });

  it('proc_exit with its program attached: its exit code', async () => {
    requireBpf();
    const { code, stdout, stderr } = await runKdelay(['run', ...unsignedMisbehaving(), 'exit', 1]);
    expect(stdout).toBe('attached\n');
    expect(stderr).toBe('');
    expect(code).toBe(3);
  });

  it('proc_exit from inside the ring-buffer callback: its exit code', async () => {
    requireBpf();
    const { code, stdout, stderr } = await runWithWorkload(1, (pid) => [...unsignedMisbehaving(), 'callback-exit', pid]);
    expect(stdout).toBe('attached\n');
    expect(stderr).toBe('');
    expect(code).toBe(4);
  });

  it('a callback index outside its table traps', async () => {
    requireBpf();
    const { code, stderr } = await runWithWorkload(1, (pid) => [...unsignedMisbehaving(), 'bad-callback', pid]);
    expect(code).toBe(70);
    expect(stderrLines(stderr)).toEqual([expect.stringMatching(/trapped: ring-buffer callback 9999 is outside the guest's function table/)]);
  });

  it('a poll from inside the callback traps (it would deliver records twice)', async () => {
    requireBpf();
    const { code, stderr } = await runWithWorkload(1, (pid) => [...unsignedMisbehaving(), 'reenter', pid]);
    expect(code).toBe(70);
    expect(stderrLines(stderr)).toEqual([expect.stringMatching(/trapped: wasm_bpf_buffer_poll called from a ring-buffer callback$/)]);
  });

  it('a record longer than max_size: max_size bytes copied, the full size passed', async () => {
    requireBpf();
    const { code, stdout, stderr, tid } = await runWithWorkload(1, (pid) => [...unsignedMisbehaving(), 'truncate', pid]);
    expect(code, stderr).toBe(0);
    // 16-byte record, 4 bytes copied (the tid); byte 4 keeps the guest's 0xee fill.
    expect(stdout).toBe(`attached\nsize=16 tid=${tid} after=238\npoll=1\n`);
  });

  it('an object with a networking program: refused by the policy, the load returns 0 and the host says why', async () => {
    requireBpf();
    const { code, stdout, stderr } = await runKdelay(['run', ...unsignedMisbehaving(), 'policy', 1]);
    expect(stdout).toBe('load failed\n');
    expect(code).toBe(1);
    expect(stderrLines(stderr)).toEqual([expect.stringMatching(/^kdelay: wasm_load_bpf_object failed: .*program section "xdp" is not an allowed kind/)]);
  });
});

/** This process's BPF fds (programs, maps, links) and mappings of BPF maps (ring buffers). */
function bpfHandles(): string[] {
  const fds = readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith('anon_inode:bpf') ? [`fd ${target}`] : [];
    } catch {
      return []; // the fd readdir itself used, already closed
    }
  });
  const maps = readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.includes('bpf-map'))
    .map((l) => `mmap ${l.split(/\s+/).slice(-1)[0]}`);
  return [...fds, ...maps].sort();
}

/**
 * The host's own cleanup, in this process (which outlives the guest, unlike
 * `kdelay run`): after a guest traps, calls proc_exit (also from inside its
 * ring callback) or returns with its object still open and its ring mapped,
 * no program, map, link or ring mapping of it is left.
 */
describe.skipIf(skipWithoutBpf)('runPlainGuest releases what the guest left', () => {
  let backend: BpfBackend;
  let module: WebAssembly.Module;

  beforeAll(async () => {
    if (skipWithoutBpf) return;
    requireBpf();
    const { LibbpfBackend } = await import('../../host/libbpf/libbpf-backend.js');
    const { libbpfLog } = await import('../../host/libbpf/log.js');
    libbpfLog.install(false);
    backend = new LibbpfBackend();
    module = new WebAssembly.Module(readFileSync(misbehaving));
  });

  /** Runs the guest in this process with its stdout in a file; returns its exit code (or the trap) and output. */
  async function runHere(args: (string | number)[]) {
    const stdoutFile = join(out, `stdout-${args[0]}.txt`);
    const fd = openSync(stdoutFile, 'w');
    let result: number | PlainGuestTrap;
    try {
      result = await runPlainGuest(module, { path: misbehaving, args: args.map(String), backend, stdout: fd });
    } catch (err) {
      if (!(err instanceof PlainGuestTrap)) throw err;
      result = err;
    } finally {
      closeSync(fd);
    }
    return { result, stdout: readFileSync(stdoutFile, 'utf8') };
  }

  /**
   * A target that calls getppid() without pause: the guest blocks this
   * thread from the moment it starts, so nothing could signal a workload
   * once it is attached.
   */
  async function busyTarget(): Promise<number> {
    workload = await startWorkload('getppid_calls', [50_000_000]);
    workload.child.kill('SIGUSR1');
    return workload.pid;
  }

  it.each([
    ['a trap after attaching', () => ['trap', 1], (r: number | PlainGuestTrap) => expect(r).toBeInstanceOf(PlainGuestTrap), 'attached\n'],
    ['proc_exit after attaching', () => ['exit', 1], (r: number | PlainGuestTrap) => expect(r).toBe(3), 'attached\n'],
    ['proc_exit inside the ring callback', async () => ['callback-exit', await busyTarget()], (r: number | PlainGuestTrap) => expect(r).toBe(4), 'attached\n'],
    [
      'a return with the object open and the ring mapped',
      async () => ['truncate', await busyTarget()],
      (r: number | PlainGuestTrap) => expect(r).toBe(0),
      /^attached\nsize=16 tid=\d+ after=238\npoll=1\n$/,
    ],
  ])('%s', async (_what, args, checkResult, expectedStdout) => {
    requireBpf();
    const before = bpfHandles();
    const { result, stdout } = await runHere(await args());
    checkResult(result);
    if (typeof expectedStdout === 'string') expect(stdout).toBe(expectedStdout);
    else expect(stdout).toMatch(expectedStdout);
    expect(bpfHandles()).toEqual(before);
    expect(await waitUntilNoKdelayPrograms(GUEST_PROGRAMS)).toEqual([]);
  });
});

describe.skipIf(skipWithoutBpf)('runPlainGuest output', () => {
  it('a reader slower than the guest loses no line, even on a non-blocking pipe', async () => {
    requireBpf();
    const { LibbpfBackend } = await import('../../host/libbpf/libbpf-backend.js');
    const module = new WebAssembly.Module(readFileSync(misbehaving));
    // A FIFO whose reader starts reading only after the guest has long filled it (64 KiB).
    const fifo = join(out, 'slow-reader.fifo');
    execFileSync('mkfifo', [fifo]);
    const reader = spawn('sh', ['-c', 'exec 3<"$0"; sleep 1; wc -l <&3', fifo], { stdio: ['ignore', 'pipe', 'inherit'] });
    let counted = '';
    reader.stdout.on('data', (d) => (counted += d));
    const readerDone = new Promise((resolve) => reader.on('close', resolve));
    // Node's own process.stdout is a non-blocking pipe as soon as anything touches it: the same here.
    const fd = await openWhenReaderIsThere(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    const lines = 20_000; // about 230 KB
    try {
      expect(await runPlainGuest(module, { path: misbehaving, args: ['flood', String(lines)], backend: new LibbpfBackend(), stdout: fd })).toBe(0);
    } finally {
      closeSync(fd);
    }
    await readerDone;
    expect(Number(counted.trim())).toBe(lines);
  });

  it('a guest whose stdout reader has gone is stopped (EPIPE), exit 0, as `kdelay | head`', async () => {
    requireBpf();
    // 100 million lines would take minutes: it must end within moments of the reader closing.
    const kdelay = startKdelay(['run', '--allow-unsigned', misbehaving, 'flood', 100_000_000]);
    await kdelay.waitForOutput(/^line 1$/m);
    const closedAt = Date.now();
    kdelay.child.stdout!.destroy();
    const result = await kdelay.done;
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(Date.now() - closedAt).toBeLessThan(5000);
  });
});

/** A non-blocking open of a FIFO for writing fails (ENXIO) until its reader has opened it. */
async function openWhenReaderIsThere(fifo: string, flags: number): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      return openSync(fifo, flags);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENXIO' || attempt > 200) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}
