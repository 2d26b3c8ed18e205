/**
 * The one way kdelay reads a file a user or a folder names (bundles, plain
 * guests, keys): only a regular file, and only up to a size limit. A FIFO
 * would block forever and /dev/zero would fill memory; a folder or a device
 * is a mistake worth one clear line, not a hang.
 */
import { closeSync, constants, fstatSync, openSync, readdirSync, readSync, statSync } from 'node:fs';

/** Size limits: far above anything real, far below what would hurt. */
export const MAX_BUNDLE_BYTES = 64 * 1024 * 1024;
export const MAX_KEY_BYTES = 64 * 1024;

/** Why a file was not read, in words (for one line on stderr). */
export class FileReadError extends Error {}

const describeErrno = (err: unknown): string => {
  const e = err as NodeJS.ErrnoException;
  return e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : (e.code ?? e.message);
};

function kindOf(stats: import('node:fs').Stats): string {
  if (stats.isFile()) return 'a file';
  if (stats.isDirectory()) return 'a folder';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  return 'a special file';
}

/**
 * The whole of a regular file of at most maxBytes. The file is opened
 * without blocking (a FIFO's open would wait for a writer) and checked with
 * fstat on that descriptor, so a file swapped in between cannot slip past;
 * reading stops at maxBytes + 1 even if the file grows meanwhile.
 */
export function readRegularFile(path: string, maxBytes: number): Buffer<ArrayBuffer> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    throw new FileReadError(`${path}: cannot read (${describeErrno(err)})`);
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new FileReadError(`${path}: ${kindOf(stats)}, not a regular file`);
    if (stats.size > maxBytes) throw new FileReadError(`${path}: ${stats.size} bytes, more than the ${maxBytes} kdelay reads`);
    const buffer = Buffer.alloc(Math.min(stats.size, maxBytes) + 1);
    let length = 0;
    for (let n; length < buffer.length && (n = readSync(fd, buffer, length, buffer.length - length, null)) > 0;) length += n;
    if (length > maxBytes) throw new FileReadError(`${path}: grew past ${maxBytes} bytes while being read`);
    return buffer.subarray(0, length);
  } catch (err) {
    if (err instanceof FileReadError) throw err;
    throw new FileReadError(`${path}: cannot read (${describeErrno(err)})`);
  } finally {
    closeSync(fd);
  }
}

/**
 * Why a path whose listing failed with ENOTDIR is no folder: itself, or the
 * first of its parents that is not one ($KDELAY_HOME=/dev/null makes
 * /dev/null/probes.d, whose own stat fails with ENOTDIR as well).
 */
function notAFolder(dir: string): string {
  const parts = dir.split('/');
  for (let n = dir.startsWith('/') ? 2 : 1; n <= parts.length; n++) {
    const path = parts.slice(0, n).join('/');
    if (path === '' || path.endsWith('/')) continue;
    let stats: import('node:fs').Stats;
    try {
      stats = statSync(path);
    } catch {
      break;
    }
    if (!stats.isDirectory()) return path === dir ? `${dir}: ${kindOf(stats)}, expected a folder` : `${dir}: ${path} is ${kindOf(stats)}, not a folder`;
  }
  return `${dir}: not a folder`;
}

/**
 * The names in a folder that end with suffix, sorted, as full paths;
 * [] when the folder does not exist. Anything else that stops the listing
 * (not a folder, no permission) is a FileReadError.
 */
export function filesInFolder(dir: string, suffix: string, { missingOk = true } = {}): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith(suffix))
      .sort()
      .map((f) => `${dir.replace(/\/+$/, '')}/${f}`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && missingOk) return [];
    if (code === 'ENOTDIR') throw new FileReadError(notAFolder(dir));
    throw new FileReadError(`${dir}: cannot list (${describeErrno(err)})`);
  }
}
