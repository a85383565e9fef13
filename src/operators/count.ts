/**
 * @module
 * The keyed page-view counter: `Map<key, count>` plus the bookkeeping for incremental
 * checkpoints. A snapshot carries the absolute counts of every key changed since the last
 * COMPLETED checkpoint, so an aborted or failed checkpoint loses nothing: its keys are simply
 * carried again by the next snapshot.
 */
import type { KeyCounts } from "../types.ts";

/** Counts per key with changed-key tracking. */
export class KeyedCounter {
  #counts = new Map<string, number>();
  /** Keys changed since the last snapshot. */
  #changed = new Set<string>();
  /** Keys of snapshots taken but not yet known to be completed, by checkpoint id. */
  #unconfirmed = new Map<number, Set<string>>();

  /** Number of distinct keys. */
  get size(): number {
    return this.#counts.size;
  }

  /** The count of `key` (0 when unseen). */
  get(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  /** Loads restored state; restored keys are not "changed". */
  restore(state: KeyCounts): void {
    for (let i = 0; i < state.keys.length; i++) this.#counts.set(state.keys[i], state.counts[i]);
  }

  /** Counts one event per key. */
  add(keys: string[]): void {
    const counts = this.#counts;
    const changed = this.#changed;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      counts.set(k, (counts.get(k) ?? 0) + 1);
      changed.add(k);
    }
  }

  /** The absolute counts of every key changed since the last completed checkpoint. */
  snapshot(checkpointId: number): KeyCounts {
    let keys: Set<string> = this.#changed;
    if (this.#unconfirmed.size > 0) {
      keys = new Set(keys);
      for (const s of this.#unconfirmed.values()) for (const k of s) keys.add(k);
    }
    this.#unconfirmed.set(checkpointId, this.#changed);
    this.#changed = new Set();
    const out: KeyCounts = { keys: new Array(keys.size), counts: new Array(keys.size) };
    let i = 0;
    for (const k of keys) {
      out.keys[i] = k;
      out.counts[i++] = this.#counts.get(k)!;
    }
    return out;
  }

  /** Checkpoint `checkpointId` is committed: its snapshot and every older one are durable. */
  notifyCheckpointComplete(checkpointId: number): void {
    for (const id of this.#unconfirmed.keys()) if (id <= checkpointId) this.#unconfirmed.delete(id);
  }
}
