/**
 * The koffi struct layouts in host/libbpf/ffi.ts against the C compiler's
 * view of libbpf's own headers: a wrong offset would make libbpf read
 * garbage options without any error.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { requireBpf, skipWithoutBpf } from './helpers/bpf.js';

const FIELDS: Record<string, string[]> = {
  bpf_object_open_opts: ['sz', 'object_name', 'relaxed_maps', 'pin_root_path', 'kconfig', 'btf_custom_path', 'kernel_log_buf', 'kernel_log_size', 'kernel_log_level'],
  bpf_map_batch_opts: ['sz', 'elem_flags', 'flags'],
  bpf_map_create_opts: ['sz', 'btf_fd', 'btf_key_type_id', 'btf_value_type_id', 'btf_vmlinux_value_type_id', 'inner_map_fd', 'map_flags', 'map_extra', 'numa_node', 'map_ifindex'],
};

function cLayout(): Record<string, number> {
  const dir = mkdtempSync(join(tmpdir(), 'kdelay-layout-'));
  const lines = Object.entries(FIELDS).flatMap(([type, fields]) => [
    `printf("${type} %zu\\n", sizeof(struct ${type}));`,
    ...fields.map((f) => `printf("${type}.${f} %zu\\n", offsetof(struct ${type}, ${f}));`),
  ]);
  writeFileSync(join(dir, 'layout.c'), `#include <stddef.h>\n#include <stdio.h>\n#include <bpf/libbpf.h>\n#include <bpf/bpf.h>\nint main(void) {\n${lines.join('\n')}\nreturn 0; }\n`);
  execFileSync('gcc', ['-o', join(dir, 'layout'), join(dir, 'layout.c')]);
  const out = execFileSync(join(dir, 'layout'), { encoding: 'utf8' });
  return Object.fromEntries(out.trim().split('\n').map((l) => [l.split(' ')[0], Number(l.split(' ')[1])]));
}

describe.skipIf(skipWithoutBpf)('libbpf struct layouts', () => {
  it('match the installed libbpf headers', async () => {
    requireBpf();
    const { koffi, OpenOpts, MapBatchOpts, MapCreateOpts } = await import('../host/libbpf/ffi.js');
    const c = cLayout();
    const ours: Record<string, unknown> = { bpf_object_open_opts: OpenOpts, bpf_map_batch_opts: MapBatchOpts, bpf_map_create_opts: MapCreateOpts };
    for (const [type, fields] of Object.entries(FIELDS)) {
      const t = ours[type] as Parameters<typeof koffi.sizeof>[0];
      expect(koffi.sizeof(t), `sizeof ${type}`).toBe(c[type]);
      for (const f of fields) expect(koffi.offsetof(t, f), `${type}.${f}`).toBe(c[`${type}.${f}`]);
    }
  });
});
