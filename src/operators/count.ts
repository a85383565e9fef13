/**
 * @module
 * The keyed page-view counter: a count per key plus the bookkeeping for incremental
 * checkpoints. A snapshot carries the absolute counts of every key changed since the last
 * COMPLETED checkpoint, so an aborted or failed checkpoint loses nothing: its keys are simply
 * carried again by the next snapshot. The bookkeeping is bounded by the number of distinct keys,
 * however many checkpoints fail in a row (at most two key sets: changed since the last snapshot,
 * and the union of every snapshot not yet known to be completed).
 *
 * Compact: keys are interned into slots ({@link KeySlots}); counts, the two sets (as a flag per
 * slot plus a list of its members) live in typed arrays, not in `Map`s and `Set`s of strings.
 */
import type { KeyCounts } from "../types.ts";
import { grown, KeySlots } from "./key_slots.ts";

/** Flag: changed since the last snapshot. */
const CHANGED = 1;
/** Flag: in a snapshot not yet known to be completed. */
const UNCONFIRMED = 2;

/** A set of slots: a flag bit per slot (in the counter's flags) and the list of its members. */
class SlotList {
  items = new Int32Array(64);
  size = 0;

  push(slot: number): void {
    if (this.size === this.items.length) this.items = grown(this.items, this.size * 2);
    this.items[this.size++] = slot;
  }
}

/** Counts per key with changed-key tracking. */
export class KeyedCounter {
  #slots = new KeySlots();
  #counts = new Float64Array(256);
  #flags = new Uint8Array(256);
  /** Keys changed since the last snapshot. */
  #changed = new SlotList();
  /**
   * The keys of every snapshot taken and not yet known to be completed, under the id of the
   * newest such snapshot (0: none). Completing any id ≥ it clears the set; completing an older id
   * keeps it (it holds newer keys too; carrying a key once more is harmless).
   */
  #unconfirmed = new SlotList();
  #unconfirmedId = 0;

  /** Number of distinct keys. */
  get size(): number {
    return this.#slots.size;
  }

  /** Entries held by the changed-key bookkeeping (at most twice {@link size}). */
  get trackedKeys(): number {
    return this.#changed.size + this.#unconfirmed.size;
  }

  /** The count of `key` (0 when unseen). */
  get(key: string): number {
    const s = this.#slots.find(key);
    return s < 0 ? 0 : this.#counts[s];
  }

  /** Loads restored state; restored keys are not "changed". */
  restore(state: KeyCounts): void {
    for (let i = 0; i < state.keys.length; i++) {
      const s = this.#slot(state.keys[i]); // first: it may replace #counts with a larger array
      this.#counts[s] = state.counts[i];
    }
  }

  /** Counts one event per key. */
  add(keys: string[]): void {
    for (let i = 0; i < keys.length; i++) {
      const s = this.#slot(keys[i]);
      this.#counts[s]++;
      if ((this.#flags[s] & CHANGED) === 0) {
        this.#flags[s] |= CHANGED;
        this.#changed.push(s);
      }
    }
  }

  /** The absolute counts of every key changed since the last completed checkpoint, in key order. */
  snapshot(checkpointId: number): KeyCounts {
    // Fold: the new changes join the older unconfirmed snapshots' keys, all under this id.
    const flags = this.#flags;
    const changed = this.#changed;
    const unconfirmed = this.#unconfirmed;
    for (let i = 0; i < changed.size; i++) {
      const s = changed.items[i];
      flags[s] &= ~CHANGED;
      if ((flags[s] & UNCONFIRMED) === 0) {
        flags[s] |= UNCONFIRMED;
        unconfirmed.push(s);
      }
    }
    changed.size = 0;
    this.#unconfirmedId = checkpointId;
    // In key order: the commit upserts them in one sweep of the counts table's B-tree instead of
    // at random places (1M keys, 230k changed: 0.47 instead of 3.2 s per commit, see
    // bench/footprint.ts). A plain sort is native (~25 ms for 230k keys); which of SQLite's and
    // JavaScript's orders it is (UTF-8 bytes vs UTF-16 units) only matters for locality.
    const keys = new Array<string>(unconfirmed.size);
    for (let i = 0; i < unconfirmed.size; i++) keys[i] = this.#slots.keyOf(unconfirmed.items[i]);
    keys.sort();
    const counts = new Array<number>(keys.length);
    for (let i = 0; i < keys.length; i++) counts[i] = this.#counts[this.#slots.find(keys[i])];
    return { keys, counts };
  }

  /** Checkpoint `checkpointId` is committed: its snapshot and every older one are durable. */
  notifyCheckpointComplete(checkpointId: number): void {
    if (checkpointId < this.#unconfirmedId) return;
    const u = this.#unconfirmed;
    for (let i = 0; i < u.size; i++) this.#flags[u.items[i]] &= ~UNCONFIRMED;
    this.#clearUnconfirmed();
  }

  /**
   * Checkpoint `checkpointId` failed: it will never complete, so its keys go back to the changed
   * set (the next snapshot carries them) and nothing stays filed under a dead id.
   */
  notifyCheckpointAborted(checkpointId: number): void {
    const u = this.#unconfirmed;
    if (checkpointId !== this.#unconfirmedId || u.size === 0) return;
    for (let i = 0; i < u.size; i++) {
      const s = u.items[i];
      this.#flags[s] &= ~UNCONFIRMED;
      if ((this.#flags[s] & CHANGED) === 0) {
        this.#flags[s] |= CHANGED;
        this.#changed.push(s);
      }
    }
    this.#clearUnconfirmed();
  }

  #clearUnconfirmed(): void {
    this.#unconfirmed.size = 0;
    // A burst of changed keys must not pin its list's memory for good.
    if (this.#unconfirmed.items.length > 4 * Math.max(64, this.#changed.size)) this.#unconfirmed = new SlotList();
    this.#unconfirmedId = 0;
  }

  /** The slot of `key` (new ones start at 0), with room for it in the per-slot arrays. */
  #slot(key: string): number {
    const s = this.#slots.intern(key);
    if (s === this.#counts.length) {
      this.#counts = grown(this.#counts, s * 2);
      this.#flags = grown(this.#flags, s * 2);
    }
    return s;
  }
}
