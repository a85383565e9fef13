/**
 * @module
 * drizzle-kit's configuration: `node_modules/.bin/drizzle-kit generate` (offline) diffs the tables
 * of `src/checkpoint/schema.ts` against the last snapshot and writes the next migration to
 * `src/checkpoint/migrations/`; pvflow applies pending ones at startup (`schema_migrate.ts`).
 */
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./src/checkpoint/schema.ts",
  out: "./src/checkpoint/migrations",
});
