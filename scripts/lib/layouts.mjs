// Sizes and offsets of the structs that cross the kernel/user line, generated
// from the BTF clang writes (as cilium/ebpf's bpf2go does), so that no
// offset is kept by hand on the user side:
//
// - per probe, dir/build/<name>.layout.ts (AssemblyScript, a build output
//   like build/<name>.bpf.ts): its programs and maps as attachAll() and
//   class Maps use them (objectsCode), every map's key and value size, and the size,
//   field offsets, field readers and enum values of the structs its maps use
//   or it marks with KDELAY_SHARED_STRUCT/ENUM, except the shared ones;
// - for all probes, probes/lib/build/shared.layout.ts (AssemblyScript: the
//   stat accumulator and the host records, read by probes/lib/) and
//   host/runtime/kernel-records.ts (TypeScript: readers and writers of the
//   records the host reads, probes/include/kdelay_records.bpf.h), and
//   host/bundle/accounting-contract.ts (the accounting contract's enums,
//   from the same header). The host files are committed, because tsc
//   compiles the host before any probe is built and an installed kdelay
//   builds no probe; check:probes fails when one is stale. The AssemblyScript files are build outputs: the bundles
//   they are compiled into are what is committed and checked.
//
// The layout comes from a second compile of the same source with
// KDELAY_LAYOUT_BUILD defined (kdelay_core.bpf.h), which puts marked types
// into the BTF; the objects that ship are compiled without it. The layout
// is that of the BPF target, the same for every __TARGET_ARCH_.
import { $, fs, path } from 'zx';

// Not imported from probe-build.mjs, which imports this module.
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

const { BpfObjectFile } = await import(path.join(ROOT, 'dist', 'host', 'bundle', 'bpf-object.js'));

export const INCLUDE_DIR = path.join('probes', 'include');
export const SHARED_LAYOUT = path.join('probes', 'lib', 'build', 'shared.layout.ts');
export const HOST_RECORDS = path.join('host', 'runtime', 'kernel-records.ts');
/**
 * The accounting contract's constants (the enums named below, from the end
 * of kdelay_records.bpf.h), generated apart from HOST_RECORDS: report/ and
 * driver/ read them, and report/ may not import runtime/.
 */
export const HOST_ACCOUNTING = path.join('host', 'bundle', 'accounting-contract.ts');
const ACCOUNTING_ENUMS = ['account_state', 'account_life', 'account_syscall_nr', 'account_hist'];
/** What the shared layout is generated from (relative to the include folder). */
const SHARED_HEADERS = ['kdelay_records.bpf.h', 'kdelay_stats.bpf.h'];

/** Compiles source (relative to the root) with KDELAY_LAYOUT_BUILD and returns its shared types (Btf.sharedTypes()). */
async function layoutTypes(source, object, includeDir = INCLUDE_DIR) {
  await fs.ensureDir(path.join(ROOT, path.dirname(object)));
  await $({ cwd: ROOT, quiet: true })`clang -g -O2 -mcpu=v3 -target bpf -D__TARGET_ARCH_x86 -DKDELAY_LAYOUT_BUILD -I${includeDir} -Wall -Werror -c ${source} -o ${object}`;
  const btf = new BpfObjectFile(await fs.readFile(path.join(ROOT, object))).btf();
  if (!btf) throw new Error(`${source}: clang wrote no BTF`);
  return btf.sharedTypes();
}

const upper = (name) => name.toUpperCase();
const camel = (...parts) =>
  parts
    .join('_')
    .split('_')
    .filter(Boolean)
    .map((w, i) => (i ? w[0].toUpperCase() + w.slice(1) : w))
    .join('');
const pascal = (...parts) => {
  const c = camel(...parts);
  return c[0].toUpperCase() + c.slice(1);
};
/** Padding is part of the size, never a value anyone reads. */
const isPadding = (field) => /^(__)?pad/.test(field.name);

/**
 * The probe library the generated objects code imports: the one beside the
 * probe's folder, as a built-in's user half imports it (../lib/kdelay.ts),
 * else probes/lib/kdelay.ts (a probe kept elsewhere, e.g. examples/).
 */
async function probeLib(dir) {
  const beside = path.join(path.dirname(dir), 'lib', 'kdelay');
  return (await fs.pathExists(path.join(ROOT, `${beside}.ts`))) ? beside : path.join('probes', 'lib', 'kdelay');
}

/**
 * A probe's objects, as bpf2go generates them: its programs in the order
 * the C defines them (libbpf's order, BpfObjectFile.programs()), a class
 * Maps with a BpfMap per map, and attachAll(obj), which attaches every
 * program set to load and finds every map in one call (libbpf's skeleton
 * attach()); findMaps(obj) for a probe that attaches its programs itself.
 */
function objectsCode({ maps }, programs, source, buildDir, libModule) {
  const lib = path.relative(buildDir, libModule);
  const size = (n) => n ?? 0;
  return [
    `import { BpfMap, BpfObject } from '${lib.startsWith('.') ? lib : `./${lib}`}';`,
    '',
    `/** The programs of ${source}, in the order it defines them (the order attachAll() attaches them in). */`,
    `export const PROGRAMS: StaticArray<string> = [${programs.map((p) => `'${p}'`).join(', ')}];`,
    '',
    `/** The maps of ${source}, found by name in the loaded object: fds, sizes and capacities. */`,
    'export class Maps {',
    ...maps.map((m) => `  readonly ${camel(m.name)}: BpfMap;`),
    '',
    '  constructor(obj: BpfObject) {',
    ...maps.map((m) => `    this.${camel(m.name)} = obj.map('${m.name}', ${size(m.keySize)}, ${size(m.valueSize)}, ${size(m.maxEntries)});`),
    '  }',
    '}',
    '',
    `/** After load: attaches every program of ${source} that is set to load, in PROGRAMS' order, and finds every map. Check obj.error after. */`,
    'export function attachAll(obj: BpfObject): Maps {',
    '  obj.attachPrograms(PROGRAMS);',
    '  return new Maps(obj);',
    '}',
    '',
    `/** After load: every map of ${source}, for a probe that attaches its programs itself. Check obj.error after. */`,
    'export function findMaps(obj: BpfObject): Maps {',
    '  return new Maps(obj);',
    '}',
    '',
  ];
}

function assemblyScript({ structs, enums, maps }, source, { withMaps = true, objects = [] } = {}) {
  const lines = [`// Generated by the kdelay build from the BTF of ${source}; do not edit.`, '', ...objects];
  if (withMaps) {
    for (const map of maps) {
      if (map.keySize === undefined && map.valueSize === undefined) continue;
      lines.push(`// map ${map.name}`);
      if (map.keySize !== undefined) lines.push(`export const ${upper(map.name)}_KEY_SIZE: i32 = ${map.keySize};`);
      if (map.valueSize !== undefined) lines.push(`export const ${upper(map.name)}_VALUE_SIZE: i32 = ${map.valueSize};`);
      if (map.maxEntries !== undefined) lines.push(`export const ${upper(map.name)}_MAX_ENTRIES: i32 = ${map.maxEntries};`);
      if (map.keyScalar) lines.push(`export function ${camel(map.name, 'key')}(p: usize): ${map.keyScalar} { return load<${map.keyScalar}>(p); }`);
      if (map.valueScalar) lines.push(`export function ${camel(map.name, 'value')}(p: usize): ${map.valueScalar} { return load<${map.valueScalar}>(p); }`);
    }
    lines.push('');
  }
  for (const s of structs) {
    lines.push(`// struct ${s.name}`, `export const ${upper(s.name)}_SIZE: i32 = ${s.size};`);
    for (const f of s.fields.filter((f) => !isPadding(f))) {
      lines.push(`export const ${upper(s.name)}_${upper(f.name)}_OFFSET: i32 = ${f.offset};`);
      if (f.length !== undefined) lines.push(`export const ${upper(s.name)}_${upper(f.name)}_LENGTH: i32 = ${f.length};`);
    }
    for (const f of s.fields.filter((f) => f.scalar && !isPadding(f))) {
      lines.push(`/** ${s.name}.${f.name} (${f.scalar}) of the struct at p. */`);
      lines.push(`export function ${camel(s.name, f.name)}(p: usize): ${f.scalar} { return load<${f.scalar}>(p, ${f.offset}); }`);
    }
    lines.push('');
  }
  for (const e of enums) {
    // A value above i32's range is a u32 (ACCOUNT_NO_SYSCALL), not the i64 AssemblyScript would infer.
    lines.push(`// enum ${e.name}`, ...e.values.map((v) => `export const ${v.name}${v.value > 0x7fffffff ? ': u32' : ''} = ${v.value};`), '');
  }
  return lines.join('\n');
}

const TS_READ = { u8: 'Uint8', u16: 'Uint16', u32: 'Uint32', u64: 'BigUint64', i8: 'Int8', i16: 'Int16', i32: 'Int32', i64: 'BigInt64' };

const RECORDS_PREAMBLE = [
  ' * The records the host reads and writes, as the BPF side lays them out',
  ' * (little-endian, as every BPF target kdelay builds for); check:probes fails when this is stale.',
];

function typeScript({ structs, enums }, source, preamble = RECORDS_PREAMBLE) {
  const lines = ['/**', ` * Generated by \`npm run build:probes\` from the BTF of ${source}; do not edit.`, ...preamble, ' */', ''];
  for (const e of enums) {
    lines.push(`/** enum ${e.name} */`, `export const ${pascal(e.name)} = {`, ...e.values.map((v) => `  ${v.name}: ${v.value},`), '} as const;', '');
  }
  // Byte arrays (char comm[16]) are read and written as Uint8Array copies of their bytes.
  const isBytes = (f) => f.length !== undefined && (f.element === 'u8' || f.element === 'i8');
  const tsType = (f) => (isBytes(f) ? 'Uint8Array' : f.scalar.endsWith('64') ? 'bigint' : 'number');
  const read = (f) =>
    isBytes(f)
      ? `new Uint8Array(view.buffer.slice(view.byteOffset + at + ${f.offset}, view.byteOffset + at + ${f.offset + f.length}))`
      : `view.get${TS_READ[f.scalar]}(at + ${f.offset}${f.size > 1 ? ', true' : ''})`;
  const write = (f) =>
    isBytes(f)
      ? `new Uint8Array(view.buffer, view.byteOffset + at + ${f.offset}, ${f.length}).set(value.${camel(f.name)}.subarray(0, ${f.length}));`
      : `view.set${TS_READ[f.scalar]}(at + ${f.offset}, value.${camel(f.name)}${f.size > 1 ? ', true' : ''});`;
  for (const s of structs) {
    const fields = s.fields.filter((f) => (f.scalar || isBytes(f)) && !isPadding(f));
    const type = pascal(s.name);
    lines.push(`/** struct ${s.name}: ${s.size} bytes. */`, `export const ${upper(s.name)}_SIZE = ${s.size};`, '');
    lines.push(`export interface ${type} {`, ...fields.map((f) => `  ${camel(f.name)}: ${tsType(f)};`), '}', '');
    lines.push(`/** Reads struct ${s.name} at byte \`at\` of view. */`, `export function read${type}(view: DataView, at = 0): ${type} {`, '  return {');
    lines.push(...fields.map((f) => `    ${camel(f.name)}: ${read(f)},`), '  };', '}', '');
    lines.push(`/** Writes struct ${s.name} at byte \`at\` of view (padding untouched). */`, `export function write${type}(view: DataView, value: ${type}, at = 0): void {`);
    lines.push(...fields.map((f) => `  ${write(f)}`), '}', '');
  }
  return lines.join('\n').replace(/\n+$/, '\n');
}

/**
 * The shared layouts: writes probes/lib/build/shared.layout.ts and returns
 * the text host/runtime/kernel-records.ts must have, plus the names of the
 * shared structs and enums (the per-probe layouts leave them out).
 */
export async function sharedLayouts(includeDir = INCLUDE_DIR, libBuild = path.dirname(SHARED_LAYOUT)) {
  const unit = path.join(libBuild, 'shared.layout.c');
  await fs.ensureDir(path.join(ROOT, libBuild));
  await fs.writeFile(path.join(ROOT, unit), SHARED_HEADERS.map((h) => `#include "${h}"\n`).join(''));
  const types = await layoutTypes(unit, path.join(libBuild, 'shared.layout.o'), includeDir);
  const source = SHARED_HEADERS.map((h) => `${INCLUDE_DIR}/${h}`).join(', ');
  await fs.writeFile(path.join(ROOT, libBuild, 'shared.layout.ts'), assemblyScript(types, source, { withMaps: false }));
  const accounting = (e) => ACCOUNTING_ENUMS.includes(e.name);
  const host = { ...types, structs: types.structs.filter((s) => s.name !== 'kdelay_stat'), enums: types.enums.filter((e) => !accounting(e)) };
  const header = `${INCLUDE_DIR}/kdelay_records.bpf.h`;
  const hostRecords = typeScript(host, header);
  const hostAccounting = typeScript({ structs: [], enums: types.enums.filter(accounting) }, header, [
    ' * The accounting contract: the states, system call markers and histogram',
    ' * kinds of the probe that provides "accounting" (probes/account), which the',
    ' * verdict reads; check:probes fails when this is stale.',
  ]);
  return {
    hostRecords,
    hostAccounting,
    /** Every generated host file with the text it must have. */
    hostFiles: [
      [HOST_RECORDS, hostRecords],
      [HOST_ACCOUNTING, hostAccounting],
    ],
    sharedNames: [...types.structs, ...types.enums].map((t) => t.name),
  };
}

let shared;
/** sharedLayouts(), once per build run. */
export const sharedLayoutsOnce = () => (shared ??= sharedLayouts());

/** Writes dir/build/<name>.layout.ts for the probe in dir (relative to the root); returns its text. */
export async function probeLayout(name, dir, { includeDir = INCLUDE_DIR, sharedNames } = {}) {
  const exclude = sharedNames ?? (await sharedLayoutsOnce()).sharedNames;
  const object = path.join(dir, 'build', `${name}.layout.o`);
  const types = await layoutTypes(path.join(dir, `${name}.bpf.c`), object, includeDir);
  const own = { ...types, structs: types.structs.filter((s) => !exclude.includes(s.name)), enums: types.enums.filter((e) => !exclude.includes(e.name)) };
  const programs = new BpfObjectFile(await fs.readFile(path.join(ROOT, object))).programs();
  const text = assemblyScript(own, `${name}.bpf.c`, { objects: objectsCode(types, programs, `${name}.bpf.c`, path.join(dir, 'build'), await probeLib(dir)) });
  await fs.writeFile(path.join(ROOT, dir, 'build', `${name}.layout.ts`), text);
  return text;
}
