/**
 * @module
 * `POST /checkpoints` and `PVFLOW_CHECKPOINT_MIN_PAUSE_MS`: a manual trigger within the pause
 * after the last checkpoint's end answers 429 with `Retry-After`. Served from a real {@link Job}
 * (not run) whose attempt coordinator is a real {@link CheckpointCoordinator} on a manual clock,
 * committing to a real libSQL file, attached the way `job.ts` exposes an attempt's coordinator.
 */
import { afterEach, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CheckpointCoordinator } from "../checkpoint/coordinator.ts";
import { CheckpointStore } from "../checkpoint/store.ts";
import { loadConfig } from "../config.ts";
import { Job } from "../job.ts";
import { createStatusApp } from "./status_app.ts";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fixture(minPauseMs: string) {
  const dir = await mkdtemp(join(tmpdir(), "pvflow-pause-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const config = loadConfig({
    PVFLOW_SUBJECTS: "pv.0", PVFLOW_PARALLELISM: "1", PVFLOW_DB_URL: `file:${join(dir, "p.db")}`,
    PVFLOW_CHECKPOINT_MIN_PAUSE_MS: minPauseMs,
  });
  const store = await CheckpointStore.open({ url: config.dbUrl, stream: config.stream });
  cleanups.push(() => store.close());
  const clock = { now: 10_000 };
  const coordinator = new CheckpointCoordinator({
    intervalMs: 60_000, timeoutMs: 60_000, minPauseMs: config.checkpointMinPauseMs, sources: 1, counts: 1,
    firstCheckpointId: 1, now: () => clock.now,
    trigger: () => {}, commit: (d) => store.commit(d), notifyComplete: () => {}, notifyAbort: () => {},
  });
  cleanups.push(() => coordinator.stop());
  const job = new Job(config, store, { log: () => {} });
  job.state = "RUNNING";
  Object.defineProperty(job, "coordinator", { get: () => coordinator });
  Object.defineProperty(job, "triggerCheckpoint", { value: () => coordinator.trigger() });
  const app = createStatusApp({ job, store, version: "test" });
  /** Completes the checkpoint in flight. */
  const complete = async (id: number) => {
    coordinator.acknowledge({ kind: "ack", role: "source", subtask: 0, checkpointId: id, positions: { "pv.0": id } });
    coordinator.acknowledge({ kind: "ack", role: "count", subtask: 0, checkpointId: id, rows: 0, alignmentMs: 0, changed: { keys: [], counts: [] } });
    await coordinator.settle();
    expect(coordinator.history[0]!.status).toBe("COMPLETED");
  };
  const post = async () => {
    const res = await app.request("/checkpoints", { method: "POST" });
    return { status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.json() as Record<string, unknown> };
  };
  return { clock, coordinator, complete, post };
}

test("status app - POST /checkpoints within PVFLOW_CHECKPOINT_MIN_PAUSE_MS of the last end answers 429 with Retry-After", async () => {
  const f = await fixture("2500");
  expect(await f.post()).toMatchObject({ status: 202, body: { id: 1 } });
  expect(await f.post()).toMatchObject({ status: 202, body: { id: 1 } }); // in flight: the same one
  f.clock.now += 100;
  await f.complete(1); // ended at 10_100
  f.clock.now += 1000;
  const early = await f.post();
  expect(early).toEqual({
    status: 429,
    retryAfter: "2",
    body: { error: "the last checkpoint ended less than PVFLOW_CHECKPOINT_MIN_PAUSE_MS (2500 ms) ago; retry in 1500 ms", retryAfterMs: 1500 },
  });
  expect(f.coordinator.inProgress).toBeUndefined(); // nothing was triggered
  f.clock.now += 1499.5;
  expect(await f.post()).toMatchObject({ status: 429, retryAfter: "1", body: { retryAfterMs: 1 } });
  f.clock.now += 0.5;
  expect(await f.post()).toMatchObject({ status: 202, body: { id: 2 } });
});

test("status app - POST /checkpoints without a min pause triggers right after the last checkpoint", async () => {
  const f = await fixture("0");
  expect(await f.post()).toMatchObject({ status: 202, body: { id: 1 } });
  await f.complete(1);
  expect(await f.post()).toMatchObject({ status: 202, body: { id: 2 } });
});
