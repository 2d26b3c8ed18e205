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
  // model/: the sample model (section tables, ReportSample, SampleSink) and the wasm per-row loops they use.
  model: ['model/'],
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
  model: ['base'],
  // report/ and runtime/ are side by side: neither imports the other (both read and write model/).
  report: ['base', 'bundle', 'model'],
  // metrics/: kdelay serve's series, from the manifests and the sample model (beside report/).
  metrics: ['base', 'bundle', 'model'],
  runtime: ['base', 'symbols', 'bundle', 'libbpf', 'model'],
  driver: ['base', 'symbols', 'bundle', 'libbpf', 'system', 'syscalls', 'model', 'report', 'metrics', 'runtime'],
  cli: ['base', 'symbols', 'bundle', 'libbpf', 'system', 'syscalls', 'model', 'report', 'metrics', 'runtime', 'driver'],
};

/** The concrete libbpf backend: loading it loads libbpf. */
const CONCRETE_LIBBPF = '^host/libbpf/(ffi|libbpf-backend|log|structs|locate)\\.ts$';
/** The one composition root that chooses and loads it (late, with import()). */
const COMPOSITION_ROOT = '^host/driver/measure\\.ts$';

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
      comment: 'only driver/measure.ts (loadBackend) loads libbpf; everything else uses libbpf/backend.ts, so --help never meets a missing libbpf',
      severity: 'error',
      from: { path: '^host/', pathNot: ['^host/libbpf/', COMPOSITION_ROOT] },
      to: { path: CONCRETE_LIBBPF },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^host/model/wasm-loops/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
