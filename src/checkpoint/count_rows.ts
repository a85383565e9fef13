/**
 * @module
 * Changed counts in the form the store's upsert takes them: ONE JSON text `[[key, count], ...]`
 * that SQLite unpacks with `json_each` (see `store.ts`). A count subtask encodes its snapshot
 * itself, so what it stages to the commit thread is one string instead of two arrays of
 * 100k+ entries: the structured clone of a string is a copy, the commit thread rebuilds no
 * arrays and builds no JSON, and its heap never holds the keys one by one (1M keys: ~150k
 * changed per checkpoint and subtask).
 */
import type { KeyCounts } from "../types.ts";

/** Some changed counts, encoded. */
export interface CountRows {
  /** `[[key, count], ...]` as JSON. */
  json: string;
  /** Rows in it. */
  rows: number;
  /** Data bytes they stand for (UTF-16 length of each key + 8), as the checkpoint history reports them. */
  bytes: number;
}

/** Encodes `counts` (keys in the order given; counts are integers below 2^53). */
export function encodeCountRows({ keys, counts }: KeyCounts): CountRows {
  const parts = new Array<string>(keys.length);
  let bytes = 0;
  for (let i = 0; i < keys.length; i++) {
    parts[i] = `[${JSON.stringify(keys[i])},${counts[i]}]`;
    bytes += keys[i].length + 8;
  }
  return { json: `[${parts.join(",")}]`, rows: keys.length, bytes };
}
