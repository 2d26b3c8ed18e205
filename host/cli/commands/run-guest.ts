/**
 * `kdelay run [--debug] GUEST.wasm [ARGS...]`: runs a plain wasm-bpf guest
 * (see runtime/plain-guest.ts), the way upstream's `wasm-bpf GUEST.wasm
 * ARGS` does. The guest's stdout and stderr are kdelay's; its exit code is
 * kdelay's, except for the host's own failures:
 *
 *   2 usage, 77 not root, 78 the file is unreadable or not a plain guest,
 *   72 BPF/BTF/libbpf unavailable, 70 the guest trapped.
 */
import { Command } from 'commander';
import { admitSeal, trustedKeys } from '../../driver/catalog.js';
import { kdelayHome } from '../../driver/admission.js';
import { loadBackend } from '../../driver/measure.js';
import { PACKAGE_ROOT } from '../../package-root.js';
import { FileReadError, MAX_BUNDLE_BYTES, readRegularFile } from '../../bundle/files.js';
import { IntegrityError } from '../../bundle/seal.js';
import { withMemoryMaximum } from '../../bundle/bundle.js';
import { requireBpfCapabilities } from '../../system/capabilities.js';
import { PlainGuestError, plainGuestProblem, PlainGuestTrap, runPlainGuest } from '../../runtime/plain-guest.js';
import { printable } from '../../base/printable.js';
import { ExitCode, UserError } from '../../base/exit-codes.js';

const USAGE = 'usage: kdelay run [--debug] [--trust-key FILE] [--allow-unsigned] GUEST.wasm [ARGS...]';
const HELP = `${USAGE}

Runs a plain wasm-bpf guest: a WASI command that loads its own BPF object
through the six standard wasm_bpf imports. ARGS go to the guest (argv[0] is
GUEST.wasm); its output and exit code are kdelay's. Only tracing programs
load, and everything the guest loaded is released when it ends.

  --debug              print libbpf's messages on stderr
  --trust-key FILE     trust guests signed by this Ed25519 public key (PEM); repeatable
  --allow-unsigned     run a guest that is unsigned or signed by an untrusted key

A guest loads kernel code as root, so, like a probe bundle, it must carry a
kdelay.seal signed by a trusted key (npm run build:plain-guest -- DIR --key
KEY.pem signs one; see probes/README.md), unless --allow-unsigned. A guest
changed after it was sealed is always refused.

Run as root. Exit codes: the guest's own, or 2 usage, 70 the guest trapped,
72 BPF/BTF/libbpf unavailable, 77 not root, 78 unreadable or not a guest.
`;

/** `run` as commander defines it, for kdelay help, the man page and the completions (parsing is parseRunArguments: everything after GUEST.wasm is the guest's). */
export function runGuestDefinition(): Command {
  return new Command('run')
    .description('run a plain wasm-bpf guest (a WASI program using the wasm_bpf imports)')
    .usage('[OPTIONS] GUEST.wasm [ARGS...]')
    .argument('<GUEST.wasm>', 'the guest')
    .argument('[ARGS...]', "the guest's arguments")
    .option('--debug', "print libbpf's messages on stderr")
    .option('--trust-key <FILE>', 'trust guests signed by this Ed25519 public key (PEM); repeatable')
    .option('--allow-unsigned', 'run a guest that is unsigned or signed by an untrusted key');
}

interface RunArguments {
  debug: boolean;
  trustKeys: string[];
  allowUnsigned: boolean;
  path: string;
  guestArgs: string[];
}

/** Options come before the file; everything after it belongs to the guest, dashes included. */
function parseRunArguments(argv: string[]): RunArguments | 'help' {
  let debug = false;
  let allowUnsigned = false;
  const trustKeys: string[] = [];
  let i = 0;
  for (; i < argv.length && argv[i].startsWith('-'); i++) {
    const arg = argv[i];
    if (arg === '--') {
      i++;
      break;
    }
    if (arg === '-h' || arg === '--help') return 'help';
    if (arg === '--debug') debug = true;
    else if (arg === '--allow-unsigned') allowUnsigned = true;
    else if (arg === '--trust-key' && i + 1 < argv.length) trustKeys.push(argv[++i]);
    else throw new UserError(`run: unknown option ${arg}; ${USAGE}`, ExitCode.USAGE);
  }
  if (i >= argv.length) throw new UserError(`run: no guest file; ${USAGE}`, ExitCode.USAGE);
  return { debug, trustKeys, allowUnsigned, path: argv[i], guestArgs: argv.slice(i + 1) };
}

function readGuest(path: string): Uint8Array<ArrayBuffer> {
  try {
    return readRegularFile(path, MAX_BUNDLE_BYTES);
  } catch (err) {
    if (err instanceof FileReadError) throw new UserError(err.message, ExitCode.CONFIG);
    throw err;
  }
}

/** The same seal rules as for third-party probe bundles (driver/catalog.ts). */
function verifyGuest(bytes: Uint8Array, path: string, { trustKeys, allowUnsigned }: RunArguments): void {
  try {
    const trusted = trustedKeys(PACKAGE_ROOT, { kdelayHome: kdelayHome(), trustKeyFiles: trustKeys });
    admitSeal(bytes, path, trusted, { builtin: false, allowUnsigned });
  } catch (err) {
    if (err instanceof IntegrityError) throw new UserError(err.message, ExitCode.CONFIG);
    throw err;
  }
}

/** A guest's memory may grow to 1 GiB (16384 pages of 64 KiB); past that its memory.grow fails. */
export const GUEST_MAX_MEMORY_PAGES = 16384;

function compileGuest(bytes: Uint8Array<ArrayBuffer>, path: string): WebAssembly.Module {
  let module: WebAssembly.Module;
  try {
    const capped = withMemoryMaximum(bytes, GUEST_MAX_MEMORY_PAGES);
    if (typeof capped === 'string') throw new UserError(`${path}: not a plain wasm-bpf guest: ${capped}`, ExitCode.CONFIG);
    module = new WebAssembly.Module(capped);
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${path}: not a WebAssembly module (${(err as Error).message})`, ExitCode.CONFIG);
  }
  const problem = plainGuestProblem(module);
  if (problem) throw new UserError(`${path}: not a plain wasm-bpf guest: ${problem}`, ExitCode.CONFIG);
  return module;
}

/** argv: everything after `run`. Returns the exit code; host failures throw UserError. */
export async function runGuestCommand(argv: string[]): Promise<number> {
  const parsed = parseRunArguments(argv);
  if (parsed === 'help') {
    process.stdout.write(HELP);
    return ExitCode.OK;
  }
  const { debug, path, guestArgs } = parsed;
  requireBpfCapabilities();
  const bytes = readGuest(path);
  const module = compileGuest(bytes, path);
  verifyGuest(bytes, path, parsed);
  const backend = await loadBackend(debug);
  try {
    return await runPlainGuest(module, {
      path,
      args: guestArgs,
      backend,
      note: (line) => process.stderr.write(`kdelay: ${printable(line)}\n`),
    });
  } catch (err) {
    if (err instanceof PlainGuestTrap) {
      process.stderr.write(`kdelay: ${printable(err.message)}\n`);
      return ExitCode.SOFTWARE;
    }
    if (err instanceof PlainGuestError) throw new UserError(err.message, ExitCode.CONFIG);
    throw err;
  }
}
