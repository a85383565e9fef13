/**
 * @module
 * Tests for {@link CheckpointStore} against real libSQL: an embedded file in a temp dir, and a real
 * `sqld` server over HTTP. Schema creation, the one-transaction commit and its atomicity (a batch
 * that fails in its last statement leaves nothing), the load of the latest checkpoint, and the
 * read paths of the status server.
 */
import { encodeCountRows } from "./count_rows.ts";
import { createClient } from "@libsql/client";
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Sqld } from "../../tests/support/sqld.ts";
import type { SplitPositions } from "../types.ts";
import type { CheckpointData } from "./coordinator.ts";
import { CheckpointStore } from "./store.ts";

let dir: string;
let url: string;
const stores: CheckpointStore[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pvflow-store-"));
  url = `file:${join(dir, "x.db")}`;
});

afterEach(async () => {
  for (const s of stores.splice(0)) s.close();
  await rm(dir, { recursive: true, force: true });
});

async function open(stream = "PV", at = url, epoch?: number): Promise<CheckpointStore> {
  const s = await CheckpointStore.open({ url: at, stream, epoch });
  stores.push(s);
  return s;
}

/** A checkpoint commit of `counts` and `positions`. */
function data(id: number, positions: SplitPositions, counts: Record<string, number> = {}): CheckpointData {
  return {
    record: {
      id, status: "IN_PROGRESS", triggerTime: 1_700_000_000_000 + id, syncMs: 3, alignmentMs: 1, subtasks: [],
    },
    positions,
    keys: Object.keys(counts),
    counts: Object.values(counts),
  };
}

/** `loadLatest()` with counts as an object. */
async function latest(s: CheckpointStore) {
  const r = await s.loadLatest();
  expect(r.counts.keys.length).toBe(r.counts.counts.length);
  const counts: Record<string, number> = {};
  r.counts.keys.forEach((k, i) => (counts[k] = r.counts.counts[i]));
  return { checkpointId: r.checkpointId, positions: r.positions, counts };
}

describe("checkpoint store - file", () => {
  test("checkpoint store - schema is created on first open and reopening is idempotent", async () => {
    const s1 = await open();
    const tables = await s1.client.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
    expect(tables.rows.map((r) => r[0])).toEqual(["__drizzle_migrations", "checkpoints", "counts", "meta", "owner", "positions", "window_counts", "window_outbox", "window_state"]);
    const applied = await s1.client.execute("SELECT count(*) FROM __drizzle_migrations");
    expect(await latest(s1)).toEqual({ checkpointId: 0, positions: {}, counts: {} });
    await s1.commit(data(1, { "pv.0": 10 }, { a: 2 }));
    s1.close();

    const s2 = await open();
    const again = await s2.client.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'");
    expect(Number(again.rows[0][0])).toBe(9);
    // reopening applied no migration twice
    expect((await s2.client.execute("SELECT count(*) FROM __drizzle_migrations")).rows[0][0]).toBe(applied.rows[0][0]);
    expect(await latest(s2)).toEqual({ checkpointId: 1, positions: { "pv.0": 10 }, counts: { a: 2 } });
  });

  test("checkpoint store - commit and loadLatest round trip: id, this stream's positions only, counts", async () => {
    const pv = await open("PV");
    const other = await open("OTHER", url, pv.epoch); // same database and claim, another stream
    await other.commit(data(1, { "pv.0": 999, "pv.9": 5 }));
    await pv.commit(data(2, { "pv.0": 7, "pv.1": 0, "pv.2": 12 }, { s1: 3, s2: 1 }));

    expect(await latest(pv)).toEqual({
      checkpointId: 2,
      positions: { "pv.0": 7, "pv.1": 0, "pv.2": 12 },
      counts: { s1: 3, s2: 1 },
    });
    expect((await latest(other)).positions).toEqual({ "pv.0": 999, "pv.9": 5 });
  });

  test("checkpoint store - upsert overwrites with absolute counts and keeps unchanged keys", async () => {
    const s = await open();
    await s.commit(data(1, { "pv.0": 10, "pv.1": 4 }, { a: 5, b: 1 }));
    await s.commit(data(2, { "pv.0": 20 }, { a: 7, c: 1 }));
    expect(await latest(s)).toEqual({
      checkpointId: 2,
      positions: { "pv.0": 20, "pv.1": 4 }, // pv.1 unchanged in 2 keeps its position
      counts: { a: 7, b: 1, c: 1 }, // a = 7, not 5 + 7
    });
    const rows = await s.client.execute("SELECT key, checkpoint_id FROM counts ORDER BY key");
    expect(rows.rows.map((r) => [r[0], Number(r[1])])).toEqual([["a", 2], ["b", 1], ["c", 2]]);
  });

  test("checkpoint store - many keys go in one statement of one transaction, whose SQL is the same in every commit", async () => {
    const s = await open();
    const N = 1234;
    const counts: Record<string, number> = {};
    for (let i = 0; i < N; i++) counts[`key-${i}`] = i + 1;
    const batches: string[][] = [];
    const batch = s.client.batch.bind(s.client);
    s.client.batch = ((stmts: Parameters<typeof batch>[0], mode?: Parameters<typeof batch>[1]) => {
      if (mode === "write") batches.push(stmts.map((x) => (typeof x === "string" ? x : "sql" in x ? x.sql : x[0])));
      return batch(stmts, mode);
    }) as typeof s.client.batch;
    const { bytes } = await s.commit(data(1, { "pv.0": N }, counts));
    // ONE batch (= one transaction): the checkpoint row, positions, one statement for all counts
    expect(batches[0].length).toBe(3);
    expect(bytes).toBeGreaterThan(0);
    const got = await latest(s);
    expect(Object.keys(got.counts).length).toBe(N);
    expect(got.counts).toEqual(counts);
    const [cp] = await s.listCheckpoints(1);
    expect(cp.rows).toBe(N);
    expect(cp.bytes).toBe(bytes);
    // A later commit of other keys runs the very same SQL text: nothing is compiled per commit.
    await s.commit(data(2, { "pv.0": N + 7 }, { "key-3": 99, other: 1 }));
    expect(batches[1]).toEqual(batches[0]);
    expect((await latest(s)).counts).toMatchObject({ "key-3": 99, other: 1, "key-4": 5 });
  });

  test("checkpoint store - counts encoded by the count subtasks (one part each) write what the same counts as arrays write, history included", async () => {
    const hostile = ["a", 'q"uote', "back\\slash", "tab\tnl\n", "ünï", "😀", "\u0001ctl", "x".repeat(300)];
    const partA = { keys: hostile.slice(0, 4), counts: [1, 2, 3, 2 ** 52] };
    const partB = { keys: hostile.slice(4), counts: [5, 6, 7, 8] };
    const plain = await open();
    const { bytes: plainBytes } = await plain.commit({ ...data(1, { "pv.0": 3 }), keys: [...partA.keys, ...partB.keys], counts: [...partA.counts, ...partB.counts] });
    const enc = await open("PV", `file:${join(dir, "encoded.db")}`);
    const { bytes } = await enc.commit({ ...data(1, { "pv.0": 3 }), encoded: [encodeCountRows(partA), encodeCountRows({ keys: [], counts: [] }), encodeCountRows(partB)] });
    expect(bytes).toBe(plainBytes);
    expect(await latest(enc)).toEqual(await latest(plain));
    expect(Object.keys((await latest(enc)).counts).sort()).toEqual([...hostile].sort());
    const [cp] = await enc.listCheckpoints(1);
    expect(cp.rows).toBe(hostile.length);
    // both forms in one commit: the arrays' rows and the encoded ones
    await enc.commit({ ...data(2, { "pv.0": 4 }, { a: 10, fresh: 1 }), encoded: [encodeCountRows({ keys: ["😀"], counts: [60] })] });
    expect((await latest(enc)).counts).toMatchObject({ a: 10, fresh: 1, "😀": 60, "ünï": 5 });
    expect((await enc.listCheckpoints(1))[0].rows).toBe(3);
  });

  test("checkpoint store - readCounts pages in key order, or returns the top N by count then key", async () => {
    const s = await open();
    expect(await s.readCounts({ limit: 10 })).toEqual({ checkpointId: 0, keys: [], counts: [], next: null });
    await s.commit(data(4, {}, { b: 5, a: 5, c: 9, d: 1, e: 2 }));
    const all = await s.readCounts({ limit: 10 });
    expect(all).toEqual({ checkpointId: 4, keys: ["a", "b", "c", "d", "e"], counts: [5, 5, 9, 1, 2], next: null });
    expect(await s.readCounts({ limit: 2 })).toEqual({ checkpointId: 4, keys: ["a", "b"], counts: [5, 5], next: "b" });
    expect(await s.readCounts({ limit: 2, after: "b" })).toEqual({ checkpointId: 4, keys: ["c", "d"], counts: [9, 1], next: "d" });
    expect(await s.readCounts({ limit: 2, after: "d" })).toEqual({ checkpointId: 4, keys: ["e"], counts: [2], next: null });
    expect(await s.readCounts({ limit: 1, after: "e" })).toEqual({ checkpointId: 4, keys: [], counts: [], next: null });
    // exactly a page left: the page says there is none after it
    expect((await s.readCounts({ limit: 3, after: "b" })).next).toBeNull();
    const top = await s.readCounts({ top: 3 });
    expect(top).toEqual({ checkpointId: 4, keys: ["c", "a", "b"], counts: [9, 5, 5] });
    expect((await s.readCounts({ top: 0 })).keys).toEqual([]);
  });

  test("checkpoint store - readCount of a present and an absent key", async () => {
    const s = await open();
    await s.commit(data(1, {}, { a: 3 }));
    await s.commit(data(2, {}, { b: 1 }));
    expect(await s.readCount("a")).toEqual({ count: 3, checkpointId: 2 });
    expect(await s.readCount("b")).toEqual({ count: 1, checkpointId: 2 });
    expect(await s.readCount("nope")).toBeUndefined();
  });

  test("checkpoint store - listCheckpoints is newest first and limited", async () => {
    const s = await open();
    for (const id of [1, 2, 3, 5, 8]) await s.commit(data(id, { "pv.0": id }, { [`k${id}`]: id }));
    const list = await s.listCheckpoints(3);
    expect(list.map((c) => c.id)).toEqual([8, 5, 3]);
    expect(list[0]).toMatchObject({ id: 8, triggerTime: 1_700_000_000_008, alignmentMs: 1, rows: 1 });
    expect(list[0].durationMs).toBe(list[0].completedTime - list[0].triggerTime);
    expect(list[0].completedTime).toBeGreaterThanOrEqual(list[0].triggerTime);
    expect((await s.listCheckpoints(100)).map((c) => c.id)).toEqual([8, 5, 3, 2, 1]);
    expect(await s.latestCheckpointId()).toBe(8);
  });

  test("checkpoint store - a commit whose batch fails midway leaves nothing of it", async () => {
    const s = await open();
    await s.commit(data(1, { "pv.0": 10, "pv.1": 20 }, { a: 1, b: 2 }));
    const before = await latest(s);
    // the checkpoint row, the positions and two count statements run, then the LAST statement
    // violates NOT NULL (1200 keys make it several count statements)
    const counts: Record<string, number> = { a: 100, b: 200 };
    for (let i = 0; i < 1200; i++) counts[`new-${i}`] = 1;
    counts["new-1199"] = null as unknown as number;
    await expect(s.commit(data(2, { "pv.0": 99, "pv.1": 99, "pv.2": 99 }, counts))).rejects.toThrow(/NOT NULL|constraint/i);
    expect(await latest(s)).toEqual(before);
    // a duplicate checkpoint id fails the FIRST statement: nothing either
    await expect(s.commit(data(1, { "pv.0": 98 }, { a: 98 }))).rejects.toThrow(/UNIQUE|PRIMARY|constraint/i);
    expect(await latest(s)).toEqual(before);
    expect((await s.listCheckpoints(10)).map((c) => c.id)).toEqual([1]);
    // and the store still works
    await s.commit(data(2, { "pv.0": 11 }, { a: 2 }));
    expect(await latest(s)).toEqual({ checkpointId: 2, positions: { "pv.0": 11, "pv.1": 20 }, counts: { a: 2, b: 2 } });
  });
});

describe("checkpoint store - lock contention", () => {
  test("checkpoint store - a commit that fails on a locked database leaves nothing and the next commit succeeds", async () => {
    const s = await open();
    await s.commit(data(1, { "pv.0": 1 }, { a: 1 }));
    const before = await latest(s);
    // fail at once instead of after the 5 s busy timeout
    await s.client.execute("PRAGMA busy_timeout = 0");
    const other = createClient({ url });
    try {
      const lock = await other.transaction("write");
      await lock.execute("INSERT INTO counts (key, count, checkpoint_id) VALUES ('other', 1, 0)");
      await expect(s.commit(data(2, { "pv.0": 2 }, { a: 2 }))).rejects.toThrow(/SQLITE_BUSY|locked/);
      await lock.rollback();
    } finally {
      other.close();
    }
    expect(await latest(s)).toEqual(before);
    // libsql leaves the statement that failed busy in progress; without replacing the connection,
    // every later COMMIT failed with "cannot commit transaction - SQL statements in progress"
    await s.commit(data(3, { "pv.0": 3 }, { a: 3 }));
    await s.commit(data(4, { "pv.0": 4 }, { b: 1 }));
    expect(await latest(s)).toEqual({ checkpointId: 4, positions: { "pv.0": 4 }, counts: { a: 3, b: 1 } });
  });
});

describe("checkpoint store - remote", () => {
  test("checkpoint store - round trip and atomicity against a real sqld over http://", async () => {
    await using db = await Sqld.start();
    expect(db.url).toStartWith("http://");
    const s = await open("PV", db.url);
    const other = await open("OTHER", db.url, s.epoch);
    expect(await latest(s)).toEqual({ checkpointId: 0, positions: {}, counts: {} });
    await other.commit(data(1, { "pv.0": 500 }));
    const counts: Record<string, number> = {};
    for (let i = 0; i < 700; i++) counts[`k${i}`] = i;
    await s.commit(data(2, { "pv.0": 3, "pv.1": 4 }, counts));
    await s.commit(data(3, { "pv.1": 6 }, { k1: 42 }));
    const got = await latest(s);
    expect(got.checkpointId).toBe(3);
    expect(got.positions).toEqual({ "pv.0": 3, "pv.1": 6 });
    expect(got.counts).toEqual({ ...counts, k1: 42 });
    expect(await s.readCount("k1")).toEqual({ count: 42, checkpointId: 3 });
    expect((await s.readCounts({ top: 2 })).keys).toEqual(["k699", "k698"]);

    // a duplicate id fails the first statement: nothing of it reaches the server
    await expect(s.commit(data(3, { "pv.0": 9 }, { k1: 0, fresh: 1 }))).rejects.toThrow();
    expect(await latest(s)).toEqual(got);

    // a second client (another process, say) sees the committed state
    s.close();
    const again = await open("PV", db.url);
    expect(await latest(again)).toEqual(got);
  });
});
