/** The wasm-bindgen glue of gecko-profiler-demangle (its index.d.ts types only index.js, which Node cannot load). */
declare module 'gecko-profiler-demangle/index_bg.js' {
  export function __wbg_set_wasm(exports: WebAssembly.Exports): void;
  /** The name demangled (C++, Rust), or as it came. */
  export function demangle_any(name: string): string;
}
