/**
 * @module
 * Splits a restored window state by key group among the count subtasks (as `partitionByKeyGroup`
 * does for the counts), so that each subtask gets the open windows of exactly its keys.
 */
import { subtaskOfKey } from "../runtime/key_group.ts";
import type { WindowSnapshot } from "./window_state.ts";

/** One part per count subtask; undefined state: none stored. */
export function windowPartition(state: WindowSnapshot | undefined, maxParallelism: number, parallelism: number): WindowSnapshot[] {
  const parts: WindowSnapshot[] = Array.from({ length: parallelism }, () => ({
    watermark: state?.watermark ?? -Infinity, keys: [], starts: [], counts: [], revisions: [], fired: state?.fired ?? [],
  }));
  if (!state) return parts;
  for (let i = 0; i < state.keys.length; i++) {
    const p = parts[subtaskOfKey(state.keys[i], maxParallelism, parallelism)];
    p.keys.push(state.keys[i]);
    p.starts.push(state.starts[i]);
    p.counts.push(state.counts[i]);
    p.revisions.push(state.revisions[i]);
  }
  return parts;
}
