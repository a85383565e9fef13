/**
 * @module
 * Property: random hostile keys (tests/support/hostile_keys.ts) go event → parser → key group →
 * {@link KeyedCounter} → snapshot → the real {@link CheckpointStore} on a libSQL file → restore
 * (`loadLatest`, `partitionByKeyGroup` to another parallelism, `KeyedCounter.restore`) → more
 * events → checkpoint → SQL, restore and HTTP (`createStatusApp`, `app.request()`); every key that
 * was not dead-lettered comes back exactly, with its exact count, everywhere.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expectedReason, hostileKey } from "../../tests/support/hostile_keys.ts";
import { createStatusApp } from "../http/status_app.ts";
import type { JobView } from "../http/job_status.ts";
import { KeyedCounter } from "../operators/count.ts";
import { partitionByKeyGroup, subtaskOfKey } from "../runtime/key_group.ts";
import { parseEvent } from "../source/event_parser.ts";
import { CheckpointStore } from "./store.ts";

const MAX_PARALLELISM = 128;
const enc = new TextEncoder();
let dir: string;
let runs = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "pvflow-keys-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Parses and counts `events` on `counters` by key group; dead letters must carry the right reason. */
function run(events: string[], counters: KeyedCounter[], expected: Map<string, number>): void {
  for (const key of events) {
    const r = parseEvent(enc.encode(JSON.stringify({ site: key, user: "u" })), "site", 65536);
    expect(r.reason).toBe(expectedReason(key));
    if (r.key === undefined) continue;
    expect(r.key).toBe(key);
    counters[subtaskOfKey(r.key, MAX_PARALLELISM, counters.length)].add([r.key]);
    expected.set(key, (expected.get(key) ?? 0) + 1);
  }
}

/** Snapshots every counter and commits checkpoint `id` in one transaction, as the job does. */
async function checkpoint(store: CheckpointStore, id: number, counters: KeyedCounter[]): Promise<void> {
  const keys: string[] = [];
  const counts: number[] = [];
  for (const c of counters) {
    const s = c.snapshot(id);
    keys.push(...s.keys);
    counts.push(...s.counts);
  }
  await store.commit({ record: { id, status: "IN_PROGRESS", triggerTime: Date.now(), subtasks: [] }, positions: { "pv.0": id }, keys, counts });
  for (const c of counters) c.notifyCheckpointComplete(id);
}

/** Restores the latest checkpoint into `parallelism` counters, each holding only its key groups. */
async function restore(store: CheckpointStore, parallelism: number): Promise<KeyedCounter[]> {
  const restored = await store.loadLatest();
  return partitionByKeyGroup(restored.counts, MAX_PARALLELISM, parallelism).map((part, i) => {
    for (const k of part.keys) expect(subtaskOfKey(k, MAX_PARALLELISM, parallelism)).toBe(i);
    const c = new KeyedCounter();
    c.restore(part);
    return c;
  });
}

/** Every count through `GET /counts`, `limit` keys per page; checks the cursor and checkpoint id. */
async function pageAll(app: ReturnType<typeof createStatusApp>, limit: number, checkpointId: number): Promise<Map<string, number>> {
  const all = new Map<string, number>();
  let after: string | null = null;
  for (let pages = 0; ; pages++) {
    expect(pages).toBeLessThan(10_000);
    const res = await app.request(`/counts?limit=${limit}${after === null ? "" : `&after=${encodeURIComponent(after)}`}`);
    expect(res.status).toBe(200);
    const body = JSON.parse(await res.text()) as { checkpointId: number; counts: Record<string, number>; next: string | null };
    expect(body.checkpointId).toBe(checkpointId);
    const entries = Object.entries(body.counts);
    expect(entries.length).toBeLessThanOrEqual(limit);
    for (const [k, v] of entries) {
      expect(all.has(k)).toBe(false);
      all.set(k, v);
    }
    if (body.next === null) return all;
    expect(entries.length).toBe(limit);
    after = body.next;
  }
}

describe("key round trip", () => {
  test("key round trip - property: hostile keys survive count, checkpoint, restore, SQL and HTTP exactly", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(hostileKey, { minLength: 1, maxLength: 40 }),
        fc.array(hostileKey, { maxLength: 40 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 7 }),
        async (first, second, p1, p2, limit) => {
          const store = await CheckpointStore.open({ url: `file:${join(dir, `k${runs++}.db`)}`, stream: "PV" });
          try {
            const expected = new Map<string, number>();
            const counters = Array.from({ length: p1 }, () => new KeyedCounter());
            run(first, counters, expected);
            await checkpoint(store, 1, counters);
            // a restore to another parallelism, more of the same keys, a second checkpoint
            const again = await restore(store, p2);
            run([...second, ...first], again, expected);
            await checkpoint(store, 2, again);

            const restored = await restore(store, p1);
            for (const [k, n] of expected) expect(restored[subtaskOfKey(k, MAX_PARALLELISM, p1)].get(k)).toBe(n);
            expect(restored.reduce((n, c) => n + c.size, 0)).toBe(expected.size);

            const rs = await store.client.execute("SELECT key, count FROM counts");
            expect(rs.rows.length).toBe(expected.size);
            expect(new Map(rs.rows.map((r) => [r[0] as string, Number(r[1])]))).toEqual(expected);

            const app = createStatusApp({ job: {} as JobView, store, version: "test" });
            expect(await pageAll(app, limit, 2)).toEqual(expected);
            for (const [k, n] of expected) {
              if (k === "." || k === "..") continue; // URL dot segments: clients resolve them away (see README)
              const res = await app.request(`/counts/${encodeURIComponent(k)}`);
              expect(res.status).toBe(200);
              expect(await res.json()).toEqual({ key: k, count: n, checkpointId: 2 });
            }
            // top=0 is refused (400): when every key was dead-lettered, ask for 1 and expect none
            const top = JSON.parse(await (await app.request(`/counts?top=${Math.max(1, expected.size)}`)).text());
            expect(new Map(Object.entries(top.counts))).toEqual(expected);
            for (const k of [...first, ...second]) {
              if (expectedReason(k) !== undefined && k.isWellFormed()) {
                expect((await app.request(`/counts/${encodeURIComponent(k)}`)).status).toBe(404);
              }
            }
          } finally {
            store.close();
          }
        },
      ),
      { numRuns: 60 },
    );
  }, 120_000);

  test("key round trip - rows with a NUL byte (written before key_contains_nul) are left out of every read", async () => {
    const store = await CheckpointStore.open({ url: `file:${join(dir, "legacy.db")}`, stream: "PV" });
    try {
      // What an older version committed: the bytes are stored, but read back only up to the NUL.
      await store.commit({
        record: { id: 1, status: "IN_PROGRESS", triggerTime: 1, subtasks: [] }, positions: {},
        keys: ["a", "a\u0000b", "a\u0000c", "b"], counts: [1, 2, 3, 4],
      });
      const raw = await store.client.execute("SELECT key FROM counts ORDER BY key");
      expect(raw.rows.map((r) => r[0])).toEqual(["a", "a", "a", "b"]); // the corruption being avoided
      const restored = await store.loadLatest();
      expect(restored.counts).toEqual({ keys: ["a", "b"], counts: [1, 4] });
      expect(restored.unreadable).toEqual({ keys: 2, events: 5 }); // reported (the job logs it), not silently dropped
      expect(await store.readCounts({ limit: 10 })).toEqual({ checkpointId: 1, keys: ["a", "b"], counts: [1, 4], next: null });
      expect(await store.readCounts({ top: 10 })).toEqual({ checkpointId: 1, keys: ["b", "a"], counts: [4, 1] });
      expect(await store.readCount("a\u0000b")).toBeUndefined();
      expect(await store.readCount("a")).toEqual({ count: 1, checkpointId: 1 });
    } finally {
      store.close();
    }
  });

  test("key round trip - a lone surrogate never reads another key's row (libSQL would bind it as U+FFFD)", async () => {
    const store = await CheckpointStore.open({ url: `file:${join(dir, "fffd.db")}`, stream: "PV" });
    try {
      await store.commit({ record: { id: 1, status: "IN_PROGRESS", triggerTime: 1, subtasks: [] }, positions: {}, keys: ["x\ufffd"], counts: [5] });
      expect(await store.readCount("x\ufffd")).toEqual({ count: 5, checkpointId: 1 });
      expect(await store.readCount("x\ud800")).toBeUndefined();
      expect(await store.readCount("x\udc00")).toBeUndefined();
    } finally {
      store.close();
    }
  });
});
