/**
 * @module
 * Interned keys in flat typed arrays: each distinct key gets a slot number (0, 1, 2, ... in order
 * of first sight), by which the counter keeps its counts and flags in typed arrays too. The keys'
 * characters live in one UTF-16 arena and the index is an open-addressing table of slot numbers,
 * so a key costs ~40 bytes (for a key of 7 characters) against ~95 as a `Map` entry with its
 * string — and nothing of it is a JavaScript object the collector must trace: a count subtask
 * with 500k keys holds ~20 MB instead of ~47 MB of heap, and a heap may grow to twice its live
 * size before a full collection, so the difference counts twice in RSS (bench/footprint.ts).
 */

/** Slots per index entry at most: the table doubles beyond half full. */
const MAX_LOAD = 0.5;

/** FNV-1a over the UTF-16 code units, then murmur3's finalizer: key groups use plain FNV-1a of the
 * same key (`key_group.ts`), so without the finalizer one subtask's keys would share low bits. */
function hash(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** Distinct keys and their slot numbers; see the module doc. */
export class KeySlots {
  /** The characters of every key, back to back. */
  #chars = new Uint16Array(1024);
  #charsUsed = 0;
  /** Per slot: where its characters start, how many, and its key's hash. */
  #start = new Int32Array(256);
  #length = new Int32Array(256);
  #hashes = new Int32Array(256);
  #size = 0;
  /** Open addressing, linear probing: slot + 1 (0: empty). Its length is a power of two. */
  #index = new Int32Array(512);

  /** Number of distinct keys (= the next slot number). */
  get size(): number {
    return this.#size;
  }

  /** Capacity of the per-slot arrays: a counter sizes its own per-slot arrays to it. */
  get capacity(): number {
    return this.#start.length;
  }

  /** The slot of `key`, or -1 when it has none. */
  find(key: string): number {
    return this.#probe(key, hash(key), false);
  }

  /** The slot of `key`, given one if it has none yet. */
  intern(key: string): number {
    return this.#probe(key, hash(key), true);
  }

  /** The key of `slot` (a new string each time). */
  keyOf(slot: number): string {
    const start = this.#start[slot];
    return String.fromCharCode.apply(null, this.#chars.subarray(start, start + this.#length[slot]) as unknown as number[]);
  }

  #probe(key: string, h: number, insert: boolean): number {
    const index = this.#index;
    const mask = index.length - 1;
    const len = key.length;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = index[i] - 1;
      if (s < 0) {
        if (!insert) return -1;
        const slot = this.#add(key, h);
        if (this.#size > index.length * MAX_LOAD) this.#rehash(index.length * 2);
        else index[i] = slot + 1;
        return slot;
      }
      if (this.#hashes[s] !== h || this.#length[s] !== len) continue;
      const chars = this.#chars;
      let j = 0;
      for (let at = this.#start[s]; j < len && chars[at + j] === key.charCodeAt(j); j++);
      if (j === len) return s;
    }
  }

  #add(key: string, h: number): number {
    const slot = this.#size++;
    if (slot === this.#start.length) {
      const n = slot * 2;
      this.#start = grown(this.#start, n);
      this.#length = grown(this.#length, n);
      this.#hashes = grown(this.#hashes, n);
    }
    let at = this.#charsUsed;
    if (at + key.length > this.#chars.length) {
      const chars = new Uint16Array(Math.max(this.#chars.length * 2, at + key.length));
      chars.set(this.#chars.subarray(0, at));
      this.#chars = chars;
    }
    const chars = this.#chars;
    for (let j = 0; j < key.length; j++) chars[at++] = key.charCodeAt(j);
    this.#start[slot] = this.#charsUsed;
    this.#length[slot] = key.length;
    this.#hashes[slot] = h;
    this.#charsUsed = at;
    return slot;
  }

  #rehash(n: number): void {
    const index = new Int32Array(n);
    const mask = n - 1;
    for (let s = 0; s < this.#size; s++) {
      let i = this.#hashes[s] & mask;
      while (index[i] !== 0) i = (i + 1) & mask;
      index[i] = s + 1;
    }
    this.#index = index;
  }
}

/** `a` copied into a new array of length `n`. */
export function grown<T extends Int32Array | Float64Array | Uint8Array>(a: T, n: number): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  return b;
}
