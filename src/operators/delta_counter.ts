/**
 * @module
 * Cluster mode's counter: counts only the events since the last snapshot, never the totals (the
 * shared sink holds those, summed over every instance). A snapshot hands over the deltas and
 * files them under its checkpoint until that checkpoint ends: completed, they are in the sink and
 * dropped; aborted (nothing of it was written), they go back into the running deltas so that the
 * next snapshot carries them — each event's +1 is committed exactly once. Memory is bounded by
 * the keys seen per checkpoint interval, not by every key ever seen. Same interface as
 * {@link KeyedCounter}.
 */
import type { KeyCounts } from "../types.ts";

/** Per-key deltas since the last snapshot, plus the snapshots not yet ended. */
export class DeltaCounter {
  #deltas = new Map<string, number>();
  /** Snapshots taken and not yet completed or aborted, by checkpoint id. */
  #inFlight = new Map<number, Map<string, number>>();

  /** Keys with a delta not yet handed over. */
  get size(): number {
    return this.#deltas.size;
  }

  /** Entries held: running deltas and snapshots in flight. */
  get trackedKeys(): number {
    let n = this.#deltas.size;
    for (const m of this.#inFlight.values()) n += m.size;
    return n;
  }

  /** The running delta of `key` (0 when none). */
  get(key: string): number {
    return this.#deltas.get(key) ?? 0;
  }

  /** There is never restored state in cluster mode: the totals stay in the sink. */
  restore(state: KeyCounts): void {
    if (state.keys.length > 0) throw new Error("a delta counter restores no counts (cluster mode keeps them in the shared sink)");
  }

  /** Counts one event per key. */
  add(keys: string[]): void {
    const d = this.#deltas;
    for (let i = 0; i < keys.length; i++) d.set(keys[i], (d.get(keys[i]) ?? 0) + 1);
  }

  /** The deltas since the last snapshot, in key order, filed under `checkpointId` until it ends. */
  snapshot(checkpointId: number): KeyCounts {
    const taken = this.#deltas;
    this.#deltas = new Map();
    if (taken.size > 0) this.#inFlight.set(checkpointId, taken);
    // In key order, as KeyedCounter's: the commit adds them in one sweep of the counts B-tree.
    const keys = [...taken.keys()].sort();
    const counts = new Array<number>(keys.length);
    for (let i = 0; i < keys.length; i++) counts[i] = taken.get(keys[i])!;
    return { keys, counts };
  }

  /** Checkpoint `checkpointId` is committed: its deltas are in the sink. */
  notifyCheckpointComplete(checkpointId: number): void {
    this.#inFlight.delete(checkpointId);
  }

  /** Checkpoint `checkpointId` failed before writing anything: its deltas count again. */
  notifyCheckpointAborted(checkpointId: number): void {
    const back = this.#inFlight.get(checkpointId);
    if (back === undefined) return;
    this.#inFlight.delete(checkpointId);
    const d = this.#deltas;
    for (const [k, n] of back) d.set(k, (d.get(k) ?? 0) + n);
  }
}
