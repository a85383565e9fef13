/**
 * @module
 * Key → key group → count subtask, as Flink's `KeyGroupRangeAssignment`: a key belongs to key
 * group `hash(key) mod maxParallelism` forever; each count subtask owns a contiguous range of key
 * groups, so state can later be redistributed to another parallelism by whole key groups.
 */
import type { KeyCounts } from "../types.ts";

/** FNV-1a 32-bit over the UTF-16 code units of `key`; stable across processes and versions. */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The key group of `key`, in `[0, maxParallelism)`. */
export function keyGroupOf(key: string, maxParallelism: number): number {
  return hashKey(key) % maxParallelism;
}

/** The subtask that owns key group `keyGroup` (Flink: `keyGroup * parallelism / maxParallelism`). */
export function subtaskOfKeyGroup(keyGroup: number, maxParallelism: number, parallelism: number): number {
  return Math.floor((keyGroup * parallelism) / maxParallelism);
}

/** The subtask that owns `key`. */
export function subtaskOfKey(key: string, maxParallelism: number, parallelism: number): number {
  return subtaskOfKeyGroup(keyGroupOf(key, maxParallelism), maxParallelism, parallelism);
}

/** Splits restored counts among `parallelism` count subtasks by the key group of each key. */
export function partitionByKeyGroup(state: KeyCounts, maxParallelism: number, parallelism: number): KeyCounts[] {
  const parts: KeyCounts[] = Array.from({ length: parallelism }, () => ({ keys: [], counts: [] }));
  for (let i = 0; i < state.keys.length; i++) {
    const p = parts[subtaskOfKey(state.keys[i], maxParallelism, parallelism)];
    p.keys.push(state.keys[i]);
    p.counts.push(state.counts[i]);
  }
  return parts;
}

/** The inclusive key-group range `[start, end]` owned by `subtask`. */
export function keyGroupRange(subtask: number, maxParallelism: number, parallelism: number): [number, number] {
  const start = Math.ceil((subtask * maxParallelism) / parallelism);
  const end = Math.ceil(((subtask + 1) * maxParallelism) / parallelism) - 1;
  return [start, end];
}
