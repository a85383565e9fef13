/**
 * @module
 * What `deno task test` runs must not call Bun-only APIs: `mod.ts`, every file under `src/` but
 * `src/platform.ts` (the one place the runtimes differ), and the unit tests of `tests/support/`.
 * Such a call passes `bun test` and fails only under Deno, so this check makes `bun test` see it.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");

/** Uses of Bun-only APIs: the `Bun` global and `import.meta.dir` / `.file` / `.path` (Deno has `dirname` / `filename`). */
const BUN_ONLY = /\bBun\.\w+|\bimport\.meta\.(?:dir|file|path)\b/g;

/** `.ts` files under `dir`, recursively, as paths from the repository root. */
function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts"))
    .map((f) => relative(ROOT, join(ROOT, dir, f)));
}

/** `line: use` for each Bun-only use in `source` outside comments (docs may name Bun's APIs). */
function bunOnlyUses(source: string): string[] {
  return source.split("\n").flatMap((line, i) => {
    const code = line.trimStart();
    if (code.startsWith("//") || code.startsWith("*") || code.startsWith("/*")) return [];
    return [...code.replace(/\/\/.*$/, "").matchAll(BUN_ONLY)].map((m) => `${i + 1}: ${m[0]}`);
  });
}

const usesIn = (file: string) => bunOnlyUses(readFileSync(join(ROOT, file), "utf8")).map((u) => `${file}:${u}`);

test("runtime neutral - what deno task test runs calls no Bun-only API outside src/platform.ts", () => {
  // This file is left out: its samples below are the uses, written in strings.
  const files = [
    "mod.ts",
    ...tsFiles("src").filter((f) => f !== "src/platform.ts"),
    ...tsFiles("tests/support").filter((f) => f.endsWith("_test.ts") && f !== "tests/support/runtime_neutral_test.ts"),
  ];
  expect(files).toContain("src/healthcheck_test.ts");
  expect(files.flatMap(usesIn)).toEqual([]);
});

test("runtime neutral - the check finds the Bun-only uses it is for, not the neutral spellings nor comments", () => {
  const sample = [
    "const v = Bun.version;",
    "// Bun.sleep in a comment",
    " * Bun.serve in a doc comment",
    "const root = join(import.meta.dir, '..'); // not Bun.file",
    "const a = import.meta.dirname, b = import.meta.filename, c = import.meta.url;",
    "const d = import.meta.path;",
  ].join("\n");
  expect(bunOnlyUses(sample)).toEqual(["1: Bun.version", "4: import.meta.dir", "6: import.meta.path"]);
  // platform.ts, the one file allowed them, is seen as using some.
  expect(usesIn("src/platform.ts").length).toBeGreaterThan(0);
});
