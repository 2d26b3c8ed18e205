// Builds a plain wasm-bpf guest: DIR/<name>.bpf.c -> CO-RE object, embedded
// as a static data segment of DIR/<name>.ts (AssemblyScript) -> one WASI
// command module that needs only the standard `wasm_bpf` imports and WASI
// preview1. Unlike a probe bundle it has no manifest: it runs under
// `kdelay run` (or any wasm-bpf runtime), not as a kdelay probe. It is
// sealed (digest, and a signature with --key) like a bundle.
//
// The BPF half is compiled exactly as a probe's (probe-build.mjs), and must
// come out the same for every architecture.
import { $, fs, path } from 'zx';
import { compileBpfObject, ROOT, sealBody } from './probe-build.mjs';

export { ROOT };
const TABLE_EXPORT_TRANSFORM = path.join(ROOT, 'scripts', 'lib', 'wasm-bpf-table-export.mjs');
/** The only import modules a plain guest may use. */
const STANDARD_MODULES = ['wasm_bpf', 'wasi_snapshot_preview1'];

/**
 * asc flags for a plain guest: the stub runtime (no GC), the function table
 * exported under the standard name (for wasm_bpf_buffer_poll callbacks),
 * and abort() compiled to a trap, because `env.abort` is not a standard
 * import (a failed assertion then shows up as "unreachable").
 */
export function plainAscFlags() {
  return ['--runtime', 'stub', '--exportTable', '--transform', TABLE_EXPORT_TRANSFORM, '--use', 'abort=', '--optimizeLevel', '3', '--shrinkLevel', '1'];
}

/** Throws unless the module imports from the standard modules only. */
export function checkStandardImports(wasm, what) {
  const foreign = WebAssembly.Module.imports(new WebAssembly.Module(wasm)).filter((i) => !STANDARD_MODULES.includes(i.module));
  if (foreign.length) {
    throw new Error(`${what} imports ${foreign.map((i) => `${i.module}.${i.name}`).join(', ')}; a plain guest may import only ${STANDARD_MODULES.join(' and ')}`);
  }
}

/**
 * Builds `dir` (relative to the project root; holds <name>.bpf.c and
 * <name>.ts, <name> being the folder's name) into outDir/<name>.wasm and
 * returns that path, sealed (signed with the PEM key at keyPath if given).
 * The generated <name>.bpf.ts goes to dir/build/.
 */
export async function buildPlainGuest(dir, outDir = dir, keyPath = undefined) {
  const name = path.basename(dir);
  // The standard ABI cannot ask which machine it runs on: one object must serve every architecture.
  const objects = await compileBpfObject(name, dir);
  if (objects.length !== 1) {
    throw new Error(`${dir}/${name}.bpf.c compiles differently per architecture (it reads pt_regs?); a plain wasm-bpf guest can carry only one object`);
  }
  const out = await compilePlainGuest(path.join(dir, `${name}.ts`), path.resolve(ROOT, outDir, `${name}.wasm`));
  // Sealed like a probe bundle (a custom section other wasm-bpf runtimes ignore), so kdelay run can check it.
  await fs.writeFile(out, await sealBody(await fs.readFile(out), keyPath));
  return out;
}

/** Compiles one AssemblyScript entry file into a plain guest at `out` (absolute); returns `out`. */
export async function compilePlainGuest(entry, out) {
  await fs.ensureDir(path.dirname(out));
  await $({ cwd: ROOT, quiet: true })`node_modules/.bin/asc ${entry} ${plainAscFlags()} --outFile ${out}`;
  checkStandardImports(await fs.readFile(out), out);
  return out;
}
