/**
 * `kdelay run [--debug] GUEST.wasm [ARGS...]`: runs a plain wasm-bpf guest
 * (see runtime/plain-guest.ts), the way upstream's `wasm-bpf GUEST.wasm
 * ARGS` does. The guest's stdout and stderr are kdelay's; its exit code is
 * kdelay's, except for the host's own failures:
 *
 *   2 usage, 77 not root, 78 the file is unreadable or not a plain guest,
 *   72 BPF/BTF/libbpf unavailable, 70 the guest trapped.
 */
import { readFileSync } from 'node:fs';
import type { BpfBackend } from '../libbpf/backend.js';
import { requireKernelBtf } from '../driver/run.js';
import { PlainGuestError, plainGuestProblem, PlainGuestTrap, runPlainGuest } from '../runtime/plain-guest.js';
import { ExitCode, UserError } from './exit-codes.js';

const USAGE = 'usage: kdelay run [--debug] GUEST.wasm [ARGS...]';
const HELP = `${USAGE}

Runs a plain wasm-bpf guest: a WASI command that loads its own BPF object
through the six standard wasm_bpf imports. ARGS go to the guest (argv[0] is
GUEST.wasm); its output and exit code are kdelay's. Only tracing programs
load, and everything the guest loaded is released when it ends.

  --debug   print libbpf's messages on stderr

Run as root. Exit codes: the guest's own, or 2 usage, 70 the guest trapped,
72 BPF/BTF/libbpf unavailable, 77 not root, 78 unreadable or not a guest.
`;
/** sysexits' EX_SOFTWARE: the guest broke the ABI or hit a wasm trap. */
const GUEST_TRAPPED = 70;

interface RunArguments {
  debug: boolean;
  path: string;
  guestArgs: string[];
}

/** Options come before the file; everything after it belongs to the guest, dashes included. */
function parseRunArguments(argv: string[]): RunArguments | 'help' {
  let debug = false;
  let i = 0;
  for (; i < argv.length && argv[i].startsWith('-'); i++) {
    const arg = argv[i];
    if (arg === '--') {
      i++;
      break;
    }
    if (arg === '-h' || arg === '--help') return 'help';
    if (arg === '--debug') debug = true;
    else throw new UserError(`run: unknown option ${arg}; ${USAGE}`, ExitCode.USAGE);
  }
  if (i >= argv.length) throw new UserError(`run: no guest file; ${USAGE}`, ExitCode.USAGE);
  return { debug, path: argv[i], guestArgs: argv.slice(i + 1) };
}

function readGuest(path: string): Uint8Array<ArrayBuffer> {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UserError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, ExitCode.CONFIG);
  }
}

function compileGuest(bytes: Uint8Array<ArrayBuffer>, path: string): WebAssembly.Module {
  let module: WebAssembly.Module;
  try {
    module = new WebAssembly.Module(bytes);
  } catch (err) {
    throw new UserError(`${path}: not a WebAssembly module (${(err as Error).message})`, ExitCode.CONFIG);
  }
  const problem = plainGuestProblem(module);
  if (problem) throw new UserError(`${path}: not a plain wasm-bpf guest: ${problem}`, ExitCode.CONFIG);
  return module;
}

/** Loads the libbpf backend late, so a missing libbpf.so.1 is a clean exit 72 (as driver/run.ts does). */
async function loadBackend(debug: boolean): Promise<BpfBackend> {
  requireKernelBtf();
  try {
    const { LibbpfBackend } = await import('../libbpf/libbpf-backend.js');
    const { libbpfLog } = await import('../libbpf/log.js');
    libbpfLog.install(debug);
    return new LibbpfBackend();
  } catch (err) {
    throw new UserError(`BPF is unavailable: ${(err as Error).message}`, ExitCode.OSFILE);
  }
}

/** argv: everything after `run`. Returns the exit code; host failures throw UserError. */
export async function runCommand(argv: string[]): Promise<number> {
  const parsed = parseRunArguments(argv);
  if (parsed === 'help') {
    process.stdout.write(HELP);
    return ExitCode.OK;
  }
  const { debug, path, guestArgs } = parsed;
  if (process.geteuid?.() !== 0) throw new UserError('must run as root to load BPF programs', ExitCode.NOPERM);
  const bytes = readGuest(path);
  const module = compileGuest(bytes, path);
  const backend = await loadBackend(debug);
  try {
    return await runPlainGuest(module, {
      path,
      args: guestArgs,
      backend,
      note: (line) => process.stderr.write(`kdelay: ${line}\n`),
    });
  } catch (err) {
    if (err instanceof PlainGuestTrap) {
      process.stderr.write(`kdelay: ${err.message}\n`);
      return GUEST_TRAPPED;
    }
    if (err instanceof PlainGuestError) throw new UserError(err.message, ExitCode.CONFIG);
    throw err;
  }
}
