/**
 * @module
 * What the checkpoint store's state was built with, kept in its `meta` table and checked at
 * startup: the key field. Counts by one field mixed with counts by another would be wrong
 * without any error, so a changed `PVFLOW_KEY_FIELD` is refused.
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
