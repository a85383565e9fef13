import { afterAll, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StagedSnapshot } from "../types.ts";
import { CommitWorker } from "./commit_worker.ts";
import type { CheckpointData } from "./coordinator.ts";
import { CheckpointStore } from "./store.ts";

const dir = await mkdtemp(join(tmpdir(), "pvflow-commit-worker-"));
afterAll(() => rm(dir, { recursive: true, force: true }));
const ENTRY = new URL("./commit_worker_entry.ts", import.meta.url);

const data = (id: number, positions: Record<string, number>): CheckpointData => ({
  record: { id, status: "IN_PROGRESS", triggerTime: Date.now(), subtasks: [] },
  positions, keys: [], counts: [],
});

async function opened(name: string) {
  const url = `file:${join(dir, name)}`;
  const writer = new CommitWorker(ENTRY, { url, stream: "PV" });
  const reader = await CheckpointStore.open({ url, stream: "PV" });
  return { writer, reader };
}

test("commit worker - staged snapshots of every count subtask are committed with the positions", async () => {
  const { writer, reader } = await opened("staged.db");
  const channels = [new MessageChannel(), new MessageChannel()];
  writer.attach(channels.map((c) => c.port2));
  const stage = (c: number, s: StagedSnapshot) => channels[c].port1.postMessage(s);
  // An aborted checkpoint's snapshot (id 1) is dropped; checkpoint 2 arrives partly after the request.
  stage(0, { checkpointId: 1, subtask: 0, keys: ["stale"], counts: [99] });
  stage(0, { checkpointId: 2, subtask: 0, keys: ["a", "b"], counts: [3, 4] });
  const committing = writer.commit(data(2, { "pv.0": 10 }), undefined, 2);
  await Bun.sleep(50);
  stage(1, { checkpointId: 2, subtask: 1, keys: ["c"], counts: [5] });
  expect((await committing).bytes).toBeGreaterThan(0);
  const latest = await reader.loadLatest();
  expect(latest.checkpointId).toBe(2);
  expect(latest.positions).toEqual({ "pv.0": 10 });
  expect(Object.fromEntries(latest.counts.keys.map((k, i) => [k, latest.counts.counts[i]]))).toEqual({ a: 3, b: 4, c: 5 });
  writer.close();
  reader.close();
});

test("commit worker - refuses to commit positions when the staged snapshots cannot all be there", async () => {
  const { writer, reader } = await opened("refuse.db");
  writer.attach([new MessageChannel().port2]);
  await expect(writer.commit(data(1, { "pv.0": 10 }), undefined, 2)).rejects.toThrow(/expected snapshots from 2 count subtasks, 1 attached/);
  expect((await reader.loadLatest()).checkpointId).toBe(0); // nothing written
  writer.close();
  reader.close();
});

test("commit worker - closing the thread on purpose does not report staged state as lost", async () => {
  const { writer, reader } = await opened("closed.db");
  const lost = new Promise<string>((resolve) => (writer.onLost = resolve));
  writer.attach([new MessageChannel().port2]);
  await writer.commit(data(1, {}), undefined, 0).catch(() => {}); // the thread runs
  writer.close();
  reader.close();
  expect(await Promise.race([lost, Bun.sleep(200).then(() => "not lost")])).toBe("not lost");
});
