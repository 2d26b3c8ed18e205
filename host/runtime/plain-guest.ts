/**
 * Runs a plain wasm-bpf guest (`kdelay run`): a WASI command that uses the
 * six standard `wasm_bpf` imports and WASI preview1 only, as written for the
 * upstream wasm-bpf runtimes. It gets no `kdelay` extension imports and no
 * probe lifecycle: its `_start` runs once, owns the thread (the standard
 * buffer poll blocks synchronously) and its exit code is the result.
 *
 * The guarantees of probe guests hold here too: every pointer is
 * bounds-checked (GuestTrap), handles and map fds are per guest, the
 * program policy applies to every object it loads, and whatever it leaves
 * open in the kernel is released when it returns, traps or calls proc_exit.
 */
import type { WASI as WasiClass } from 'node:wasi';
import type { BpfBackend } from '../libbpf/backend.js';
import { GuestMemory, GuestTrap } from './guest-memory.js';
import { GuestSession } from './guest-session.js';
import { SharedMaps } from './shared-maps.js';
import { tableCallback, WASM_BPF_IMPORT_NAMES, wasmBpfImports } from './wasm-bpf-imports.js';

const WASI_MODULE = 'wasi_snapshot_preview1';
/** WASI preview1's errno for EPIPE. */
const WASI_EPIPE = 64;

/** The guest's stdout reader has gone (`kdelay run g.wasm | head`): the run ends, quietly, as kdelay's own does. */
class StdoutClosed extends Error {}

/** The module cannot run as a plain guest; found before any of it runs. One line. */
export class PlainGuestError extends Error {}

/** The guest trapped (ABI violation, wasm trap, stack overflow) while running. One line. */
export class PlainGuestTrap extends Error {}

/** What a plain guest must and must not have, as one line naming the first problem. */
export function plainGuestProblem(module: WebAssembly.Module): string | undefined {
  const imports = WebAssembly.Module.imports(module);
  // Said first: a probe bundle also imports env.abort, which would hide what it is.
  const extension = imports.find((i) => i.module === 'kdelay');
  if (extension) return `it imports kdelay.${extension.name}: it is a probe bundle (run those with kdelay --probe), not a plain guest`;
  for (const { module: from, name, kind } of imports) {
    if (from === 'wasm_bpf') {
      if (kind !== 'function' || !(WASM_BPF_IMPORT_NAMES as readonly string[]).includes(name)) {
        return `it imports wasm_bpf.${name}, which is not one of the six standard wasm_bpf imports`;
      }
    } else if (from !== WASI_MODULE || kind !== 'function') {
      return `it imports ${from}.${name} (${kind}); a plain guest gets only wasm_bpf and ${WASI_MODULE} functions`;
    }
  }
  const exports = new Map(WebAssembly.Module.exports(module).map((e) => [e.name, e.kind]));
  if (exports.get('_start') !== 'function') return 'it exports no _start function (not a WASI command)';
  if (exports.get('memory') !== 'memory') return 'it exports no memory';
  if (exports.has('_initialize')) return 'it exports _initialize (a WASI reactor, not a command)';
  return undefined;
}

const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;

/**
 * A WASI command expects its writes to stdout and stderr to complete: it has
 * no event loop to retry on EAGAIN. But Node switches a pipe to O_NONBLOCK
 * once anything touches process.stdout, and then a reader slower than the
 * guest made uvwasi's writes fail and lines vanish. So the guest's stdio
 * fds block while it runs; the returned
 * function restores what Node had set.
 */
async function blockingWhileRunning(fds: number[]): Promise<() => void> {
  const { c } = await import('../libbpf/libc.js');
  const restore: [number, number][] = [];
  for (const fd of new Set(fds)) {
    const flags = c.fcntl(fd, F_GETFL, 0);
    if (flags >= 0 && flags & O_NONBLOCK && c.fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) === 0) restore.push([fd, flags]);
  }
  return () => restore.forEach(([fd, flags]) => c.fcntl(fd, F_SETFL, flags));
}

/** Traps, as opposed to host bugs (which keep their stack trace). */
function trapMessage(err: unknown): string | undefined {
  if (err instanceof GuestTrap || err instanceof WebAssembly.RuntimeError) return err.message;
  if (err instanceof RangeError && /call stack/i.test(err.message)) return err.message; // runaway recursion in the guest
  return undefined;
}

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, '; ');

/**
 * node:wasi announces itself as experimental on stderr when first loaded.
 * The guest's stderr belongs to the guest, so keep that line out of it.
 */
async function loadWasi(): Promise<typeof WasiClass> {
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    if (type === 'ExperimentalWarning' && String(warning).includes('WASI')) return;
    return (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    return (await import('node:wasi')).WASI;
  } finally {
    process.emitWarning = emitWarning;
  }
}

export interface PlainGuestOptions {
  /** argv[0] as the guest sees it: the .wasm path, as upstream runtimes pass it. */
  path: string;
  /** argv[1...]. */
  args: string[];
  backend: BpfBackend;
  /** Host fds the guest's stdout and stderr write to. */
  stdout?: number;
  stderr?: number;
  /** Host messages about the guest (why a load failed), one line each. */
  note?: (line: string) => void;
}

/**
 * Instantiates and runs the guest; returns its exit code (0 when _start
 * returns, the code of proc_exit otherwise). Throws PlainGuestError if it
 * cannot start and PlainGuestTrap if it traps.
 */
export async function runPlainGuest(module: WebAssembly.Module, options: PlainGuestOptions): Promise<number> {
  const problem = plainGuestProblem(module);
  if (problem) throw new PlainGuestError(`${options.path}: not a plain wasm-bpf guest: ${problem}`);
  const WASI = await loadWasi();
  // Loaded late: it binds libc through koffi, which the caller has checked is usable.
  const { RingBufferPoller } = await import('./ring-buffer.js');

  const stdout = options.stdout ?? 1;
  const stderr = options.stderr ?? 2;
  // No env and no preopens: a guest sees its arguments, stdio and clocks, not the host's files.
  const wasi = new WASI({ version: 'preview1', args: [options.path, ...options.args], env: {}, returnOnExit: true, stdout, stderr });
  const name = options.path.replace(/^.*\//, '').replace(/\.wasm$/, '') || 'guest';
  const shared = new SharedMaps(options.backend);
  const session = new GuestSession(name, options.backend, shared);
  const poller = new RingBufferPoller();
  let memory: GuestMemory | undefined;
  let callSample: ReturnType<typeof tableCallback> | undefined;
  const guestMemory = () => {
    if (!memory) throw new GuestTrap('the guest called an import before its memory was available');
    return memory;
  };
  const wasiImports = wasi.getImportObject() as Record<string, Record<string, (...args: number[]) => number>>;
  const fdWrite = wasiImports[WASI_MODULE].fd_write;
  const imports: WebAssembly.Imports = {
    [WASI_MODULE]: {
      ...wasiImports[WASI_MODULE],
      // A guest that ignores EPIPE would write on, or run forever, for a reader that has gone: stop it there, as SIGPIPE would.
      fd_write: (fd: number, ...rest: number[]) => {
        const errno = fdWrite(fd, ...rest);
        if (errno === WASI_EPIPE && fd === 1) throw new StdoutClosed();
        return errno;
      },
    },
    wasm_bpf: wasmBpfImports({
      session,
      memory: guestMemory,
      poller,
      callSample: (index, ctx, data, size) => callSample!(index, ctx, data, size),
      onLoadFailure: (err) => options.note?.(`wasm_load_bpf_object failed: ${oneLine(err.message)}`),
    }),
  };
  const restoreStdio = await blockingWhileRunning([stdout, stderr]);
  try {
    let instance: WebAssembly.Instance;
    try {
      instance = new WebAssembly.Instance(module, imports);
    } catch (err) {
      if (err instanceof WebAssembly.LinkError) throw new PlainGuestError(`${options.path}: cannot link: ${oneLine(err.message)}`);
      throw err;
    }
    memory = new GuestMemory(instance.exports.memory as WebAssembly.Memory);
    callSample = tableCallback(instance);
    return wasi.start(instance) ?? 0;
  } catch (err) {
    if (err instanceof StdoutClosed) return 0;
    const trap = trapMessage(err);
    if (trap !== undefined) throw new PlainGuestTrap(`${options.path} trapped: ${oneLine(trap)}`);
    throw err;
  } finally {
    // Rings first (they map the maps), then links and objects.
    poller.close();
    session.close();
    shared.closeAll();
    restoreStdio();
  }
}
