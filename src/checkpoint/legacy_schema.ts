/**
 * @module
 * Databases made before the schema was kept as drizzle migrations — by release 0.1.0, or by a
 * later build that still created and upgraded its schema in code — have no `__drizzle_migrations`
 * table. {@link baselineLegacy} brings such a database to migration 0000 in place (every count and
 * position kept) and records 0000 as applied, so drizzle's migrator then applies only what came
 * after. Frozen: the schema changes by adding migrations, never here.
 */
import type { Client } from "@libsql/client";
import { FENCED_MESSAGE } from "./schema.ts";

/** The tables of release 0.1.0, verbatim, and the `owner` table the in-code upgrade added. */
const TABLES = [
  `CREATE TABLE IF NOT EXISTS checkpoints (
     id INTEGER PRIMARY KEY,
     trigger_time INTEGER NOT NULL,
     completed_time INTEGER NOT NULL,
     duration_ms REAL NOT NULL,
     alignment_ms REAL NOT NULL,
     rows INTEGER NOT NULL,
     bytes INTEGER NOT NULL
   )`,
  `CREATE TABLE IF NOT EXISTS positions (
     stream TEXT NOT NULL,
     subject TEXT NOT NULL,
     seq INTEGER NOT NULL,
     checkpoint_id INTEGER NOT NULL,
     stream_created TEXT,
     PRIMARY KEY (stream, subject)
   )`,
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS counts (
     key TEXT PRIMARY KEY,
     count INTEGER NOT NULL,
     checkpoint_id INTEGER NOT NULL
   ) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS owner (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     epoch INTEGER NOT NULL,
     pid INTEGER NOT NULL,
     host TEXT NOT NULL,
     started_at TEXT NOT NULL
   )`,
];

/** Migration 0000's fence trigger, as the in-code upgrade created it. */
const FENCE = `CREATE TRIGGER IF NOT EXISTS checkpoints_fence BEFORE INSERT ON checkpoints
  WHEN NEW.epoch IS NOT (SELECT epoch FROM owner WHERE id = 1)
  BEGIN SELECT RAISE(ABORT, '${FENCED_MESSAGE}'); END`;

/** drizzle's journal table, exactly as `drizzle-orm/libsql/migrator` creates it. */
const JOURNAL = `CREATE TABLE IF NOT EXISTS "__drizzle_migrations" (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)`;

/** The tables a pre-migrations database may have: any of them marks one (a partial one too). */
const LEGACY_TABLES = ["checkpoints", "positions", "meta", "counts", "owner"];

/** The migration a legacy database is brought to: its journal hash and `when`. */
export interface BaselineMigration {
  hash: string;
  folderMillis: number;
}

/**
 * If the database has any pvflow table but no drizzle journal, completes it to migration 0000
 * (missing tables, the `epoch` column 0.1.0 lacks, the fence trigger) and records `baseline` as
 * applied — all in one write transaction, which also makes two processes starting at once agree.
 * Returns whether it did. A fresh database and a migrated one are left alone.
 */
export async function baselineLegacy(client: Client, baseline: BaselineMigration): Promise<boolean> {
  const tx = await client.transaction("write");
  try {
    const rs = await tx.execute(
      `SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (${[...LEGACY_TABLES, "__drizzle_migrations"].map((t) => `'${t}'`).join(", ")})`,
    );
    const present = new Set(rs.rows.map((r) => String(r[0])));
    if (present.has("__drizzle_migrations") || present.size === 0) {
      await tx.rollback();
      return false;
    }
    for (const ddl of TABLES) await tx.execute(ddl);
    const epoch = await tx.execute("SELECT count(*) FROM pragma_table_info('checkpoints') WHERE name = 'epoch'");
    // Rows of 0.1.0 keep a NULL epoch.
    if (Number(epoch.rows[0][0]) === 0) await tx.execute("ALTER TABLE checkpoints ADD COLUMN epoch INTEGER");
    await tx.execute(FENCE);
    await tx.execute(JOURNAL);
    await tx.execute({
      sql: `INSERT INTO "__drizzle_migrations" ("hash", "created_at") VALUES (?, ?)`,
      args: [baseline.hash, baseline.folderMillis],
    });
    await tx.commit();
    return true;
  } finally {
    tx.close();
  }
}
