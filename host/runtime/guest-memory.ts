/**
 * Bounds-checked access to a guest's linear memory.
 *
 * Every pointer and length a guest hands to an import goes through here. A
 * violation throws GuestTrap, which unwinds the guest's call (the guest is
 * then considered failed) while the host carries on. Views are re-created on
 * every access because memory.grow() detaches the previous ArrayBuffer.
 */

/** A guest broke the host ABI (bad pointer, length, handle or string). */
export class GuestTrap extends Error {
  override name = 'GuestTrap';
}

/** Longest NUL-terminated string a guest may pass. */
export const MAX_GUEST_STRING = 4096;

export class GuestMemory {
  constructor(private readonly memory: WebAssembly.Memory) {}

  get size(): number {
    return this.memory.buffer.byteLength;
  }

  /** wasm32 pointers and lengths arrive as signed i32; read them as unsigned. */
  private range(ptr: number, len: number, what: string): [number, number] {
    const start = ptr >>> 0;
    const length = len >>> 0;
    if (start + length > this.size) {
      throw new GuestTrap(`${what}: [${start}, ${start + length}) is outside guest memory (${this.size} bytes)`);
    }
    return [start, length];
  }

  /** A live view; valid only until the guest runs again. */
  view(ptr: number, len: number, what: string): Uint8Array {
    const [start, length] = this.range(ptr, len, what);
    return new Uint8Array(this.memory.buffer, start, length);
  }

  copyOut(ptr: number, len: number, what: string): Uint8Array {
    return this.view(ptr, len, what).slice();
  }

  copyIn(ptr: number, data: Uint8Array, what: string): void {
    this.view(ptr, data.length, what).set(data);
  }

  /** A NUL-terminated UTF-8 string; NULL (0) gives undefined. */
  cstring(ptr: number, what: string): string | undefined {
    const start = ptr >>> 0;
    if (start === 0) return undefined;
    const limit = Math.min(this.size, start + MAX_GUEST_STRING);
    if (start >= this.size) throw new GuestTrap(`${what}: string at ${start} is outside guest memory (${this.size} bytes)`);
    const bytes = new Uint8Array(this.memory.buffer, start, limit - start);
    const end = bytes.indexOf(0);
    if (end < 0) throw new GuestTrap(`${what}: string at ${start} has no NUL within ${MAX_GUEST_STRING} bytes`);
    return Buffer.from(bytes.buffer, bytes.byteOffset, end).toString('utf8');
  }

  requiredCString(ptr: number, what: string): string {
    const s = this.cstring(ptr, what);
    if (s === undefined) throw new GuestTrap(`${what}: NULL string`);
    return s;
  }

  /** AssemblyScript's own string layout (UTF-16, byte length at ptr-4), for abort(). */
  assemblyScriptString(ptr: number): string {
    const start = ptr >>> 0;
    if (start < 4 || start > this.size) return '<bad string>';
    const byteLength = new DataView(this.memory.buffer).getUint32(start - 4, true);
    if (start + byteLength > this.size || byteLength % 2) return '<bad string>';
    return Buffer.from(this.memory.buffer, start, byteLength).toString('utf16le');
  }
}
