/**
 * @module
 * Tests for the window part of {@link CheckpointStore} against a real libSQL file: results are
 * committed with the checkpoint into `window_counts` and enter the outbox once (a result carried
 * again by a later checkpoint is not queued twice), window-state deltas are applied, split
 * watermarks and window state are restored, and `readWindows` answers both query forms.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { WindowResult } from "../operators/window_state.ts";
import type { CheckpointData } from "./coordinator.ts";
import { CheckpointStore } from "./store.ts";
import { adoptWindowSize } from "./store_meta.ts";

let dir: string;
let store: CheckpointStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pvflow-store-windows-"));
  store = await CheckpointStore.open({ url: `file:${join(dir, "w.db")}`, stream: "PV" });
  await adoptWindowSize(store.client, 1000, true); // an output subject: results are queued
});
afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

const result = (key: string, windowStart: number, count: number, revision: number): WindowResult =>
  ({ key, windowStart, windowEnd: windowStart + 1000, count, revision });

function data(id: number, results: WindowResult[], state: { keys: string[]; starts: number[]; dropped?: number[] }): CheckpointData {
  return {
    record: { id, status: "IN_PROGRESS", triggerTime: id, subtasks: [] },
    positions: { "pv.0": id * 10, "pv.1": id * 10 + 1 },
    keys: [], counts: [],
    windows: {
      deltas: [{
        keys: state.keys, starts: state.starts, counts: state.keys.map(() => id),
        revisions: state.keys.map(() => 0), fired: state.starts.map((_, i) => (i === 0 ? 1 : 0)), dropped: state.dropped ?? [],
      }],
      results,
      maxEventTimes: { "pv.0": 5000 + id, "pv.1": -Infinity },
      watermarks: { "pv.0": 4000, "pv.1": 4000 },
    },
  };
}

test("store windows - results committed once into window_counts and the outbox; state replaced and restored", async () => {
  await store.commit(data(1, [result("a", 0, 2, 1), result("b", 0, 1, 1)], { keys: ["a", "b"], starts: [1000, 2000] }));
  expect((await store.readOutbox(10)).map((r) => [r.key, r.revision, r.checkpointId])).toEqual([["a", 1, 1], ["b", 1, 1]]);
  await store.deleteFromOutbox([{ key: "a", windowStart: 0, revision: 1 }]);
  // checkpoint 2 carries a's result again (its completion was not seen yet) and a new revision
  // and its state: c's entry added, a's updated, b's window dropped
  await store.commit(data(2, [result("a", 0, 2, 1), result("a", 0, 3, 2)], { keys: ["c", "a"], starts: [3000, 1000], dropped: [2000] }));
  expect((await store.readOutbox(10)).map((r) => [r.key, r.revision, r.checkpointId])).toEqual([["b", 1, 1], ["a", 2, 2]]);
  expect(await store.readWindows({ key: "a" }, 100)).toEqual([
    { key: "a", windowStart: 0, windowEnd: 1000, count: 2, revision: 1, checkpointId: 1 },
    { key: "a", windowStart: 0, windowEnd: 1000, count: 3, revision: 2, checkpointId: 2 },
  ]);
  expect(await store.readWindows({ key: "a", from: 1000 }, 100)).toEqual([]);
  expect((await store.readWindows({ start: 0 }, 100)).map((r) => [r.key, r.revision])).toEqual([["a", 1], ["a", 2], ["b", 1]]);
  const latest = await store.loadLatest();
  expect(latest.maxEventTimes).toEqual({ "pv.0": 5002 }); // none seen on pv.1: NULL
  expect(latest.watermarks).toEqual({ "pv.0": 4000, "pv.1": 4000 });
  expect(latest.windows).toEqual({ watermark: -Infinity, keys: ["a", "c"], starts: [1000, 3000], counts: [2, 2], revisions: [0, 0], fired: [3000] });
});

test("store windows - without an output subject the results are stored, and nothing waits in the outbox", async () => {
  await adoptWindowSize(store.client, 1000, false);
  await store.commit(data(1, [result("a", 0, 2, 1)], { keys: [], starts: [] }));
  expect(await store.readOutbox(10)).toEqual([]);
  expect((await store.readWindows({ start: 0 }, 10)).map((r) => r.count)).toEqual([2]);
});

test("store windows - without windows nothing of them is written or restored", async () => {
  await store.commit({ record: { id: 1, status: "IN_PROGRESS", triggerTime: 1, subtasks: [] }, positions: { "pv.0": 3 }, keys: ["k"], counts: [1] });
  const latest = await store.loadLatest();
  expect(latest.windows).toBeUndefined();
  expect(latest.maxEventTimes).toBeUndefined();
  expect(await store.readOutbox(10)).toEqual([]);
});
