/**
 * @module
 * What the checkpoint store's state was built with, kept in its `meta` table and checked at
 * startup: the key field, and the window size. Counts by one field mixed with counts by another
 * would be wrong without any error, so a changed `PVFLOW_KEY_FIELD` is refused; so is a changed
 * `PVFLOW_WINDOW_MS` while windows of the old size are open.
 */
import type { Client } from "@libsql/client";
import { ConfigError } from "../config.ts";

/** The `meta` row holding the key field the counts are by. */
const KEY_FIELD = "key_field";

/**
 * Records `keyField` on first use of the database (also a database from release 0.1.0, which has
 * no such row: it adopts the current field) and throws a {@link ConfigError} naming
 * `PVFLOW_KEY_FIELD` when the database was built with another one.
 */
export async function adoptKeyField(client: Client, keyField: string): Promise<void> {
  // One write transaction: two processes opening a new database at once agree on one field.
  const [, rs] = await client.batch([
    { sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", args: [KEY_FIELD, keyField] },
    { sql: "SELECT value FROM meta WHERE key = ?", args: [KEY_FIELD] },
  ], "write");
  const stored = String(rs.rows[0][0]);
  if (stored !== keyField) {
    throw new ConfigError(
      `PVFLOW_KEY_FIELD must be ${JSON.stringify(stored)}, the field the counts in this PVFLOW_DB_URL are by ` +
        `(to count by another field, start fresh with a new PVFLOW_DB_URL), got ${JSON.stringify(keyField)}`,
    );
  }
}

/** The `meta` row holding the size of the windows in `window_state`. */
const WINDOW_MS = "window_ms";
/** The `meta` row whose presence makes new results enter `window_outbox` (an output subject is set). */
const WINDOW_OUTBOX = "window_outbox";

/**
 * Windows on: records `sizeMs`, and throws a {@link ConfigError} naming `PVFLOW_WINDOW_MS` when
 * open windows of another size are stored (they would be restored as windows of the wrong size).
 * Windows off: the stored open windows are abandoned (deleted), so that turning windows on again
 * later never fires a window that missed the events in between. `publish`: results are published
 * (an output subject is set), so new ones are queued in the outbox. Returns the entries abandoned.
 */
export async function adoptWindowSize(client: Client, sizeMs: number | undefined, publish = false): Promise<number> {
  if (sizeMs === undefined) {
    const [rs] = await client.batch([
      "DELETE FROM window_state",
      { sql: "DELETE FROM meta WHERE key IN (?, ?)", args: [WINDOW_MS, WINDOW_OUTBOX] },
    ], "write");
    return rs.rowsAffected;
  }
  const [open, stored] = await client.batch([
    "SELECT count(*) FROM window_state",
    { sql: "SELECT value FROM meta WHERE key = ?", args: [WINDOW_MS] },
  ], "read");
  const was = stored.rows[0]?.[0];
  if (Number(open.rows[0][0]) > 0 && was !== undefined && Number(was) !== sizeMs) {
    throw new ConfigError(
      `PVFLOW_WINDOW_MS must be ${was}, the size of the open windows in this PVFLOW_DB_URL ` +
        `(unset it once to abandon them, or start fresh with a new PVFLOW_DB_URL), got "${sizeMs}"`,
    );
  }
  await client.batch([
    { sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", args: [WINDOW_MS, String(sizeMs)] },
    // the outbox trigger of migration 0001 queues results only while this row exists
    publish
      ? { sql: "INSERT INTO meta (key, value) VALUES (?, 'on') ON CONFLICT (key) DO NOTHING", args: [WINDOW_OUTBOX] }
      : { sql: "DELETE FROM meta WHERE key = ?", args: [WINDOW_OUTBOX] },
  ], "write");
  return 0;
}
