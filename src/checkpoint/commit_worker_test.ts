import { afterAll, expect, test } from "bun:test";
import { sleep } from "../platform.ts";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StagedSnapshot } from "../types.ts";
import { encodeCountRows } from "./count_rows.ts";
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
  const reader = await CheckpointStore.open({ url, stream: "PV" }); // claims the database
  const writer = new CommitWorker(ENTRY, { url, stream: "PV", epoch: reader.epoch });
  return { writer, reader };
}

test("commit worker - staged snapshots of every count subtask are committed with the positions", async () => {
  const { writer, reader } = await opened("staged.db");
  const channels = [new MessageChannel(), new MessageChannel()];
  writer.attach(channels.map((c) => c.port2));
  const stage = (c: number, s: StagedSnapshot) => channels[c].port1.postMessage(s);
  // An aborted checkpoint's snapshot (id 1) is dropped; checkpoint 2 arrives partly after the request.
  stage(0, { checkpointId: 1, subtask: 0, rows: encodeCountRows({ keys: ["stale"], counts: [99] }) });
  stage(0, { checkpointId: 2, subtask: 0, rows: encodeCountRows({ keys: ["a", "b"], counts: [3, 4] }) });
  const committing = writer.commit(data(2, { "pv.0": 10 }), undefined, 2);
  await sleep(50);
  stage(1, { checkpointId: 2, subtask: 1, rows: encodeCountRows({ keys: ["c"], counts: [5] }) });
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
  expect(await Promise.race([lost, sleep(200).then(() => "not lost")])).toBe("not lost");
});

test("commit worker - snapshots of checkpoints that never reach a commit are not kept", async () => {
  const { writer, reader } = await opened("bounded.db");
  const channels = [new MessageChannel(), new MessageChannel()];
  writer.attach(channels.map((c) => c.port2));
  // 500 checkpoints that failed before their commit (timeouts, declines), 200 keys each
  const keys = Array.from({ length: 200 }, (_, i) => `k${i}`);
  const rows = encodeCountRows({ keys, counts: keys.map(() => 1) });
  for (let id = 1; id <= 500; id++) {
    for (const [subtask, c] of channels.entries()) c.port1.postMessage({ checkpointId: id, subtask, rows } satisfies StagedSnapshot);
  }
  const deadline = Date.now() + 5000;
  while ((await writer.stagedSnapshots()) < 2 && Date.now() < deadline) await sleep(20);
  await sleep(100); // let every message arrive
  expect(await writer.stagedSnapshots()).toBe(2); // checkpoint 500's two, nothing older
  // a straggler of an ended checkpoint is not kept either, and the newest one commits
  channels[0].port1.postMessage({ checkpointId: 3, subtask: 0, rows: encodeCountRows({ keys: ["stale"], counts: [1] }) } satisfies StagedSnapshot);
  await writer.commit(data(500, { "pv.0": 1 }), undefined, 2);
  expect((await reader.loadLatest()).counts.keys.sort()).toEqual([...keys].sort());
  expect(await writer.stagedSnapshots()).toBe(0);
  writer.close();
  reader.close();
});

test("commit worker - a thread that cannot open its database is reported lost, and its commits fail with the reason", async () => {
  const url = `file:${join(dir, "no-such-dir", "x.db")}`;
  const writer = new CommitWorker(ENTRY, { url, stream: "PV", epoch: 1 });
  const lost = new Promise<string>((resolve) => (writer.onLost = resolve));
  writer.attach([new MessageChannel().port2]);
  const why = await Promise.race([lost, sleep(5000).then(() => "not reported")]);
  expect(why).toMatch(/^commit thread cannot open its database: cannot open the checkpoint store file:.*no-such-dir/);
  await expect(writer.commit(data(1, {}), undefined, 0)).rejects.toThrow(/commit thread cannot open its database/);
  writer.close();
});
