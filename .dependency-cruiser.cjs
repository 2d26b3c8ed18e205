/**
 * The layers of host/ and the only directions imports may point (drawn in
 * ARCHITECTURE.md, "Layers"). Written once here: each layer names the layers
 * it may import; every other import between host/ folders is an error.
 * `npm test` runs this (test/unit/layers.test.ts), so CI fails on an upward import.
 */
'use strict';

/** layer -> the folders (or files) under host/ it consists of. */
const FOLDERS = {
  // bpf/: BPF objects the host loads itself (generated data, importing nothing).
  base: ['base/', 'package-root.ts', 'bpf/'],
  symbols: ['symbols/'],
  bundle: ['bundle/'],
  libbpf: ['libbpf/'],
  system: ['system/'],
  syscalls: ['syscalls/'],
  report: ['report/'],
  metrics: ['metrics/'],
  runtime: ['runtime/'],
  driver: ['driver/'],
  cli: ['cli/'],
};

/** layer -> the layers below it that it may import (itself always). */
const MAY_IMPORT = {
  base: [],
  symbols: ['base'],
  bundle: ['base', 'symbols'],
  libbpf: ['base'],
  system: ['base', 'symbols', 'libbpf'],
  syscalls: ['base', 'system'],
  report: ['base', 'bundle'],
  metrics: ['base', 'bundle', 'report'],
  runtime: ['base', 'symbols', 'bundle', 'libbpf', 'report'],
  driver: ['base', 'symbols', 'bundle', 'libbpf', 'system', 'syscalls', 'report', 'metrics', 'runtime'],
  cli: ['base', 'symbols', 'bundle', 'libbpf', 'system', 'syscalls', 'report', 'metrics', 'runtime', 'driver'],
};

/** The concrete libbpf backend: loading it loads libbpf. */
const CONCRETE_LIBBPF = '^host/libbpf/(ffi|libbpf-backend|log|structs|locate)\\.ts$';
/** The one composition root that chooses and loads it (late, with import()). */
const COMPOSITION_ROOT = '^host/driver/run\\.ts$';

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const pathsOf = (layers) => layers.flatMap((layer) => FOLDERS[layer]).map((f) => `^host/${escape(f)}${f.endsWith('/') ? '' : '$'}`);

module.exports = {
  forbidden: [
    ...Object.entries(MAY_IMPORT).map(([layer, below]) => ({
      name: `layer-${layer}`,
      comment: `host/ ${layer} may import only ${below.length ? below.join(', ') : 'node: and npm modules'} (ARCHITECTURE.md, "Layers")`,
      severity: 'error',
      from: { path: pathsOf([layer]) },
      to: { path: '^host/', pathNot: pathsOf([layer, ...below]) },
    })),
    {
      name: 'concrete-libbpf-only-in-composition-root',
      comment: 'only driver/run.ts (loadBackend) loads libbpf; everything else uses libbpf/backend.ts, so --help never meets a missing libbpf',
      severity: 'error',
      from: { path: '^host/', pathNot: ['^host/libbpf/', COMPOSITION_ROOT] },
      to: { path: CONCRETE_LIBBPF },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^host/report/wasm-loops/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
