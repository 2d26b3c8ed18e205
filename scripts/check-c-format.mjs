#!/usr/bin/env node
// npm run lint:c: the BPF C (probes/**/*.{c,h}, host/bpf/*.c) must be what
// clang-format makes of it under .clang-format. clang-format comes from
// Debian's clang-format package (not npm); without it this says so and, under
// CI=true, fails, like the kernel tests without BPF. Reformatting C changes
// the line info in the objects' BTF, so bundles are rebuilt after it
// (npm run build:probes).
//
//   node scripts/check-c-format.mjs          check
//   node scripts/check-c-format.mjs --fix    rewrite the files in place
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

const listed = spawnSync('git', ['ls-files', '--', 'probes/*.c', 'probes/*.h', 'host/bpf/*.c'], { cwd: ROOT, encoding: 'utf8' });
if (listed.status !== 0) {
  console.error(`lint:c: git ls-files failed: ${listed.stderr.trim()}`);
  process.exit(1);
}
const files = listed.stdout.split('\n').filter(Boolean);

const version = spawnSync('clang-format', ['--version'], { encoding: 'utf8' });
if (version.error || version.status !== 0) {
  console.error(`lint:c: clang-format is not installed (Debian: apt-get install clang-format); ${files.length} C files unchecked`);
  process.exit(process.env.CI ? 1 : 0);
}

const fix = process.argv.includes('--fix');
const run = spawnSync('clang-format', [fix ? '-i' : '--dry-run', '--Werror', '--style=file', ...files], { cwd: ROOT, encoding: 'utf8' });
if (run.status !== 0) {
  const unformatted = [...new Set([...run.stderr.matchAll(/^([^:\n]+):\d+:\d+: (?:error|warning)/gm)].map((m) => m[1]))];
  console.error(`lint:c: not as .clang-format lays it out (${version.stdout.trim()}): ${unformatted.join(', ') || run.stderr.trim()}`);
  console.error("lint:c: 'node scripts/check-c-format.mjs --fix', then 'npm run build:probes' (the BTF line info changes)");
  process.exit(1);
}
console.log(`lint:c: ${files.length} C files ${fix ? 'formatted' : 'as .clang-format lays them out'}`);
