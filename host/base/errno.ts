/** Errors raised by the kernel layer, carrying a positive errno. */
import { constants } from 'node:os';

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, value]) => [value, name]));

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

export class BpfError extends Error {
  constructor(
    message: string,
    readonly errno: number,
  ) {
    super(message);
  }
}

export const ENOENT = constants.errno.ENOENT;
export const EINVAL = constants.errno.EINVAL;
export const EBADF = constants.errno.EBADF;
export const ENOSPC = constants.errno.ENOSPC;
export const EPERM = constants.errno.EPERM;
