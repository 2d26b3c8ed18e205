/**
 * Numbers the distinct u32 keys of a stream 0, 1, 2, ... in order of first
 * appearance: thread ids of report rows, label pointers of a report_rows
 * batch. The hot loops ask once per row (100k rows, a few hundred distinct
 * keys, in hash-map order), so a small direct-mapped cache sits in front of
 * the Map: a hit is two typed-array reads instead of a hash lookup.
 */
const CACHE_BITS = 10;

export class FirstSeenIds {
  /** The keys by id. */
  readonly keys: number[] = [];
  private readonly ids = new Map<number, number>();
  // Float64 so that -1 can mark an empty slot next to any u32 key.
  private readonly cachedKeys = new Float64Array(1 << CACHE_BITS).fill(-1);
  private readonly cachedIds = new Uint32Array(1 << CACHE_BITS);

  /** The id of key (a u32), assigned on first sight: a new key gets id === size before the call. */
  id(key: number): number {
    const slot = Math.imul(key, 0x9e37_79b1) >>> (32 - CACHE_BITS);
    if (this.cachedKeys[slot] === key) return this.cachedIds[slot];
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.keys.push(key) - 1;
      this.ids.set(key, id);
    }
    this.cachedKeys[slot] = key;
    this.cachedIds[slot] = id;
    return id;
  }

  get size(): number {
    return this.keys.length;
  }
}
