/** The libbpfs kdelay could pick (host/libbpf/locate.ts), for tests that hide them in a private mount namespace. */
import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../host/package-root.js';

/** The copy that ships with kdelay for this machine's architecture. */
export const SHIPPED_LIBBPF = join(PACKAGE_ROOT, 'vendor', 'libbpf', process.arch, 'libbpf.so.1');

/** Every libbpf.so.N file the dynamic loader would find on this machine (real paths). */
export function systemLibbpfFiles(): string[] {
  const out = execFileSync('ldconfig', ['-p'], { encoding: 'utf8' });
  return [...new Set([...out.matchAll(/^\s*libbpf\.so\.\d+ .*=> (\S+)$/gm)].map((m) => realpathSync(m[1])))];
}

/** Shell commands that replace these files by /dev/null (run them inside `unshare -m` only). */
export const hideFilesScript = (files: string[]) => files.map((f) => `mount --bind /dev/null '${f}'`).join(' && ') || 'true';
