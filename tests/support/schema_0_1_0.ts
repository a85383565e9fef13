/**
 * @module
 * The DDL of release 0.1.0, verbatim (`git show d4c2790:src/checkpoint/store.ts`): tests build
 * databases as that release left them, to check they open and migrate losslessly.
 */
export const SCHEMA_0_1_0: string[] = [
  `CREATE TABLE IF NOT EXISTS checkpoints (id INTEGER PRIMARY KEY, trigger_time INTEGER NOT NULL,
     completed_time INTEGER NOT NULL, duration_ms REAL NOT NULL, alignment_ms REAL NOT NULL,
     rows INTEGER NOT NULL, bytes INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS positions (stream TEXT NOT NULL, subject TEXT NOT NULL, seq INTEGER NOT NULL,
     checkpoint_id INTEGER NOT NULL, stream_created TEXT, PRIMARY KEY (stream, subject))`,
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS counts (key TEXT PRIMARY KEY, count INTEGER NOT NULL, checkpoint_id INTEGER NOT NULL) WITHOUT ROWID`,
];
