/**
 * @module
 * Checkpoint history retention: the `checkpoints` table keeps only its newest
 * `PVFLOW_CHECKPOINT_HISTORY` rows (one checkpoint a second adds ~86k rows a day otherwise).
 *
 * Why it is safe: restore reads the latest completed checkpoint's id (`max(id)`) and trigger time
 * (the dead-letter scan), which is the newest row and always kept; the split positions and the
 * counts live in their own tables (one row per split, one per key), never deleted here. Only
 * completed checkpoints have rows (a failed one writes nothing), so every row kept is restorable
 * history. The delete runs inside each commit's transaction, after its checkpoint row: a fenced or
 * failed commit deletes nothing either.
 */

/**
 * Deletes every checkpoint row older than the newest `keep` (ids need not be contiguous: restarts
 * skip ids). The subquery walks `keep` entries of the primary key, so the cost is bounded by
 * `keep`, not by the table; with fewer rows it is NULL and nothing is deleted.
 */
export function retentionStatement(keep: number): { sql: string; args: number[] } {
  if (!Number.isSafeInteger(keep) || keep < 1) throw new Error(`checkpoint history must keep at least 1 row, got ${keep}`);
  return {
    sql: "DELETE FROM checkpoints WHERE id < (SELECT id FROM checkpoints ORDER BY id DESC LIMIT 1 OFFSET ?)",
    args: [keep - 1],
  };
}
