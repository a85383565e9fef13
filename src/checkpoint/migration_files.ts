/**
 * @module
 * Where drizzle's migrator finds the migrations: under Bun (and in the compiled binary) the files
 * embedded by `migration_files_embedded.ts`; under Deno, which has no `type: "file"` imports, the
 * source folder beside this module, with the `.sql` files its journal lists.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runtime } from "../platform.ts";

/** The migrations folder and its `.sql` files in journal order. */
export interface MigrationFiles {
  /** The `.sql` files, in journal order. */
  MIGRATION_FILES: string[];
  /** The folder holding `meta/_journal.json` and the `.sql` files (inside the binary: under `$bunfs`). */
  MIGRATIONS_FOLDER: string;
}

/**
 * The migrations of this runtime. A function, not a top-level `await`: a Worker whose modules
 * await at the top misses the messages posted to it meanwhile (the commit thread's init).
 */
export async function migrationFiles(): Promise<MigrationFiles> {
  if (runtime === "bun") return await import("./migration_files_embedded.ts");
  const folder = fileURLToPath(new URL("./migrations", import.meta.url));
  const journal = JSON.parse(readFileSync(join(folder, "meta/_journal.json"), "utf8")) as { entries: { tag: string }[] };
  return { MIGRATION_FILES: journal.entries.map((e) => join(folder, `${e.tag}.sql`)), MIGRATIONS_FOLDER: folder };
}
