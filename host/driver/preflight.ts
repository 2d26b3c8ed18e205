/**
 * Preflight: what the environment must offer before anything is loaded,
 * each said as one line and an exit code rather than met later as a
 * probe's unrelated failure: the kernel's BTF, file descriptors, memory
 * limits (RLIMIT_AS, the memory cgroup) and -s's kernel buffers. Reads
 * /proc and /sys; the decisions take their facts as arguments where tests
 * need them (test/unit/preflight.test.ts, test/integration/cli.test.ts).
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { BpfError } from '../base/errno.js';
import { ExitCode, UserError } from '../base/exit-codes.js';
import { PAGE_SIZE } from '../runtime/ring-buffer.js';
import { type KdelayOptions, nextPowerOfTwo } from './options.js';
import { EVENTS_MAP, MAX_STACK_DEPTH, STACKS_MAP } from './syscall-events.js';

const BTF_PATH = '/sys/kernel/btf/vmlinux';
const EMFILE = 24; // x86-64 and the common arm64 configuration

/** CO-RE needs the running kernel's BTF; say so plainly when it is missing or unreadable. */
export function requireKernelBtf(path = BTF_PATH): void {
  if (!existsSync(path)) {
    throw new UserError(`the kernel has no BTF (${path} is missing); kdelay needs a kernel built with CONFIG_DEBUG_INFO_BTF=y`, ExitCode.OSFILE);
  }
  const problem = btfHeaderProblem(path);
  if (problem) throw new UserError(`the kernel's BTF is unreadable (${path}: ${problem}); kdelay needs it to relocate its probes`, ExitCode.OSFILE);
}

const BTF_MAGIC = 0xeb9f;
const BTF_HEADER_BYTES = 24;

/**
 * What is wrong with a BTF file's header, if anything: magic, version, and
 * sections that fit in the file. libbpf reads this file to relocate every
 * probe; a corrupt one made each probe fail with an unrelated errno (ESRCH).
 */
export function btfHeaderProblem(path: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const header = Buffer.alloc(BTF_HEADER_BYTES);
    const got = readSync(fd, header, 0, BTF_HEADER_BYTES, 0);
    if (got < BTF_HEADER_BYTES) return `${got} bytes, shorter than a BTF header`;
    if (header.readUInt16LE(0) !== BTF_MAGIC && header.readUInt16BE(0) !== BTF_MAGIC) return 'not BTF (bad magic)';
    const le = header.readUInt16LE(0) === BTF_MAGIC;
    const u32 = (at: number) => (le ? header.readUInt32LE(at) : header.readUInt32BE(at));
    if (header[2] !== 1) return `BTF version ${header[2]}, expected 1`;
    const [hdrLen, typeOff, typeLen, strOff, strLen] = [u32(4), u32(8), u32(12), u32(16), u32(20)];
    const size = fstatSync(fd).size;
    const end = hdrLen + Math.max(typeOff + typeLen, strOff + strLen);
    if (hdrLen < BTF_HEADER_BYTES || (size > 0 && end > size)) return `its sections (${end} bytes) do not fit in the file (${size} bytes)`;
    return undefined;
  } catch (err) {
    return `cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** A ring buffer's size is a u32 power of two: 2 GiB is the largest the kernel takes. */
const MAX_RING_BYTES = 2 ** 31;

const mib = (bytes: number) => `${Math.ceil(bytes / 2 ** 20)} MiB`;

/** MemAvailable from /proc/meminfo, in bytes (undefined if unreadable). */
function availableMemory(): number | undefined {
  try {
    const kib = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}

/**
 * -s's ring (--buffer-page-count) and stack table (--stack-trace-size) are
 * kernel memory, allocated when the maps are created: a size the kernel
 * cannot take is said as such, before anything is created (the kernel's
 * own refusal read as "BPF is unavailable"). Limits: the ring's u32 size,
 * and what both need against the memory available now (kernel BPF memory is
 * charged to the memory cgroup since 5.11, not RLIMIT_MEMLOCK).
 */
export function checkEventBufferSizes(options: Pick<KdelayOptions, 'bufferPageCount' | 'stackTraceSize'>, available = availableMemory()): void {
  const ringBytes = options.bufferPageCount * PAGE_SIZE;
  if (ringBytes > MAX_RING_BYTES) {
    throw new UserError(
      `--buffer-page-count ${options.bufferPageCount}: a ring of ${mib(ringBytes)} is larger than the kernel's maximum of 2048 MiB (at most ${MAX_RING_BYTES / PAGE_SIZE} pages)`,
      ExitCode.USAGE,
    );
  }
  if (options.stackTraceSize > 2 ** 31) throw new UserError(`--stack-trace-size ${options.stackTraceSize}: larger than the kernel's maximum of ${2 ** 31} entries`, ExitCode.USAGE);
  // The stack map preallocates a bucket per entry (rounded up to a power of two) with room for a full stack.
  const stackBytes = nextPowerOfTwo(options.stackTraceSize) * (MAX_STACK_DEPTH * 8 + 16) * (options.stackTraceSize > 0 ? 1 : 0);
  if (available !== undefined && ringBytes + stackBytes > available / 2) {
    throw new UserError(
      `--buffer-page-count ${options.bufferPageCount} and --stack-trace-size ${options.stackTraceSize} need ${mib(ringBytes + stackBytes)} of kernel memory (ring ${mib(ringBytes)}, stacks ${mib(stackBytes)}), more than half of the ${mib(available)} available`,
      ExitCode.USAGE,
    );
  }
}

/** The soft RLIMIT_NOFILE, from /proc/self/limits. */
function openFileLimit(): string {
  try {
    return /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * File descriptors a run needs: ~75 measured at the peak with -s (programs,
 * maps, links, BTF, Node's own), with room for triggers and third-party probes.
 */
const NEEDED_FILE_DESCRIPTORS = 128;

const tooFewFds = () =>
  new UserError(
    `too few file descriptors: the open-file limit (RLIMIT_NOFILE) is ${openFileLimit()}, kdelay needs about ${NEEDED_FILE_DESCRIPTORS} (raise it, e.g. ulimit -n 1024)`,
    ExitCode.OSERR,
  );

/**
 * Checked before loading: out of descriptors, libbpf does not always say
 * EMFILE (a load can fail with EINVAL), which read as a broken probe.
 */
export function checkFileDescriptorLimit(): void {
  const limit = Number(openFileLimit());
  if (Number.isFinite(limit) && limit < NEEDED_FILE_DESCRIPTORS) throw tooFewFds();
}

const GIB = 2 ** 30;

/**
 * Address space a run needs (RLIMIT_AS, `ulimit -v`): not memory, but V8
 * reserves about 8 GiB of it for each WebAssembly memory (one per probe
 * bundle) plus guard regions; under less, a probe failed to start ("Cannot
 * allocate Wasm memory"), and under about 1 GiB Node itself cannot start.
 */
const NEEDED_ADDRESS_SPACE = 64 * GIB;

/**
 * Memory a run needs in its memory cgroup: a small run peaks at about 76 MiB
 * resident; under a smaller memory.max (memory.limit_in_bytes) the kernel's
 * OOM killer ended kdelay mid-run, without a word.
 */
const NEEDED_MEMORY = 96 * 2 ** 20;

/** The soft RLIMIT_AS in bytes, or undefined when unlimited or unknown. */
function addressSpaceLimit(): number | undefined {
  try {
    const value = /^Max address space\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
    return value === undefined || value === 'unlimited' ? undefined : Number(value);
  } catch {
    return undefined;
  }
}

/**
 * The tightest memory limit of kdelay's memory cgroup and its ancestors
 * (cgroup v2 memory.max, v1 memory.limit_in_bytes), or undefined when none
 * is set or none can be read.
 */
export function cgroupMemoryLimit(procSelfCgroup = '/proc/self/cgroup', root = '/sys/fs/cgroup'): { bytes: number; file: string } | undefined {
  let lines: string[];
  try {
    lines = readFileSync(procSelfCgroup, 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const candidates: { dir: string; file: string }[] = [];
  for (const line of lines) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (path === undefined) continue;
    if (controllers === '' && existsSync(`${root}/cgroup.controllers`)) candidates.push({ dir: `${root}${path}`, file: 'memory.max' });
    if (controllers.split(',').includes('memory')) candidates.push({ dir: `${root}/memory${path}`, file: 'memory.limit_in_bytes' });
  }
  let tightest: { bytes: number; file: string } | undefined;
  for (const { dir, file } of candidates) {
    for (let d = dir.replace(/\/+$/, ''); d.length >= root.length; d = d.slice(0, d.lastIndexOf('/'))) {
      let text: string;
      try {
        text = readFileSync(`${d}/${file}`, 'utf8').trim();
      } catch {
        continue;
      }
      const bytes = Number(text);
      // v2 says "max"; v1's "no limit" is a number near 2^63.
      if (Number.isFinite(bytes) && bytes < 2 ** 60 && (!tightest || bytes < tightest.bytes)) tightest = { bytes, file: `${d}/${file}` };
    }
  }
  return tightest;
}

/**
 * Checked before anything is loaded: a memory limit too small for kdelay
 * made Node die of SIGTRAP or the OOM killer end the run, with no report
 * and nothing said. One line naming the limit and what kdelay needs, exit
 * 71, as for too few file descriptors.
 */
export function checkMemoryLimits(addressSpace = addressSpaceLimit(), cgroup = cgroupMemoryLimit()): void {
  if (addressSpace !== undefined && addressSpace < NEEDED_ADDRESS_SPACE) {
    throw new UserError(
      `the address-space limit (RLIMIT_AS, ulimit -v) is ${mib(addressSpace)}; kdelay needs ${NEEDED_ADDRESS_SPACE / GIB} GiB of address space, not memory: each probe's WebAssembly memory reserves 8 GiB of it (ulimit -v unlimited)`,
      ExitCode.OSERR,
    );
  }
  if (cgroup && cgroup.bytes < NEEDED_MEMORY) {
    throw new UserError(`the memory cgroup's limit (${cgroup.file}) is ${mib(cgroup.bytes)}; kdelay needs at least ${mib(NEEDED_MEMORY)} of memory`, ExitCode.OSERR);
  }
}

/** Failures whose cause is a limit, not BPF: said as what they are. */
export function limitFailure(err: Error & { errno?: number }): UserError | undefined {
  if (err.errno === EMFILE || / EMFILE\b|Too many open files/.test(err.message)) {
    return tooFewFds();
  }
  if (err instanceof BpfError && (err.message.includes(EVENTS_MAP) || err.message.includes(STACKS_MAP))) {
    return new UserError(`the kernel refused the -s buffers (${err.message}): lower --buffer-page-count or --stack-trace-size`, ExitCode.OSERR);
  }
  return undefined;
}
