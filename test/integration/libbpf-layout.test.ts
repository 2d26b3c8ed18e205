/**
 * The koffi struct layouts in host/libbpf/structs.ts against the C compiler's
 * view of libbpf's own headers: a wrong offset would make libbpf read
 * garbage options without any error.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { requireBpf, skipWithoutBpf } from '../helpers/bpf.js';
import { koffi } from '../../host/libbpf/libc.js';
import { OPTS_STRUCTS } from '../../host/libbpf/structs.js';
import { tempDir } from '../helpers/temp-dirs.js';

/** Every field kdelay declares (a `removed_` one is an unnamed padding field in C). */
const FIELDS: Record<string, string[]> = Object.fromEntries(
  Object.entries(OPTS_STRUCTS).map(([type, t]) => [type, Object.keys(t.members!).filter((f) => !f.startsWith('removed_'))]),
);

function cLayout(): Record<string, number> {
  const dir = tempDir('kdelay-layout-');
  const lines = Object.entries(FIELDS).flatMap(([type, fields]) => [
    `printf("${type} %zu\\n", sizeof(struct ${type}));`,
    ...fields.map((f) => `printf("${type}.${f} %zu\\n", offsetof(struct ${type}, ${f}));`),
  ]);
  writeFileSync(
    join(dir, 'layout.c'),
    `#include <stddef.h>\n#include <stdio.h>\n#include <bpf/libbpf.h>\n#include <bpf/bpf.h>\nint main(void) {\n${lines.join('\n')}\nreturn 0; }\n`,
  );
  execFileSync('gcc', ['-o', join(dir, 'layout'), join(dir, 'layout.c')]);
  const out = execFileSync(join(dir, 'layout'), { encoding: 'utf8' });
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((l) => [l.split(' ')[0], Number(l.split(' ')[1])]),
  );
}

describe.skipIf(skipWithoutBpf)('libbpf struct layouts', () => {
  // The shipped copy's headers are checked the same way by scripts/build-libbpf.mjs (build:libbpf, check:libbpf).
  it('match the installed libbpf headers (libbpf-dev)', () => {
    requireBpf();
    const c = cLayout();
    for (const [type, fields] of Object.entries(FIELDS)) {
      const t = OPTS_STRUCTS[type as keyof typeof OPTS_STRUCTS];
      expect(koffi.sizeof(t), `sizeof ${type}`).toBe(c[type]);
      for (const f of fields) expect(koffi.offsetof(t, f), `${type}.${f}`).toBe(c[`${type}.${f}`]);
    }
  });
});
