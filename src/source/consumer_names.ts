/**
 * @module
 * Names of the split readers' consumers, and which of them a starting attempt may delete as left
 * behind. One instance deletes every consumer of the reader's form (`pvf<subtask>_<6 hex>`): any
 * other live reader on its stream would be a misconfiguration. In cluster mode the other instances'
 * readers are live, so each instance tags its names with a hash of its id
 * (`pvf<subtask>i<8 hex>_<6 hex>`) and deletes only its own — an earlier run's or attempt's of the
 * same `PVFLOW_INSTANCE_ID`; a departed instance's expire after `PVFLOW_CONSUMER_INACTIVE_MS`.
 */

const SINGLE = /^pvf\d+_[0-9a-f]{6}$/;

/** The instance's tag: FNV-1a (32 bits) of its id, 8 hex digits; undefined outside cluster mode. */
export function instanceTag(instanceId: string | undefined): string | undefined {
  if (instanceId === undefined) return undefined;
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(instanceId)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}

/** What the consumers of source subtask `subtask` are named from (a random suffix follows `_`). */
export function consumerPrefix(subtask: number, tag: string | undefined): string {
  return tag === undefined ? `pvf${subtask}` : `pvf${subtask}i${tag}`;
}

/** Whether `name` is a split reader's consumer of this instance (`tag`), or of the one instance. */
export function isOwnConsumer(name: string, tag: string | undefined): boolean {
  if (tag === undefined) return SINGLE.test(name);
  const m = /^pvf\d+i([0-9a-f]{8})_[0-9a-f]{6}$/.exec(name);
  return m !== null && m[1] === tag;
}
