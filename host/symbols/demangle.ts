/**
 * C++ (Itanium) and Rust (legacy and v0) symbol names as perf and bpftrace
 * print them: `_ZN6kdtest6NapperIlE3runEi` -> `kdtest::Napper<long>::run(int)`,
 * `_ZN3std2rt10lang_start17h0123456789abcdefE` -> `std::rt::lang_start` (the
 * hash left out, as perf does), GCC's clones `foo() [clone .cold]`. One
 * difference: a function template's return type is left out
 * (`kdtest::detail::nap<long>(long)`, where c++filt and perf print `void
 * kdtest::...`), shorter and the same function. Anything else is returned
 * unchanged.
 *
 * Why a library: a complete Itanium demangler is thousands of lines
 * (substitutions, template arguments, lambdas, ABI tags), and the common-case
 * subset one writes by hand prints wrong names for exactly the templates
 * people need it for. gecko-profiler-demangle is the Firefox profiler's:
 * the cpp_demangle and rustc-demangle crates (those of Rust's own tools)
 * compiled to one 520 KB WebAssembly module, Apache-2.0 OR MIT, no
 * dependencies. Its entry point imports the .wasm as an ES module, which
 * Node does not do without a flag, so the module is instantiated here from
 * its file, synchronously, on the first mangled name (a run without stacks
 * never pays for it). Should the module fail to load, names stay mangled.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

type Demangler = (name: string) => string;

let demangler: Demangler | null | undefined;

function load(): Demangler | null {
  try {
    // Required here, not imported at the top: every start would load the package for the few runs that print stacks.
    const require = createRequire(import.meta.url);
    const glue = require('gecko-profiler-demangle/index_bg.js') as typeof import('gecko-profiler-demangle/index_bg.js');
    const module = new WebAssembly.Module(readFileSync(require.resolve('gecko-profiler-demangle/index_bg.wasm')));
    // The glue (wasm-bindgen's) is what the module imports, and holds the instance it calls.
    const instance = new WebAssembly.Instance(module, { './index_bg.js': glue as unknown as WebAssembly.ModuleImports });
    glue.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as (() => void) | undefined)?.();
    return (name) => glue.demangle_any(name);
  } catch {
    return null;
  }
}

/** Results by name: a stack repeats the same few functions. */
const memo = new Map<string, string>();
const MEMO_LIMIT = 1 << 14;

/** Itanium C++ (`_Z`, and `__Z` as some toolchains spell it) and Rust v0 (`_R`) manglings. */
const MANGLED = /^(?:_{1,2}Z|_R)/;

/** `name` demangled if it is a C++ or Rust mangled name, else unchanged. */
export function demangle(name: string): string {
  if (!MANGLED.test(name)) return name;
  let out = memo.get(name);
  if (out !== undefined) return out;
  demangler ??= load();
  out = name;
  if (demangler) {
    try {
      const result = demangler(name.startsWith('__Z') ? name.slice(1) : name);
      // What it could not parse comes back unchanged, or with its first character dropped.
      if (result && result !== name && !name.endsWith(result)) out = result;
    } catch {
      // A name the demangler trips on prints as it is.
    }
  }
  if (memo.size >= MEMO_LIMIT) memo.clear();
  memo.set(name, out);
  return out;
}
