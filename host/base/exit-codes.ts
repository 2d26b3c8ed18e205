/**
 * Every exit code kdelay uses, in one module below all the others: sysexits(3)
 * codes, as kernel_delay.py uses them (plus argparse's 2).
 */
export const ExitCode = {
  OK: 0,
  USAGE: 2, // bad command line (argparse's code in the reference)
  DATAERR: 65, // a recording that is not one, cut short, or from a newer kdelay
  NOINPUT: 66, // several candidate target processes
  UNAVAILABLE: 69, // no target process
  SOFTWARE: 70, // kdelay run: the guest broke the ABI or hit a wasm trap
  OSERR: 71, // a probe failed to load or attach
  OSFILE: 72, // BPF, BTF or libbpf missing
  CANTCREAT: 73, // --write's file cannot be created
  IOERR: 74, // the report could not be written (disk full, I/O error)
  NOPERM: 77, // not root
  CONFIG: 78, // bad trigger
} as const;

/** An error meant for the user: one line on stderr, then this exit code. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}
