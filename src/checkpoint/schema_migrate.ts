/**
 * @module
 * Brings a database to the newest schema at startup: a database made before the migrations
 * (release 0.1.0 or later in-code builds) is first baselined to migration 0000 in place
 * (`legacy_schema.ts`), then drizzle's libSQL migrator applies every migration not yet recorded
 * in `__drizzle_migrations` — on an embedded file and on a libSQL server alike.
 */
import type { Client } from "@libsql/client";
import { drizzle } from "drizzle-orm/libsql";
import { migrate } from "drizzle-orm/libsql/migrator";
import { readMigrationFiles } from "drizzle-orm/migrator";
import { baselineLegacy } from "./legacy_schema.ts";
import { migrationFiles } from "./migration_files.ts";

/** Creates the schema, or brings an older database up to it. Idempotent. */
export async function migrateSchema(client: Client): Promise<void> {
  const config = { migrationsFolder: (await migrationFiles()).MIGRATIONS_FOLDER };
  const [baseline] = readMigrationFiles(config);
  await baselineLegacy(client, baseline);
  const db = drizzle(client);
  try {
    await migrate(db, config);
  } catch (err) {
    // drizzle reads which migrations are applied before its transaction, so a second process
    // starting at the same moment can apply them in between (`table ... already exists`). Read
    // again: then they are recorded and nothing is left to do. A real failure fails again.
    await migrate(db, config).catch(() => Promise.reject(err));
  }
  await checkHandWritten(client);
}

/**
 * What drizzle cannot declare, and a later migration that rebuilds a table would silently drop:
 * the fence triggers (one writer per database; one owner per split in cluster mode) and `counts`
 * WITHOUT ROWID. Refuses to run without.
 */
export async function checkHandWritten(client: Client): Promise<void> {
  const rs = await client.execute(
    "SELECT type, name, sql FROM sqlite_master WHERE (type = 'trigger' AND name IN ('checkpoints_fence', 'positions_fence')) OR (type = 'table' AND name = 'counts')",
  );
  const trigger = (name: string) => rs.rows.find((r) => r[0] === "trigger" && r[1] === name);
  const fence = trigger("checkpoints_fence");
  const counts = rs.rows.find((r) => r[0] === "table");
  if (!fence || !/ON\s+`?checkpoints`?/i.test(String(fence[2]))) {
    throw new Error("checkpoint store schema: trigger checkpoints_fence on checkpoints is missing (a migration dropped it?): " +
      "without it a second process could overwrite newer checkpoints");
  }
  const splitFence = trigger("positions_fence");
  if (!splitFence || !/ON\s+`?positions`?/i.test(String(splitFence[2]))) {
    throw new Error("checkpoint store schema: trigger positions_fence on positions is missing (a migration dropped it?): " +
      "without it a zombie cluster instance could commit over a split's new owner");
  }
  if (!counts || !/WITHOUT\s+ROWID\s*$/i.test(String(counts[2]).trim())) {
    throw new Error("checkpoint store schema: table counts must be WITHOUT ROWID (a migration rebuilt it without?)");
  }
}
