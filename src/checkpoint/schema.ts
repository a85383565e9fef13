/**
 * @module
 * The checkpoint store's schema, all of its DDL in one place: the tables of release 0.1.0, the
 * columns added since (applied to an older database on open), and the ownership fence — an
 * `owner` row whose epoch every checkpoint insert must carry, so that only the process that
 * claimed the database last can commit.
 */
import type { Client } from "@libsql/client";

/** The tables, as release 0.1.0 created them (never change these: add to {@link ADDED_COLUMNS}). */
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
  // Since 0.2: the one process allowed to commit (one row; epoch + 1 at every claim).
  `CREATE TABLE IF NOT EXISTS owner (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     epoch INTEGER NOT NULL,
     pid INTEGER NOT NULL,
     host TEXT NOT NULL,
     started_at TEXT NOT NULL
   )`,
];

/** Columns added after 0.1.0: [table, column, type]. Rows of 0.1.0 have NULL there. */
const ADDED_COLUMNS: Array<[string, string, string]> = [
  ["checkpoints", "epoch", "INTEGER"],
];

/** The text a fenced commit fails with (RAISE takes a literal only). */
export const FENCED_MESSAGE = "fenced: another pvflow process took over the database";

/**
 * The fence: a checkpoint row whose epoch is not the owner's aborts its whole transaction. `IS NOT`
 * so that a NULL epoch — a 0.1.0 binary still running on a claimed database — is fenced too.
 * Commits insert the checkpoint row first, so a fenced one fails before any other work.
 */
const TRIGGERS = [
  `CREATE TRIGGER IF NOT EXISTS checkpoints_fence BEFORE INSERT ON checkpoints
     WHEN NEW.epoch IS NOT (SELECT epoch FROM owner WHERE id = 1)
     BEGIN SELECT RAISE(ABORT, '${FENCED_MESSAGE}'); END`,
];

/** Who claims the database. */
export interface Instance {
  pid: number;
  host: string;
  startedAt: string;
}

/** The claim: epoch + 1 (1 on a fresh database) with the claimer's identity; returns the epoch. */
export const CLAIM = `INSERT INTO owner (id, epoch, pid, host, started_at) VALUES (1, 1, ?, ?, ?)
  ON CONFLICT (id) DO UPDATE SET epoch = owner.epoch + 1, pid = excluded.pid, host = excluded.host,
    started_at = excluded.started_at
  RETURNING epoch`;

/** The current owner row. */
export const OWNER = "SELECT epoch, pid, host, started_at FROM owner WHERE id = 1";

/** Creates the schema, or brings a database of an older release up to it. Idempotent. */
export async function applySchema(client: Client): Promise<void> {
  await client.batch(TABLES, "write");
  for (const [table, column, type] of ADDED_COLUMNS) {
    const rs = await client.execute({ sql: `SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`, args: [table, column] });
    if (Number(rs.rows[0][0]) > 0) continue;
    try {
      await client.execute(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
    } catch (err) {
      // Another process starting at the same moment added it first.
      if (!/duplicate column/i.test((err as Error).message)) throw err;
    }
  }
  await client.batch(TRIGGERS, "write");
}
