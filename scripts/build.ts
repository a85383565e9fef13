/**
 * @module
 * Builds the single executable `dist/pvflow`: `mod.ts` plus every Worker entry, compiled by Bun,
 * with the libSQL native addon resolved statically (see {@link libsqlStaticAddon}) and the schema
 * migrations embedded.
 */
import type { BunPlugin } from "bun";

/** Worker entry files; each must be loaded as `new Worker(new URL("<path>", import.meta.url))`. */
export const WORKER_ENTRIES = [
  "src/runtime/task_worker.ts", "src/checkpoint/commit_worker_entry.ts", "src/checkpoint/savepoint_worker_entry.ts",
];

/**
 * `libsql/index.js` picks its native addon with a dynamic ``require(`@libsql/${target}`)`` that a
 * compiled binary cannot resolve; rewrite it to the one target we ship. Fails loudly when the line
 * is gone, so a libsql upgrade cannot silently produce a binary that dies at startup.
 */
export const libsqlStaticAddon: BunPlugin = {
  name: "libsql-static-addon",
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/]libsql[\\/]index\.js$/ }, async (args) => {
      const src = await Bun.file(args.path).text();
      const dynamic = "return require(`@libsql/${target}`);";
      if (!src.includes(dynamic)) {
        throw new Error(`libsql-static-addon: line not found in ${args.path}: ${dynamic}`);
      }
      return { contents: src.replace(dynamic, 'return require("@libsql/linux-x64-gnu");'), loader: "js" };
    });
  },
};

if (import.meta.main) {
  const outfile = process.argv[2] ?? "dist/pvflow";
  const t0 = performance.now();
  const result = await Bun.build({
    entrypoints: ["mod.ts", ...WORKER_ENTRIES],
    compile: { outfile },
    minify: true,
    sourcemap: "linked",
    target: "bun",
    plugins: [libsqlStaticAddon],
    // Files imported `with { type: "file" }` (the migrations, `src/checkpoint/migration_files.ts`)
    // keep their paths inside the binary, so drizzle's migrator finds `meta/_journal.json` beside
    // the `.sql` files it names (the default would add a content hash to every name).
    naming: { asset: "[dir]/[name].[ext]" },
    define: { "process.env.PVFLOW_VERSION": JSON.stringify((await Bun.file("package.json").json()).version) },
  });
  if (!result.success) {
    for (const log of result.logs) console.error(log);
    process.exit(1);
  }
  console.log(`built ${outfile} in ${Math.round(performance.now() - t0)} ms`);
}
