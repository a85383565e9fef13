/**
 * @module
 * Tests of the startup migration against real libSQL (a file and a real sqld): a fresh database
 * migrated by drizzle has the same structure as one made by release 0.1.0, or by the in-code
 * schema that came after it, once baselined; their data survives; two processes opening a
 * database at once agree; every migration in the journal is embedded.
 */
import { createClient, type Client } from "@libsql/client";
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { runScript } from "../../tests/support/child_process.ts";
import { Sqld } from "../../tests/support/sqld.ts";
import { migrationFiles } from "./migration_files.ts";
import { FENCED_MESSAGE } from "./schema.ts";
import { checkHandWritten, migrateSchema } from "./schema_migrate.ts";
import { CheckpointStore } from "./store.ts";
import { SCHEMA_0_1_0 } from "../../tests/support/schema_0_1_0.ts";

const { MIGRATION_FILES, MIGRATIONS_FOLDER } = await migrationFiles();

/** What the in-code schema after 0.1.0 added (`git show 405d7ff:src/checkpoint/schema.ts`), verbatim. */
const SCHEMA_IN_CODE = [
  ...SCHEMA_0_1_0,
  `CREATE TABLE IF NOT EXISTS owner (id INTEGER PRIMARY KEY CHECK (id = 1), epoch INTEGER NOT NULL, pid INTEGER NOT NULL,
     host TEXT NOT NULL, started_at TEXT NOT NULL)`,
  "ALTER TABLE checkpoints ADD COLUMN epoch INTEGER",
  `CREATE TRIGGER IF NOT EXISTS checkpoints_fence BEFORE INSERT ON checkpoints
     WHEN NEW.epoch IS NOT (SELECT epoch FROM owner WHERE id = 1)
     BEGIN SELECT RAISE(ABORT, '${FENCED_MESSAGE}'); END`,
];

/** State as 0.1.0 commits it: two checkpoints, two splits, three keys. */
const DATA_0_1_0 = [
  "INSERT INTO checkpoints (id, trigger_time, completed_time, duration_ms, alignment_ms, rows, bytes) VALUES (1, 10, 11, 1, 0, 2, 20), (2, 20, 21, 1, 0, 1, 10)",
  "INSERT INTO positions VALUES ('PV', 'pv.0', 41, 2, '2026-11-25T00:00:00Z'), ('PV', 'pv.1', 40, 1, '2026-11-25T00:00:00Z')",
  "INSERT INTO counts VALUES ('a', 7, 2), ('b', 3, 1), ('c', 1, 1)",
  "INSERT INTO meta VALUES ('opened_at', '2026-11-25T00:00:00Z')",
];

/** 0.1.0's data, read by its own columns (later migrations add columns). */
const OLD_DATA = [
  "SELECT stream, subject, seq, checkpoint_id, stream_created FROM positions ORDER BY 1, 2",
  "SELECT * FROM counts ORDER BY 1, 2",
  "SELECT * FROM meta ORDER BY 1, 2",
];

/** The table structure as SQLite sees it (names, columns, keys, rowid, indexes, triggers), not its DDL text. */
async function structure(db: Client) {
  const tables = (await db.execute(
    "SELECT name, wr, strict FROM pragma_table_list WHERE schema = 'main' AND name NOT LIKE 'sqlite_%' AND name != '__drizzle_migrations' ORDER BY name",
  )).rows;
  const out: Record<string, unknown> = {};
  for (const t of tables) {
    const name = String(t[0]);
    const cols = await db.execute({ sql: "SELECT name, upper(type), \"notnull\", dflt_value, pk FROM pragma_table_xinfo(?) ORDER BY cid", args: [name] });
    const idx = await db.execute({ sql: "SELECT \"unique\", origin, partial FROM pragma_index_list(?) ORDER BY origin", args: [name] });
    out[name] = {
      withoutRowid: Number(t[1]), strict: Number(t[2]),
      // A key column of a rowid table is declared NOT NULL by drizzle, not by 0.1.0 (where SQLite
      // would allow a NULL key nobody writes): compare it as "not null or key".
      columns: cols.rows.map((c) => [c[0], c[1], Number(c[2]) || Number(c[4]) ? 1 : 0, c[3], Number(c[4])]),
      indexes: idx.rows.map((i) => [Number(i[0]), i[1], Number(i[2])]),
    };
  }
  out.triggers = (await db.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger' ORDER BY name")).rows.map((r) => [r[0], r[1]]);
  return out;
}

/** Rows as plain arrays (bigint → number). */
async function rows(db: Client, sql: string): Promise<unknown[][]> {
  return (await db.execute(sql)).rows.map((r) => Array.from({ length: r.length }, (_, i) => (typeof r[i] === "bigint" ? Number(r[i]) : r[i])));
}

/** Opens a store on `url` in a new process; resolves with the epoch it claimed. */
async function openInProcess(url: string): Promise<number> {
  const { code, stdout, stderr } = await runScript(`import { CheckpointStore } from ${JSON.stringify(join(import.meta.dirname, "store.ts"))};
    const s = await CheckpointStore.open({ url: ${JSON.stringify(url)}, stream: "PV" });
    console.log(s.epoch); s.close();`);
  if (code !== 0) throw new Error(`opening ${url} in another process failed (${code}): ${stderr}`);
  return Number(stdout.trim());
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pvflow-migrate-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

test("schema migrate - every journal entry's .sql is embedded beside the journal", () => {
  const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, "meta/_journal.json"), "utf8"));
  expect(MIGRATION_FILES.map((f) => basename(f, ".sql"))).toEqual(journal.entries.map((e: { tag: string }) => e.tag));
  for (const f of MIGRATION_FILES) expect(dirname(f)).toBe(MIGRATIONS_FOLDER);
});

test("schema migrate - migration 0000 keeps what drizzle cannot declare: WITHOUT ROWID counts and the fence with FENCED_MESSAGE", () => {
  const sql = readFileSync(MIGRATION_FILES[0], "utf8");
  expect(sql).toMatch(/CREATE TABLE `counts` \([^;]*\) WITHOUT ROWID;/);
  expect(sql).toContain(`RAISE(ABORT, '${FENCED_MESSAGE}')`);
});

test("schema migrate - a database without the fence trigger or with counts as a rowid table is refused", async () => {
  for (const damage of ["DROP TRIGGER checkpoints_fence",
    "CREATE TABLE c2 (key TEXT PRIMARY KEY, count INTEGER NOT NULL, checkpoint_id INTEGER NOT NULL); DROP TABLE counts; ALTER TABLE c2 RENAME TO counts"]) {
    const db = createClient({ url: `file:${join(dir, `damaged-${damage.length}.db`)}` });
    try {
      await migrateSchema(db);
      await checkHandWritten(db); // intact: passes
      await db.executeMultiple(damage); // what a careless table-rebuilding migration would do
      await expect(migrateSchema(db)).rejects.toThrow(/checkpoints_fence|WITHOUT ROWID/);
    } finally {
      db.close();
    }
  }
});

for (const kind of ["file", "sqld"] as const) {
  describe(`schema migrate - ${kind}`, () => {
    /** A new empty database of this kind. */
    async function fresh(name: string, sqld?: Sqld): Promise<{ url: string; db: Client }> {
      const url = sqld ? sqld.url : `file:${join(dir, `${name}.db`)}`;
      if (sqld) {
        const db = createClient({ url });
        // one sqld per test: empty it instead (drop everything of the previous database)
        for (const [type, n] of await rows(db, "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'trigger') AND name NOT LIKE 'sqlite_%'")) {
          await db.execute(`DROP ${type} IF EXISTS "${n}"`);
        }
        return { url, db };
      }
      return { url, db: createClient({ url }) };
    }

    test(`schema migrate - ${kind}: 0.1.0 and in-code databases are baselined to the structure of a migrated fresh one, keeping their data`, async () => {
      await using sqld = kind === "sqld" ? await Sqld.start() : undefined;
      const a = await fresh("fresh", sqld);
      await migrateSchema(a.db);
      const want = await structure(a.db);
      expect(Object.keys(want)).toEqual(["checkpoints", "counts", "meta", "owner", "positions", "window_counts", "window_outbox", "window_state", "triggers"]);
      expect((want.counts as { withoutRowid: number }).withoutRowid).toBe(1);
      const journal = await rows(a.db, "SELECT hash, created_at FROM __drizzle_migrations");
      a.db.close();

      for (const [label, ddl] of [["0.1.0", SCHEMA_0_1_0], ["in-code", SCHEMA_IN_CODE]] as const) {
        const b = await fresh(label, sqld);
        try {
          await b.db.batch([...ddl, ...DATA_0_1_0], "write");
          const before = await Promise.all(OLD_DATA.map((q) => rows(b.db, q)));
          await migrateSchema(b.db);
          await migrateSchema(b.db); // idempotent
          expect(await structure(b.db)).toEqual(want);
          expect(await rows(b.db, "SELECT hash, created_at FROM __drizzle_migrations")).toEqual(journal);
          expect(await Promise.all(OLD_DATA.map((q) => rows(b.db, q)))).toEqual(before);
          expect(await rows(b.db, "SELECT id, epoch FROM checkpoints ORDER BY id")).toEqual([[1, null], [2, null]]);
          // the CHECK of the owner table holds either way
          await expect(b.db.execute("INSERT INTO owner VALUES (2, 1, 1, 'h', 't')")).rejects.toThrow(/CHECK constraint failed/);

          // and the store opens it: restores 0.1.0's state and commits under a claim
          const s = await CheckpointStore.open({ url: b.url, stream: "PV" });
          try {
            const latest = await s.loadLatest();
            expect(latest).toEqual({
              checkpointId: 2, positions: { "pv.0": 41, "pv.1": 40 }, streamCreated: "2026-11-25T00:00:00Z",
              counts: { keys: ["a", "b", "c"], counts: [7, 3, 1] },
            });
            await s.commit({ record: { id: 3, status: "IN_PROGRESS", triggerTime: 1, subtasks: [] }, positions: { "pv.0": 42 }, keys: ["a"], counts: [8] });
            expect(await s.readCount("a")).toEqual({ count: 8, checkpointId: 3 });
          } finally {
            s.close();
          }
        } finally {
          b.db.close();
        }
      }
    });

    for (const start of ["fresh", "0.1.0"] as const) {
      test(`schema migrate - ${kind}: two processes opening a ${start} database at once both open it; each migration is recorded once`, async () => {
        await using sqld = kind === "sqld" ? await Sqld.start() : undefined;
        const { url, db } = await fresh(start, sqld);
        try {
          if (start === "0.1.0") await db.batch([...SCHEMA_0_1_0, ...DATA_0_1_0], "write");
          // Separate processes: a file client's busy wait is synchronous, so stores racing in one
          // thread would wait on each other's open transaction instead of on another process.
          const epochs = await Promise.all([1, 2, 3].map(() => openInProcess(url)));
          expect(epochs.sort()).toEqual([1, 2, 3]);
          const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, "meta/_journal.json"), "utf8"));
          expect(Number((await rows(db, "SELECT count(*) FROM __drizzle_migrations"))[0][0])).toBe(journal.entries.length);
          if (start === "0.1.0") expect(await rows(db, "SELECT key, count FROM counts ORDER BY key")).toEqual([["a", 7], ["b", 3], ["c", 1]]);
        } finally {
          db.close();
        }
      });
    }
  });
}
