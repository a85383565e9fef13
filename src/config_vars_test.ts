/**
 * @module
 * The variables are declared once: the README's configuration table and `pvflow --help` list the
 * same names with the same defaults as {@link CONFIG_VARS}, and `config.ts` reads every one.
 */
import { describe, expect, test } from "bun:test";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { helpText } from "./cli.ts";
import { CONFIG_VARS, configVar, defaultIsLiteral, shownDefault } from "./config_vars.ts";

const ROOT = join(import.meta.dirname, "..");

/**
 * The README's configuration table as name → default cell. A row may name several variables
 * (`A` / `B`, `A`+`B`): with as many " / "-separated defaults they pair up, else all share one.
 */
async function readmeDefaults(): Promise<Map<string, string>> {
  const readme = await readFile(join(ROOT, "README.md"), "utf8");
  const section = readme.split(/^## /m).find((s) => s.startsWith("Configuration\n"));
  if (!section) throw new Error("README.md has no '## Configuration' section");
  const out = new Map<string, string>();
  for (const row of section.split("\n").filter((l) => l.startsWith("| `"))) {
    const [nameCell, defaultCell] = row.split(" | ").map((c) => c.replace(/^\| /, ""));
    const names = [...nameCell.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]);
    const defaults = defaultCell.split(" / ");
    names.forEach((name, i) => {
      if (out.has(name)) throw new Error(`README.md lists ${name} twice`);
      out.set(name, defaults.length === names.length ? defaults[i] : defaultCell);
    });
  }
  return out;
}

/** The default as the README writes it: literal values in backticks. */
const readmeForm = (name: string) => {
  const v = configVar(name);
  return defaultIsLiteral(v) ? `\`${shownDefault(v)}\`` : shownDefault(v);
};

const documented = CONFIG_VARS.filter((v) => !v.testOnly).map((v) => v.name);

describe("config variables - one definition", () => {
  test("config variables - the README's table lists exactly the declared variables, with their defaults", async () => {
    const readme = await readmeDefaults();
    expect([...readme.keys()].sort()).toEqual([...documented].sort());
    for (const name of documented) expect(`${name}: ${readme.get(name)}`).toBe(`${name}: ${readmeForm(name)}`);
  });

  test("config variables - --help lists the same variables and defaults as the README, each with its meaning", async () => {
    const readme = await readmeDefaults();
    const lines = helpText().split("\n");
    const help = new Map<string, string>();
    lines.forEach((line, i) => {
      const m = /^ {2}([A-Z][A-Z0-9_]*) +default: (.+)$/.exec(line);
      if (!m) return;
      help.set(m[1], m[2]);
      // The meaning follows on the next line, indented.
      expect(lines[i + 1]).toBe(`      ${configVar(m[1]).meaning}`);
    });
    expect([...help.keys()]).toEqual(documented);
    for (const [name, def] of readme) expect(`${name}: ${help.get(name)}`).toBe(`${name}: ${def.replace(/^`(.*)`$/, "$1")}`);
  });

  test("config variables - config.ts reads every declared variable (no dead rows)", async () => {
    const source = await readFile(join(ROOT, "src/config.ts"), "utf8");
    for (const v of CONFIG_VARS) expect(`${v.name}: ${source.includes(`"${v.name}"`)}`).toBe(`${v.name}: true`);
  });

  test("config variables - names are unique and every default is within its own bounds", () => {
    expect(new Set(CONFIG_VARS.map((v) => v.name)).size).toBe(CONFIG_VARS.length);
    for (const { name, spec } of CONFIG_VARS) {
      if (spec.kind === "int" && spec.default !== undefined) {
        expect(`${name} ${spec.default >= (spec.min ?? 0) && spec.default <= (spec.max ?? Infinity)}`).toBe(`${name} true`);
      }
      if (spec.kind === "enum") expect(spec.values).toContain(spec.default);
    }
  });

  test("config variables - reading an undeclared name is a programming error naming the table", () => {
    expect(() => configVar("PVFLOW_NO_SUCH_THING")).toThrow("PVFLOW_NO_SUCH_THING is not declared in CONFIG_VARS");
  });
});
