/**
 * A probe bundle: one .wasm file holding the guest code, the CO-RE BPF object
 * it loads (in its data segment) and its manifest (custom section
 * `kdelay.manifest`).
 */
import { ManifestError, parseManifest, type ProbeManifest } from './manifest.js';

export const MANIFEST_SECTION = 'kdelay.manifest';

export interface ProbeBundle {
  manifest: ProbeManifest;
  module: WebAssembly.Module;
  /** Where it came from, for messages: a path. */
  source: string;
  /**
   * A bundle compiled lazily: starts compiling it on V8's background
   * threads, if it has not been compiled yet, and settles once `module` is
   * ready (never rejects: reading `module` throws what compiling found).
   */
  compileInBackground?(): Promise<void>;
}

/**
 * compileLazily: read the manifest from the bytes and compile the module
 * only when it is first used, or in the background once asked
 * (compileInBackground). For built-ins the release key vouches for: a run
 * compiles only the probes it starts (the --verdict and upcall guests are
 * skipped by default, and compiling a guest costs milliseconds of
 * start-up). Others are compiled here, so a broken file is refused at once.
 */
export function bundleFromBytes(bytes: Uint8Array<ArrayBuffer>, source: string, { compileLazily = false } = {}): ProbeBundle {
  const compile = (): WebAssembly.Module => {
    try {
      return new WebAssembly.Module(bytes);
    } catch (err) {
      throw new ManifestError(`${source}: not a WebAssembly module (${(err as Error).message})`);
    }
  };
  const module = compileLazily ? undefined : compile();
  const sections = module ? WebAssembly.Module.customSections(module, MANIFEST_SECTION) : customSections(bytes, MANIFEST_SECTION, source);
  if (sections.length !== 1) throw new ManifestError(`${source}: no ${MANIFEST_SECTION} section; not a kdelay probe bundle`);
  const manifest = parseManifest(new TextDecoder().decode(sections[0]), source);
  if (module) return { manifest, module, source };
  let compiled: WebAssembly.Module | undefined;
  let compiling: Promise<void> | undefined;
  return {
    manifest,
    source,
    get module() {
      return (compiled ??= compile());
    },
    compileInBackground() {
      return (compiling ??= compiled
        ? Promise.resolve()
        : WebAssembly.compile(bytes).then(
            (module) => void (compiled ??= module),
            () => {},
          ));
    },
  };
}

/** The payloads of a module's custom sections named `name`, as WebAssembly.Module.customSections finds them, without compiling it. */
function customSections(bytes: Uint8Array<ArrayBuffer>, name: string, source: string): Uint8Array<ArrayBuffer>[] {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d)
    throw new ManifestError(`${source}: not a WebAssembly module (no \\0asm header)`);
  const found: Uint8Array<ArrayBuffer>[] = [];
  for (const section of moduleSections(bytes)) {
    if (section.id !== 0) continue;
    const custom = customSectionName(bytes, section);
    if (custom.name === name) found.push(bytes.subarray(custom.payload, section.end));
  }
  return found;
}

function ulebBytes(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return out;
}

/** Appends a custom section (id 0) to a wasm module: how the build adds the manifest and the seal. */
export function appendCustomSection(wasm: Uint8Array, name: string, payload: Uint8Array): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const content = Buffer.concat([Buffer.from(ulebBytes(nameBytes.length)), nameBytes, payload]);
  return Buffer.concat([wasm, Buffer.from([0, ...ulebBytes(content.length)]), content]);
}

/** Reads an unsigned LEB128 at pos; returns [value, next position]. */
function uleb(buf: Uint8Array, pos: number): [number, number] {
  let value = 0;
  for (let shift = 0; ; shift += 7) {
    if (pos >= buf.length) throw new ManifestError('truncated LEB128');
    const byte = buf[pos++];
    value += (byte & 0x7f) * 2 ** shift;
    if (!(byte & 0x80)) return [value, pos];
  }
}

export interface ModuleSection {
  id: number;
  /** Offset of the section's id byte. */
  start: number;
  /** Offsets of its content and of the byte after it. */
  content: number;
  end: number;
}

/** A module's sections in file order, read from its bytes without compiling it. Throws ManifestError on a truncated file. */
export function* moduleSections(bytes: Uint8Array): Generator<ModuleSection> {
  for (let pos = 8; pos < bytes.length;) {
    const [size, content] = uleb(bytes, pos + 1);
    const end = content + size;
    if (end > bytes.length) throw new ManifestError('a section runs past the end of the file (truncated?)');
    yield { id: bytes[pos], start: pos, content, end };
    pos = end;
  }
}

const MEMORY_SECTION = 5;

/**
 * The module with the maximum of its (one, 32-bit, unshared) memory set to
 * at most maxPages: the limit a guest's memory.grow meets (it then gets -1,
 * as from any full memory). A module declaring more initial memory than
 * that is refused: returns a reason string instead of bytes.
 */
export function withMemoryMaximum(bytes: Uint8Array<ArrayBuffer>, maxPages: number): Uint8Array<ArrayBuffer> | string {
  for (const section of moduleSections(bytes)) {
    if (section.id !== MEMORY_SECTION) continue;
    const [count, at] = uleb(bytes, section.content);
    if (count !== 1) return `it defines ${count} memories; a guest has one`;
    const flags = bytes[at];
    if (flags !== 0 && flags !== 1) return `its memory has limits flags ${flags} (shared or 64-bit memory is not supported)`;
    const [initial, afterInitial] = uleb(bytes, at + 1);
    const [declaredMax] = flags === 1 ? uleb(bytes, afterInitial) : [Infinity];
    if (initial > maxPages) return `it asks for ${initial} pages of memory at start, more than the ${maxPages} a guest may have`;
    const content = [...ulebBytes(1), 1, ...ulebBytes(initial), ...ulebBytes(Math.min(declaredMax, maxPages))];
    return Buffer.concat([bytes.subarray(0, section.start), Buffer.from([MEMORY_SECTION, ...ulebBytes(content.length), ...content]), bytes.subarray(section.end)]);
  }
  return bytes; // no memory of its own (a guest without one is refused elsewhere)
}

/** A custom section's name and where its payload starts. */
export function customSectionName(bytes: Uint8Array, section: ModuleSection): { name: string; payload: number } {
  const [length, name] = uleb(bytes, section.content);
  return { name: Buffer.from(bytes.subarray(name, name + length)).toString('utf8'), payload: name + length };
}

/**
 * A module's linear memory as its active data segments initialise it,
 * without running any of its code. (The optimiser splits segments at runs of
 * zeros, so an embedded object is only whole in this image, not in the file.)
 */
export function initialMemoryImage(bytes: Uint8Array): Uint8Array {
  const segments: [number, Uint8Array][] = [];
  let end = 0;
  for (const section of moduleSections(bytes)) {
    if (section.id === 11) {
      let [count, at] = uleb(bytes, section.content);
      while (count--) {
        const [flags, afterFlags] = uleb(bytes, at);
        at = afterFlags;
        if (flags === 2) at = uleb(bytes, at)[1]; // explicit memory index
        let offset = 0;
        if (flags !== 1) {
          if (bytes[at] !== 0x41) throw new ManifestError('bundle: data segment offset is not an i32.const');
          let shift = 0;
          for (at++; ; shift += 7) {
            const byte = bytes[at++];
            offset |= (byte & 0x7f) << shift;
            if (!(byte & 0x80)) break;
          }
          at++; // end
        }
        const [length, data] = uleb(bytes, at);
        if (flags !== 1) {
          segments.push([offset, bytes.subarray(data, data + length)]);
          end = Math.max(end, offset + length);
        }
        at = data + length;
      }
    }
  }
  const image = new Uint8Array(end);
  for (const [offset, data] of segments) image.set(data, offset);
  return image;
}

/**
 * The BPF objects embedded in a bundle (in its initial memory), found by the
 * ELF magic and sized from the ELF header (section headers come last): for
 * checking a bundle before running any of its code.
 */
export function embeddedObjects(bytes: Uint8Array): Uint8Array[] {
  const image = initialMemoryImage(bytes);
  const buf = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  const objects: Uint8Array[] = [];
  for (let at = buf.indexOf('\x7fELF', 0, 'latin1'); at >= 0; at = buf.indexOf('\x7fELF', at + 4, 'latin1')) {
    if (at + 64 > buf.length || buf[at + 4] !== 2 || buf[at + 5] !== 1) continue;
    const end = at + Number(buf.readBigUInt64LE(at + 0x28)) + buf.readUInt16LE(at + 0x3a) * buf.readUInt16LE(at + 0x3c);
    if (end <= buf.length) objects.push(image.subarray(at, end));
  }
  return objects;
}
