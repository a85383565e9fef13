/**
 * @module
 * Tests for savepoints against real libSQL files: `VACUUM INTO` copies the latest completed
 * checkpoint whole (counts, positions) while commits go on; the copy is what a restore reads, and
 * the store opens it (a new owner epoch, the same key field); a directory that cannot be written
 * is an error naming it; no partial file is ever left; a libSQL server URL is refused.
 */
import { sleep } from "../platform.ts";
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { createClient } from "@libsql/client";
import { committedCounts } from "../../tests/support/committed.ts";
import { Sqld } from "../../tests/support/sqld.ts";
import type { CheckpointData } from "./coordinator.ts";
import {
  fileDbPath, readSavepoint, savepointDir, savepointsUnsupported, writeSavepoint, writeSavepointOnWorker,
} from "./savepoint.ts";
import { CheckpointStore } from "./store.ts";
import { adoptKeyField } from "./store_meta.ts";

let dir: string;
let url: string;
const stores: CheckpointStore[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pvflow-savepoint-"));
  url = `file:${join(dir, "live.db")}`;
});

afterEach(async () => {
  for (const s of stores.splice(0)) s.close();
  await rm(dir, { recursive: true, force: true });
});

async function open(at = url): Promise<CheckpointStore> {
  const s = await CheckpointStore.open({ url: at, stream: "PV" });
  stores.push(s);
  return s;
}

/** Checkpoint `id` sets `keys` keys `k0..` to `id` each, and split positions to `id * 100`. */
function data(id: number, keys = 3): CheckpointData {
  return {
    record: { id, status: "IN_PROGRESS", triggerTime: 1_700_000_000_000 + id, syncMs: 1, alignmentMs: 0, subtasks: [] },
    positions: { "pv.0": id * 100, "pv.1": id * 100 + 1 },
    keys: Array.from({ length: keys }, (_, i) => `k${i}`),
    counts: Array.from({ length: keys }, () => id),
  };
}

test("savepoint - a directory whose name holds # and ? works; a partial copy left by a killed writer is removed", async () => {
  const store = await open();
  for (let id = 1; id <= 2; id++) await store.commit(data(id));
  const odd = join(dir, "a#b?c");
  await mkdir(odd);
  const stale = join(odd, ".savepoint-20260101T000000000Z-1-abc.partial");
  await writeFile(stale, "half a copy");
  await utimes(stale, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
  const sp = await writeSavepoint({ dbUrl: url, dir: odd });
  expect(sp).toMatchObject({ checkpointId: 2, events: 6 });
  expect(await committedCounts(sp.path)).toEqual(new Map([["k0", 2], ["k1", 2], ["k2", 2]]));
  expect(await readdir(odd)).toEqual([basename(sp.path)]);
});

test("savepoint - holds the latest completed checkpoint: its counts and positions, read back as a restore will", async () => {
  const store = await open();
  await adoptKeyField(store.client, "site");
  for (let id = 1; id <= 3; id++) await store.commit(data(id));
  const sp = await writeSavepoint({ dbUrl: url, dir: join(dir, "sp") });
  expect(sp.path).toBe(join(dir, "sp", `savepoint-3-${sp.createdAt.replace(/[-:.]/g, "")}.db`));
  expect(sp).toMatchObject({ checkpointId: 3, keys: 3, events: 9, positions: { PV: { "pv.0": 300, "pv.1": 301 } } });
  expect(sp.bytes).toBeGreaterThan(0);
  expect(await committedCounts(sp.path)).toEqual(new Map([["k0", 3], ["k1", 3], ["k2", 3]]));
  // Later commits to the live store do not reach the savepoint.
  await store.commit(data(4));
  expect(await readSavepoint(sp.path)).toMatchObject({ checkpointId: 3, events: 9 });
  expect(await readdir(join(dir, "sp"))).toEqual([`savepoint-3-${sp.createdAt.replace(/[-:.]/g, "")}.db`]);
});

test("savepoint - a restore opens it: new owner epoch, same key field, the savepoint's checkpoint, then commits on", async () => {
  const live = await open();
  await adoptKeyField(live.client, "site");
  for (let id = 1; id <= 2; id++) await live.commit(data(id));
  const sp = await writeSavepoint({ dbUrl: url, dir });
  const restored = await open(`file:${sp.path}`);
  expect(restored.epoch).toBe(live.epoch + 1);
  await adoptKeyField(restored.client, "site"); // not refused
  await expect(adoptKeyField(restored.client, "user")).rejects.toThrow("PVFLOW_KEY_FIELD");
  const latest = await restored.loadLatest();
  expect(latest.checkpointId).toBe(2);
  expect(latest.positions).toEqual({ "pv.0": 200, "pv.1": 201 });
  expect(latest.counts.counts).toEqual([2, 2, 2]);
  await restored.commit(data(3));
  expect(await restored.latestCheckpointId()).toBe(3);
  expect(await live.latestCheckpointId()).toBe(2); // two separate databases
});

test("savepoint - one whole checkpoint while commits of many keys go on on another thread", async () => {
  const store = await open();
  await store.commit(data(1, 20_000));
  let done = false;
  const sp = writeSavepointOnWorker(new URL("./savepoint_worker_entry.ts", import.meta.url), { dbUrl: url, dir })
    .finally(() => (done = true));
  let id = 1;
  while (!done) {
    await store.commit(data(++id, 20_000));
    await sleep(1); // the commit runs synchronously: let the Worker's answer in
  }
  const saved = await sp;
  // Every key and position holds the savepoint's checkpoint, never a mix of two.
  const counts = await committedCounts(saved.path);
  expect(counts.size).toBe(20_000);
  expect(new Set(counts.values())).toEqual(new Set([saved.checkpointId]));
  expect(saved.positions.PV).toEqual({ "pv.0": saved.checkpointId * 100, "pv.1": saved.checkpointId * 100 + 1 });
});

test("savepoint - written on a Worker of its own", async () => {
  const store = await open();
  await store.commit(data(7));
  const sp = await writeSavepointOnWorker(new URL("./savepoint_worker_entry.ts", import.meta.url), { dbUrl: url, dir });
  expect(sp.checkpointId).toBe(7);
  expect(await committedCounts(sp.path)).toEqual(new Map([["k0", 7], ["k1", 7], ["k2", 7]]));
});

test("savepoint - a directory that cannot be created is an error naming it, and no file is left", async () => {
  const store = await open();
  await store.commit(data(1));
  const file = join(dir, "not-a-dir");
  await writeFile(file, "x");
  await expect(writeSavepoint({ dbUrl: url, dir: join(file, "sp") })).rejects.toThrow(
    `cannot create the savepoint directory ${join(file, "sp")} (PVFLOW_SAVEPOINT_DIR)`,
  );
  const onWorker = writeSavepointOnWorker(new URL("./savepoint_worker_entry.ts", import.meta.url), { dbUrl: url, dir: file });
  await expect(onWorker).rejects.toThrow(`the savepoint directory ${file} (PVFLOW_SAVEPOINT_DIR)`);
  expect((await readdir(dir)).sort()).toEqual(["live.db", "live.db-shm", "live.db-wal", "not-a-dir"]);
});

test("savepoint - a database without a completed checkpoint has nothing to save, and no file is left", async () => {
  await open();
  await expect(writeSavepoint({ dbUrl: url, dir: join(dir, "sp") })).rejects.toThrow("no completed checkpoint");
  expect(await readdir(join(dir, "sp"))).toEqual([]);
});

test("savepoint - file: URLs name their path; a libSQL server URL is refused with what to do", () => {
  expect(fileDbPath("file:rel/x.db")).toBe("rel/x.db");
  expect(fileDbPath("file:/abs/x.db")).toBe("/abs/x.db");
  expect(fileDbPath("file:///abs/my%20x.db")).toBe("/abs/my x.db");
  expect(fileDbPath("http://127.0.0.1:8080")).toBeUndefined();
  expect(savepointsUnsupported("file:/abs/x.db")).toBeUndefined();
  for (const u of ["http://h:8080", "https://h", "libsql://db.example", "ws://h:1"]) {
    expect(savepointsUnsupported(u)).toContain("savepoints need a file: PVFLOW_DB_URL");
  }
  expect(savepointDir("file:/abs/x.db")).toBe("/abs");
  expect(savepointDir("file:pvflow.db")).toBe(resolve("."));
  expect(savepointDir("file:/abs/x.db", "rel/sp")).toBe(resolve("rel/sp"));
});

test("savepoint - a libSQL server refuses VACUUM INTO, which is why its URL is refused", async () => {
  await using sqld = await Sqld.start();
  const store = await open(sqld.url);
  await store.commit(data(1));
  const out = join(dir, "from-sqld.db");
  const client = createClient({ url: sqld.url });
  try {
    await expect(client.execute({ sql: "VACUUM INTO ?", args: [out] })).rejects.toThrow(/unsupported statement/i);
  } finally {
    client.close();
  }
  expect(await readdir(dir)).not.toContain("from-sqld.db");
  expect(savepointsUnsupported(sqld.url)).toContain("does not run VACUUM INTO");
});
