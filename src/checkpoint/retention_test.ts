/**
 * @module
 * Tests for checkpoint history retention against a real libSQL file: the `checkpoints` table keeps
 * exactly the newest N rows through every commit (ids with gaps, as after restarts), restore still
 * reads the latest checkpoint's positions, counts and trigger time, and a fenced commit deletes
 * nothing.
 */
import { createClient } from "@libsql/client";
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CheckpointData } from "./coordinator.ts";
import { retentionStatement } from "./retention.ts";
import { CheckpointStore } from "./store.ts";

let dir: string;
let url: string;
const stores: CheckpointStore[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pvflow-retention-"));
  url = `file:${join(dir, "r.db")}`;
});

afterEach(async () => {
  for (const s of stores.splice(0)) s.close();
  await rm(dir, { recursive: true, force: true });
});

async function open(checkpointHistory?: number): Promise<CheckpointStore> {
  const s = await CheckpointStore.open({ url, stream: "PV", checkpointHistory });
  stores.push(s);
  return s;
}

/** Checkpoint `id`: positions `id * 10 + split`, and key `k<id % 3>` set to `id`. */
function data(id: number): CheckpointData {
  return {
    record: { id, status: "IN_PROGRESS", triggerTime: 1_700_000_000_000 + id, syncMs: 1, alignmentMs: 0, subtasks: [] },
    positions: { "pv.0": id * 10, "pv.1": id * 10 + 1 },
    keys: [`k${id % 3}`],
    counts: [id],
  };
}

/** The ids in the `checkpoints` table, ascending, read by another connection. */
async function storedIds(): Promise<number[]> {
  const db = createClient({ url });
  try {
    return (await db.execute("SELECT id FROM checkpoints ORDER BY id")).rows.map((r) => Number(r[0]));
  } finally {
    db.close();
  }
}

test("retention - the history keeps exactly the newest N rows through every commit, ids with gaps", async () => {
  const store = await open(5);
  const ids = [1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 18, 30, 31];
  for (let i = 0; i < ids.length; i++) {
    await store.commit(data(ids[i]));
    expect(await storedIds()).toEqual(ids.slice(Math.max(0, i + 1 - 5), i + 1));
  }
});

test("retention - restore after pruning reads the latest checkpoint, its positions, all counts and its trigger time", async () => {
  const store = await open(2);
  for (let id = 1; id <= 20; id++) await store.commit(data(id));
  expect(await storedIds()).toEqual([19, 20]);
  store.close();
  stores.length = 0;
  const restored = await (await open(2)).loadLatest();
  expect(restored.checkpointId).toBe(20);
  expect(restored.positions).toEqual({ "pv.0": 200, "pv.1": 201 });
  // Each key's count is its last checkpoint's, whose row may be long gone.
  const counts = Object.fromEntries(restored.counts.keys.map((k, i) => [k, restored.counts.counts[i]]));
  expect(counts).toEqual({ k0: 18, k1: 19, k2: 20 });
  expect((await stores[0].getCheckpoint(20))?.triggerTime).toBe(1_700_000_000_020);
});

test("retention - a history of 1 keeps only the latest completed checkpoint", async () => {
  const store = await open(1);
  for (let id = 1; id <= 4; id++) {
    await store.commit(data(id));
    expect(await storedIds()).toEqual([id]);
  }
  expect(await store.latestCheckpointId()).toBe(4);
});

test("retention - without a history size every row is kept", async () => {
  const store = await open();
  for (let id = 1; id <= 12; id++) await store.commit(data(id));
  expect(await storedIds()).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
});

test("retention - a fenced commit deletes nothing", async () => {
  const old = await open(3);
  for (let id = 1; id <= 6; id++) await old.commit(data(id));
  await open(3); // another process claims the database
  await expect(old.commit(data(7))).rejects.toThrow(/fenced/);
  expect(await storedIds()).toEqual([4, 5, 6]);
});

test("retention - the statement refuses to keep fewer than 1 row", () => {
  expect(() => retentionStatement(0)).toThrow("at least 1 row, got 0");
  expect(() => retentionStatement(1.5)).toThrow("got 1.5");
  expect(retentionStatement(1000).args).toEqual([999]);
});
