/**
 * @module
 * Tests for `POST /savepoints` with `app.request()`: a real {@link Job} (not run) over a real
 * {@link CheckpointStore} on a temp libSQL file, and a real {@link CheckpointCoordinator} whose
 * sources and count subtask are played by its trigger callback (acknowledge, or decline). The
 * savepoint is written for real; its file is read back.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CheckpointCoordinator } from "../checkpoint/coordinator.ts";
import { readSavepoint, savepointsUnsupported, writeSavepoint } from "../checkpoint/savepoint.ts";
import { CheckpointStore } from "../checkpoint/store.ts";
import { loadConfig } from "../config.ts";
import { Job } from "../job.ts";
import { createStatusApp } from "./status_app.ts";

const ADMIN = "sp-admin-token";
let dir: string;
const cleanup: Array<() => void> = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pvflow-savepoint-route-"));
});

afterEach(async () => {
  for (const f of cleanup.splice(0)) f();
  await rm(dir, { recursive: true, force: true });
});

interface Options {
  adminToken?: string;
  /** How the subtasks answer a trigger. @default "ack" */
  answer?: "ack" | "decline";
  minPauseMs?: number;
  savepointDir?: string;
  unsupported?: string;
}

/** A RUNNING job whose every checkpoint n commits key `k` = n and position pv.0 = 10 n. */
async function fixture(o: Options = {}) {
  const dbUrl = `file:${join(dir, "live.db")}`;
  const config = loadConfig({ PVFLOW_SUBJECTS: "pv.0", PVFLOW_PARALLELISM: "1", PVFLOW_DB_URL: dbUrl });
  const store = await CheckpointStore.open({ url: dbUrl, stream: config.stream });
  const job = new Job(config, store, { log: () => {} });
  const coordinator: CheckpointCoordinator = new CheckpointCoordinator({
    intervalMs: 60_000, timeoutMs: 60_000, minPauseMs: o.minPauseMs ?? 0, sources: 1, counts: 1, firstCheckpointId: 1,
    trigger: ({ checkpointId: id }) => setTimeout(() => {
      if (o.answer === "decline") return coordinator.decline(id, "count 0: test decline");
      coordinator.acknowledge({ kind: "ack", role: "source", subtask: 0, checkpointId: id, positions: { "pv.0": id * 10 } });
      coordinator.acknowledge({
        kind: "ack", role: "count", subtask: 0, checkpointId: id, alignmentMs: 0, rows: 1, changed: { keys: ["k"], counts: [id] },
      });
    }, 5),
    commit: (data) => store.commit(data),
    notifyComplete: () => {},
    notifyAbort: () => {},
  });
  Object.defineProperty(job, "coordinator", { get: () => coordinator });
  Object.defineProperty(job, "triggerCheckpoint", { value: () => (job.state === "RUNNING" ? coordinator.trigger() : undefined) });
  job.state = "RUNNING";
  cleanup.push(() => { coordinator.stop(); store.close(); });
  const app = createStatusApp({
    job, store, version: "test", adminToken: o.adminToken,
    savepoints: {
      unsupported: o.unsupported,
      write: () => writeSavepoint({ dbUrl, dir: o.savepointDir ?? join(dir, "sp") }),
    },
  });
  const post = async (headers: Record<string, string> = {}) => {
    const res = await app.request("/savepoints", { method: "POST", headers });
    return { status: res.status, body: (await res.json()) as any, res };
  };
  return { job, coordinator, app, post };
}

test("savepoints - POST triggers a checkpoint and answers 201 with the savepoint file holding it", async () => {
  const f = await fixture();
  const first = await f.post();
  expect(first.status).toBe(201);
  expect(first.body).toMatchObject({ checkpointId: 1, triggeredCheckpointId: 1, keys: 1, events: 1, positions: { PV: { "pv.0": 10 } } });
  const second = await f.post();
  expect(second.status).toBe(201);
  expect(second.body.checkpointId).toBe(2);
  expect(await readSavepoint(first.body.path)).toMatchObject({ checkpointId: 1, events: 1 });
  expect(await readSavepoint(second.body.path)).toMatchObject({ checkpointId: 2, events: 2 });
  expect((await readdir(join(dir, "sp"))).length).toBe(2);
});

test("savepoints - with an admin token, POST without it or with a wrong one is 401 and writes nothing", async () => {
  const f = await fixture({ adminToken: ADMIN });
  expect((await f.post()).status).toBe(401);
  expect((await f.post({ authorization: "Bearer nope" })).status).toBe(401);
  expect(f.coordinator.nextCheckpointId).toBe(1); // nothing triggered
  const ok = await f.post({ authorization: `Bearer ${ADMIN}` });
  expect(ok.status).toBe(201);
  expect(await readdir(join(dir, "sp"))).toEqual([ok.body.path.split("/").pop()]);
});

test("savepoints - a checkpoint that fails is 503 naming it, and no savepoint is written", async () => {
  const f = await fixture({ answer: "decline" });
  const r = await f.post();
  expect(r.status).toBe(503);
  expect(r.body.error).toBe("checkpoint 1 FAILED: declined: count 0: test decline; no savepoint written");
  expect(await readdir(dir)).not.toContain("sp");
});

test("savepoints - a job that is not RUNNING is 503 with its state", async () => {
  const f = await fixture();
  f.job.state = "RESTARTING";
  const r = await f.post();
  expect(r.status).toBe(503);
  expect(r.body).toMatchObject({ state: "RESTARTING", error: "cannot take a savepoint while the job is RESTARTING" });
});

test("savepoints - a directory that cannot be written is 500 naming PVFLOW_SAVEPOINT_DIR", async () => {
  const file = join(dir, "a-file");
  await writeFile(file, "x");
  const f = await fixture({ savepointDir: file });
  const r = await f.post();
  expect(r.status).toBe(500);
  expect(r.body.error).toContain(`the savepoint directory ${file} (PVFLOW_SAVEPOINT_DIR)`);
});

test("savepoints - a libSQL server database is 501 with what to do instead, nothing triggered", async () => {
  const f = await fixture({ unsupported: savepointsUnsupported("http://127.0.0.1:8080") });
  const r = await f.post();
  expect(r.status).toBe(501);
  expect(r.body.error).toContain("a libSQL server does not run VACUUM INTO");
  expect(f.coordinator.nextCheckpointId).toBe(1);
});

test("savepoints - within the min pause it is 429 with Retry-After, like POST /checkpoints", async () => {
  const f = await fixture({ minPauseMs: 60_000 });
  expect((await f.post()).status).toBe(201);
  const r = await f.post();
  expect(r.status).toBe(429);
  expect(r.res.headers.get("retry-after")).toBe("60");
});

test("savepoints - a second POST while one is written is 409; GET is 405", async () => {
  const f = await fixture();
  const [a, b] = await Promise.all([f.post(), f.post()]);
  expect([a.status, b.status].sort()).toEqual([201, 409]);
  const g = await f.app.request("/savepoints");
  expect(g.status).toBe(405);
  expect(g.headers.get("allow")).toBe("POST");
});
