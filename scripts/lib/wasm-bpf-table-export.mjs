// An asc transform: exports the function table as `__indirect_function_table`
// instead of asc's `table`. That is the name the wasm-bpf runtimes look up
// to call a guest's ring-buffer callback by index (wasm-bpf-rs requires it;
// clang's --export-table uses it), so an AssemblyScript guest built with it
// runs on any of them, not only on hosts that accept a single table of any name.
export default class {
  afterCompile(module) {
    module.removeExport('table');
    module.addTableExport('0', '__indirect_function_table');
  }
}
