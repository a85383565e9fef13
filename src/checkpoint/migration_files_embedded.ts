/**
 * @module
 * The migration files under Bun, imported as files so that `bun build --compile` embeds them (with
 * `naming.asset` keeping their paths, see `scripts/build.ts`) and drizzle's migrator reads them
 * from the binary's own file system. A new migration from `drizzle-kit generate` needs its import
 * line here too: `migration_files_test.ts` fails until every journal entry has one.
 */
import { dirname } from "node:path";
import journal from "./migrations/meta/_journal.json" with { type: "file" };
import m0000 from "./migrations/0000_baseline.sql" with { type: "file" };
import m0001 from "./migrations/0001_windows.sql" with { type: "file" };
import m0002 from "./migrations/0002_cluster.sql" with { type: "file" };

/** The embedded `.sql` files, in journal order. */
export const MIGRATION_FILES: string[] = [m0000, m0001, m0002];

/** The folder holding `meta/_journal.json` and the `.sql` files (inside the binary: under `$bunfs`). */
// `type: "file"` makes the import the file's path; TypeScript types a JSON import as its content.
export const MIGRATIONS_FOLDER: string = dirname(dirname(journal as unknown as string));
