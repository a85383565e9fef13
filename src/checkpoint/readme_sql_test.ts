/**
 * @module
 * The SQL examples of README.md ("The database", between the `readme-sql` markers), run against a
 * real libSQL file written by the {@link CheckpointStore} (two checkpoints, then the key field
 * adopted as pvflow does at start): each answers what its comment says.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { CheckpointData } from "./coordinator.ts";
import { CheckpointStore } from "./store.ts";
import { adoptKeyField } from "./store_meta.ts";

/** The README's examples: [comment, statement] in order. */
async function readmeExamples(): Promise<[string, string][]> {
  const readme = await readFile(resolve(import.meta.dirname, "../../README.md"), "utf8");
  const block = /<!-- readme-sql:begin -->\s*```sql\n([\s\S]*?)```\s*<!-- readme-sql:end -->/.exec(readme)?.[1];
  if (!block) throw new Error("README.md has no ```sql block between <!-- readme-sql:begin --> and <!-- readme-sql:end -->");
  return block.split(/;\s*\n/).map((s) => s.trim()).filter(Boolean).map((s) => {
    const lines = s.split("\n");
    return [lines.filter((l) => l.startsWith("--")).join(" ").replace(/^--\s*/, ""), lines.filter((l) => !l.startsWith("--")).join("\n")];
  });
}

function checkpoint(id: number, positions: Record<string, number>, counts: Record<string, number>): CheckpointData {
  return {
    record: { id, status: "IN_PROGRESS", triggerTime: Date.now() - 20, alignmentMs: 1, subtasks: [] },
    positions, keys: Object.keys(counts), counts: Object.values(counts),
  };
}

let dir: string;
let store: CheckpointStore;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "pvflow-readme-sql-"));
  store = await CheckpointStore.open({ url: `file:${join(dir, "pv.db")}`, stream: "PV" });
  await adoptKeyField(store.client, "site");
  const first: Record<string, number> = {};
  for (let i = 1; i <= 12; i++) first[`site${i}`] = 100 - i; // site1 99 ... site12 88
  await store.commit(checkpoint(1, { "pv.0": 40, "pv.1": 41 }, first));
  // The second changes two keys only: site12 becomes the top one.
  await store.commit(checkpoint(2, { "pv.0": 90, "pv.1": 41 }, { site12: 500, site1: 100 }));
});
afterAll(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

test("README SQL - every example runs and answers what its comment says", async () => {
  const examples = await readmeExamples();
  expect(examples.map(([c]) => c)).toEqual([
    "The 10 most viewed keys",
    "One key's count, and the checkpoint that last changed it",
    "Events counted in all, and distinct keys",
    "The latest completed checkpoint",
    "Where each split resumes: the last stream sequence covered",
    "The key field the counts are by",
  ]);
  const rows: Record<string, unknown>[][] = [];
  for (const [, sql] of examples) rows.push((await store.client.execute(sql)).rows.map((r) => ({ ...r }) as Record<string, unknown>));
  const [top, one, total, latest, positions, keyField] = rows;

  expect(top.map((r) => [r.key, r.count])).toEqual([
    ["site12", 500], ["site1", 100], ["site2", 98], ["site3", 97], ["site4", 96], ["site5", 95],
    ["site6", 94], ["site7", 93], ["site8", 92], ["site9", 91],
  ]);
  expect(one).toEqual([{ count: 100, checkpoint_id: 2 }]);
  const sum = 500 + 100 + [2, 3, 4, 5, 6, 7, 8, 9, 10, 11].reduce((a, i) => a + 100 - i, 0);
  expect(total).toEqual([{ events: sum, keys: 12 }]);
  expect(latest).toHaveLength(1);
  expect(latest[0].id).toBe(2);
  expect(latest[0].rows).toBe(2);
  expect(String(latest[0].completed_utc)).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  expect(Math.abs(Date.parse(`${latest[0].completed_utc}Z`) - Date.now())).toBeLessThan(60_000);
  expect(positions).toEqual([
    { stream: "PV", subject: "pv.0", seq: 90, checkpoint_id: 2 },
    { stream: "PV", subject: "pv.1", seq: 41, checkpoint_id: 2 },
  ]);
  expect(keyField).toEqual([{ key_field: "site" }]);
});
