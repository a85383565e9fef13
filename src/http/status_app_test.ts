/**
 * @module
 * Tests for the status app with `app.request()` (no network), served from a real {@link Job} built
 * from a loaded config and a real {@link CheckpointStore} on a temp libSQL file. The job is not run
 * (no NATS): tests set its public fields and feed its metrics. Checkpoints are driven through a real
 * {@link CheckpointCoordinator} whose commit is the real store commit, attached to the job the way
 * `job.ts` attaches an attempt's coordinator (its history, in-flight checkpoint and trigger).
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePrometheusText } from "../../tests/support/prometheus.ts";
import { CheckpointCoordinator, type CheckpointRecord } from "../checkpoint/coordinator.ts";
import { CheckpointStore } from "../checkpoint/store.ts";
import { loadConfig } from "../config.ts";
import { runtime, runtimeVersion } from "../platform.ts";
import { Job, type JobState } from "../job.ts";
import type { SplitPositions, TaskMetrics } from "../types.ts";
import { RateHistory } from "../rate_history.ts";
import { jobTotals } from "./job_status.ts";
import { createStatusApp, DEFAULT_LIMIT, MAX_LIMIT, MAX_TOP } from "./status_app.ts";

const SPLITS = ["pv.0", "pv.1", "pv.2", "pv.3"];
const ADMIN = "adm1n-T0ken-for-tests";

interface Fixture {
  job: Job;
  store: CheckpointStore;
  coordinator: CheckpointCoordinator;
  app: ReturnType<typeof createStatusApp>;
  /** `app.request` with a JSON body. */
  get(path: string, init?: RequestInit): Promise<{ status: number; body: any; res: Response }>;
}

let dir: string;
const open: Fixture[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pvflow-status-app-"));
});

afterEach(async () => {
  for (const f of open.splice(0)) {
    f.coordinator.stop();
    f.store.close();
  }
  await rm(dir, { recursive: true, force: true });
});

/** A job (CREATED, never run) over a fresh store, with 2 sources × 2 count subtasks on 4 splits. */
async function fixture(env: Record<string, string> = {}, adminToken?: string): Promise<Fixture> {
  const dbUrl = `file:${join(dir, `status-${open.length}.db`)}`;
  const config = loadConfig({
    PVFLOW_SUBJECTS: SPLITS.join(","),
    PVFLOW_PARALLELISM: "2",
    PVFLOW_SOURCE_PARALLELISM: "2",
    PVFLOW_DB_URL: dbUrl,
    ...env,
  });
  const store = await CheckpointStore.open({ url: config.dbUrl, authToken: config.dbAuthToken, stream: config.stream });
  const job = new Job(config, store, { log: () => {} });
  const coordinator = new CheckpointCoordinator({
    intervalMs: 60_000,
    timeoutMs: 60_000,
    minPauseMs: 0,
    sources: config.sourceParallelism,
    counts: config.parallelism,
    firstCheckpointId: 1,
    trigger: () => {},
    commit: async (data) => {
      const r = await store.commit(data);
      job.committed = { checkpointId: data.record.id, positions: { ...job.committed.positions, ...data.positions } };
      return r;
    },
    notifyComplete: () => {},
    notifyAbort: () => {},
    onFinished: (r) => {
      job.metrics.checkpointFinished(r);
      if (r.status === "COMPLETED") job.latestCompleted = r;
    },
  });
  // The attempt's coordinator, as job.ts exposes it while an attempt runs.
  Object.defineProperty(job, "checkpointHistory", { get: () => [...coordinator.history] });
  Object.defineProperty(job, "coordinator", { get: () => coordinator });
  Object.defineProperty(job, "triggerCheckpoint", {
    value: () => (job.state === "RUNNING" ? coordinator.trigger() : undefined),
  });
  const app = createStatusApp({ job, store, version: "1.2.3-test", adminToken: adminToken ?? config.adminToken });
  const f: Fixture = {
    job, store, coordinator, app,
    async get(path, init) {
      const res = await app.request(path, init);
      const text = await res.clone().text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
      return { status: res.status, body, res };
    },
  };
  open.push(f);
  return f;
}

/** Runs one checkpoint through the coordinator: both sources and both count subtasks acknowledge. */
async function checkpoint(
  f: Fixture,
  positions: SplitPositions,
  changed: Record<string, number>,
  alignmentMs = [2, 7],
): Promise<CheckpointRecord> {
  const { id, done } = f.coordinator.trigger();
  const entries = Object.entries(changed);
  const half = Math.ceil(entries.length / 2);
  for (const s of [0, 1]) {
    const mine = Object.fromEntries(Object.entries(positions).filter(([split]) => SPLITS.indexOf(split) % 2 === s));
    f.coordinator.acknowledge({ kind: "ack", role: "source", subtask: s, checkpointId: id, positions: mine });
  }
  for (const s of [0, 1]) {
    const part = s === 0 ? entries.slice(0, half) : entries.slice(half);
    f.coordinator.acknowledge({
      kind: "ack", role: "count", subtask: s, checkpointId: id, alignmentMs: alignmentMs[s], rows: part.length,
      changed: { keys: part.map(([k]) => k), counts: part.map(([, c]) => c) },
    });
  }
  return await done;
}

/** A source subtask's periodic metrics. */
function sourceMetrics(subtask: number, recordsIn: number, splits: Record<string, [number, number, number]>, dl = {}): TaskMetrics {
  return {
    kind: "metrics", role: "source", subtask, recordsIn, recordsOut: recordsIn - Object.values(dl as Record<string, number>).reduce((a, b) => a + b, 0),
    deadLettered: dl,
    splits: Object.fromEntries(Object.entries(splits).map(([s, [delivered, position, pending]]) => [s, { delivered, position, pending, consumerRestarts: 0 }])),
  };
}

/** A count subtask's periodic metrics. */
function countMetrics(subtask: number, recordsIn: number, keys: number): TaskMetrics {
  return { kind: "metrics", role: "count", subtask, recordsIn, recordsOut: 0, deadLettered: {}, keys };
}

/** Feeds a realistic running job: 2 checkpoints completed, 1 failed, 1 in flight, metrics from all subtasks. */
async function busyJob(f: Fixture): Promise<void> {
  f.job.state = "RUNNING";
  f.job.natsConnected = true;
  f.job.metrics.beginAttempt();
  await checkpoint(f, { "pv.0": 5, "pv.1": 6, "pv.2": 7, "pv.3": 8 }, { a: 2, b: 3, "c/d": 1, "x y": 2 });
  const failing = f.coordinator.trigger();
  f.coordinator.decline(failing.id, "count 1: checkpoint 1 not yet complete");
  await failing.done;
  await checkpoint(f, { "pv.0": 13, "pv.1": 14, "pv.2": 15, "pv.3": 16 }, { a: 6, b: 5 }, [1, 12]);
  f.coordinator.trigger(); // in flight
  f.job.metrics.update(sourceMetrics(0, 20, { "pv.0": [17, 17, 3], "pv.2": [19, 19, 0] }, { not_json: 2, key_missing: 1 }));
  f.job.metrics.update(sourceMetrics(1, 10, { "pv.1": [18, 18, 4], "pv.3": [20, 20, 1] }));
  f.job.metrics.update(countMetrics(0, 15, 3));
  f.job.metrics.update(countMetrics(1, 12, 2));
}

describe("status app - health and readiness", () => {
  test("status app - /healthz answers 200 in every state but FAILED", async () => {
    const f = await fixture();
    for (const state of ["CREATED", "RESTORING", "RUNNING", "RESTARTING", "STOPPING", "STOPPED"] as JobState[]) {
      f.job.state = state;
      const r = await f.get("/healthz");
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ status: "ok" });
    }
  });

  test("status app - /healthz answers 503 with the state and the reason when FAILED", async () => {
    const f = await fixture();
    f.job.state = "FAILED";
    f.job.stateReason = "another pvflow process took over the database";
    const r = await f.get("/healthz");
    expect(r.status).toBe(503);
    expect(r.body).toEqual({ status: "failed", state: "FAILED", reason: "another pvflow process took over the database" });
  });

  test("status app - /readyz is 200 only while RUNNING (and connected), 503 with the state otherwise", async () => {
    const f = await fixture();
    f.job.natsConnected = true;
    for (const state of ["CREATED", "RESTORING", "RESTARTING", "FAILED", "STOPPING", "STOPPED"] as JobState[]) {
      f.job.state = state;
      f.job.stateReason = state === "FAILED" ? "source 0 failed: boom" : undefined;
      const r = await f.get("/readyz");
      expect(r.status).toBe(503);
      expect(r.body).toMatchObject({ ready: false, state });
      if (state === "FAILED") expect(r.body.reason).toBe("source 0 failed: boom");
    }
    f.job.state = "RUNNING";
    f.job.stateReason = undefined;
    const ok = await f.get("/readyz");
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ ready: true, state: "RUNNING", natsConnected: true, stalled: [], reason: null });
    f.job.natsConnected = false;
    const down = await f.get("/readyz");
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ ready: false, state: "RUNNING", natsConnected: false });
  });

  test("status app - a stalled split makes /readyz 503 with the split named, and shows in /status and /metrics", async () => {
    const f = await fixture();
    f.job.natsConnected = true;
    f.job.state = "RUNNING";
    const t0 = Date.now() - 60_000; // behind, not moved for a minute
    f.job.stalls.observe("pv.1", 42, true, t0);
    f.job.stalls.observe("pv.0", 7, false, t0);
    const r = await f.get("/readyz");
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ ready: false, state: "RUNNING", stalled: ["pv.1"] });
    expect(r.body.reason).toMatch(/^stalled: pv\.1 \(no progress for (59|60|61) s\)$/);
    const s = (await f.get("/status")).body;
    expect(s.stalled).toEqual(["pv.1"]);
    expect(s.splits.find((x: { split: string }) => x.split === "pv.1").stalledForMs).toBeGreaterThanOrEqual(60_000);
    expect(s.splits.find((x: { split: string }) => x.split === "pv.0").stalledForMs).toBeNull();
    const metrics = await (await f.app.request("/metrics")).text();
    expect(metrics).toContain('pvflow_split_stalled{split="pv.1"} 1');
    expect(metrics).toContain('pvflow_split_stalled{split="pv.0"} 0');
    f.job.state = "RESTARTING"; // only a RUNNING job can be stalled: other states say why themselves
    expect((await f.get("/status")).body.stalled).toEqual([]);
  });
});

describe("status app - /status", () => {
  test("status app - a fresh job reports CREATED, zero counters and its committed positions", async () => {
    const f = await fixture();
    const r = await f.get("/status");
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      state: "CREATED", version: "1.2.3-test",
      records: { in: 0, out: 0, counted: 0, deadLettered: 0, deadLetteredByReason: {} },
      restarts: 0,
      checkpoints: {
        completed: 0, failed: 0, inProgress: null, latestCommittedId: 0, consecutiveFailed: 0, latestFailure: null,
        latestCompleted: null,
      },
    });
    expect(r.body.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect(r.body.splits).toEqual(SPLITS.map((split) => ({
      split, committedPosition: 0, deliveredSequence: 0, emittedPosition: 0, streamLastSequence: null, lag: null,
      consumerRestarts: 0, waiting: null, stalledForMs: null,
    })));
    expect(r.body.config).toMatchObject({ subjects: SPLITS, parallelism: 2, sourceParallelism: 2, httpHost: "127.0.0.1" });
  });

  test("status app - a running job reports splits, records, restarts and the latest completed checkpoint", async () => {
    const f = await fixture();
    await busyJob(f);
    f.job.restarts = 2;
    const r = await f.get("/status");
    expect(r.status).toBe(200);
    const s = r.body;
    expect(s.state).toBe("RUNNING");
    expect(s.splits).toEqual([
      { split: "pv.0", committedPosition: 13, deliveredSequence: 17, emittedPosition: 17, streamLastSequence: null, lag: 3, consumerRestarts: 0, waiting: null, stalledForMs: null },
      { split: "pv.1", committedPosition: 14, deliveredSequence: 18, emittedPosition: 18, streamLastSequence: null, lag: 4, consumerRestarts: 0, waiting: null, stalledForMs: null },
      { split: "pv.2", committedPosition: 15, deliveredSequence: 19, emittedPosition: 19, streamLastSequence: null, lag: 0, consumerRestarts: 0, waiting: null, stalledForMs: null },
      { split: "pv.3", committedPosition: 16, deliveredSequence: 20, emittedPosition: 20, streamLastSequence: null, lag: 1, consumerRestarts: 0, waiting: null, stalledForMs: null },
    ]);
    expect(s.records).toEqual({
      in: 30, out: 27, counted: 27, deadLettered: 3, deadLetteredByReason: { not_json: 2, key_missing: 1 },
      committed: 0, // set by job.ts's commit, which this fixture's coordinator does not run
    });
    expect(s.keys).toBe(5);
    expect(s.restarts).toBe(2);
    const latest = f.coordinator.history.find((c) => c.id === 3)!;
    const failed = f.coordinator.history.find((c) => c.id === 2)!;
    expect(s.checkpoints).toEqual({
      completed: 2, failed: 1, inProgress: 4, latestCommittedId: 3,
      consecutiveFailed: 0, // checkpoint 3 completed after the failed 2
      latestFailure: {
        id: 2, triggerTime: new Date(failed.triggerTime).toISOString(),
        reason: "declined: count 1: checkpoint 1 not yet complete",
      },
      latestCompleted: {
        id: 3, triggerTime: new Date(latest.triggerTime).toISOString(), durationMs: latest.durationMs,
        alignmentMs: 12, rows: 2, bytes: latest.bytes,
      },
    });
    expect(s.checkpoints.latestCompleted.durationMs).toBeGreaterThanOrEqual(0);
    expect(s.checkpoints.latestCompleted.bytes).toBeGreaterThan(0);
  });

  test("status app - after a restart of the process the latest completed checkpoint comes from the store", async () => {
    const first = await fixture();
    await checkpoint(first, { "pv.0": 5, "pv.1": 6, "pv.2": 7, "pv.3": 8 }, { a: 2 });
    // A second process on the same database: no checkpoint in memory yet.
    const config = loadConfig({ PVFLOW_SUBJECTS: SPLITS.join(","), PVFLOW_DB_URL: first.job.config.dbUrl });
    const job = new Job(config, first.store, { log: () => {} });
    const app = createStatusApp({ job, store: first.store, version: "x" });
    const s = await (await app.request("/status")).json();
    expect(s.checkpoints.latestCompleted).toMatchObject({ id: 1, alignmentMs: 7, rows: 1 });
  });

  test("status app - a store that fails or hangs leaves /status answering (latest completed: the process's own)", async () => {
    const f = await fixture();
    const config = loadConfig({ PVFLOW_SUBJECTS: SPLITS.join(","), PVFLOW_DB_URL: f.job.config.dbUrl });
    const failing = { listCheckpoints: () => Promise.reject(new Error("SQLITE_BUSY")) };
    const hanging = { listCheckpoints: () => new Promise<never>(() => {}) };
    for (const store of [failing, hanging]) {
      const job = new Job(config, f.store, { log: () => {} });
      const app = createStatusApp({ job, store: store as unknown as CheckpointStore, version: "x" });
      const res = await app.request("/status");
      expect(res.status).toBe(200);
      expect((await res.json()).checkpoints.latestCompleted).toBeNull();
      // Once this process completed one, the store is not asked at all.
      job.latestCompleted = { id: 9, status: "COMPLETED", triggerTime: Date.now(), durationMs: 3 } as Job["latestCompleted"];
      expect((await (await app.request("/status")).json()).checkpoints.latestCompleted).toMatchObject({ id: 9, durationMs: 3 });
    }
  });

  test("status app - no secret appears anywhere in /status", async () => {
    const secrets = {
      NATS_TOKEN: "natsTok3n-SECRET-1",
      NATS_USER: "pvuser",
      NATS_PASSWORD: "natsPassw0rd-SECRET-2",
      PVFLOW_DB_AUTH_TOKEN: "dbAuthT0ken-SECRET-3",
      PVFLOW_ADMIN_TOKEN: "adminT0ken-SECRET-4",
    };
    const f = await fixture({
      ...secrets,
      NATS_URL: "nats://127.0.0.1:4222,nats://127.0.0.1:4223", // credentials in NATS_URL are refused by the config
      PVFLOW_DB_URL: `file:${join(dir, "secret.db")}?authToken=queryT0ken-SECRET-6`,
    });
    await busyJob(f);
    const r = await f.get("/status");
    expect(r.status).toBe(200);
    const text = JSON.stringify(r.body);
    expect(text).not.toMatch(/SECRET/);
    for (const v of Object.values(secrets).filter((v) => v.includes("SECRET"))) expect(text).not.toContain(v);
    expect(r.body.config).toMatchObject({ natsAuth: "token", dbAuth: "token", adminToken: "set" });
    expect(r.body.config.natsServers).toEqual(["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"]);
    // Nor in any other GET answer.
    for (const path of ["/readyz", "/checkpoints", "/checkpoints/1", "/counts", "/metrics"]) {
      expect(await (await f.app.request(path)).text()).not.toMatch(/SECRET/);
    }
  });

  test("status app - the status server binds 127.0.0.1 by default", () => {
    expect(loadConfig({}).httpHost).toBe("127.0.0.1");
  });
});

describe("status app - /checkpoints", () => {
  test("status app - /checkpoints lists newest first with status, phase timings and failure reason", async () => {
    const f = await fixture();
    await busyJob(f);
    const r = await f.get("/checkpoints");
    expect(r.status).toBe(200);
    const list = r.body.checkpoints;
    expect(list.map((c: CheckpointRecord) => [c.id, c.status])).toEqual([
      [4, "IN_PROGRESS"], [3, "COMPLETED"], [2, "FAILED"], [1, "COMPLETED"],
    ]);
    expect(list[2].failureReason).toBe("declined: count 1: checkpoint 1 not yet complete");
    for (const c of list.filter((c: CheckpointRecord) => c.status === "COMPLETED")) {
      for (const phase of ["syncMs", "commitMs", "durationMs", "alignmentMs"]) expect(c[phase]).toBeGreaterThanOrEqual(0);
      expect(c.durationMs).toBeGreaterThanOrEqual(c.syncMs);
      expect(typeof c.triggerTime).toBe("number");
      expect(c.subtasks).toBeUndefined(); // detail only in /checkpoints/<id>
    }
    expect(list[1]).toMatchObject({ rows: 2, alignmentMs: 12 });
  });

  test("status app - /checkpoints keeps the last 100 and falls back to the store for older ones", async () => {
    const f = await fixture();
    f.job.state = "RUNNING";
    for (let i = 1; i <= 105; i++) await checkpoint(f, { "pv.0": i }, { [`k${i}`]: i });
    const list = (await f.get("/checkpoints")).body.checkpoints;
    expect(list.length).toBe(100);
    expect(list[0].id).toBe(105);
    expect(list[99].id).toBe(6);
    // A fresh process: nothing in memory, all from the store, still newest first and capped.
    const job = new Job(f.job.config, f.store, { log: () => {} });
    const app = createStatusApp({ job, store: f.store, version: "x" });
    const stored = (await (await app.request("/checkpoints")).json()).checkpoints;
    expect(stored.map((c: CheckpointRecord) => c.id)).toEqual(Array.from({ length: 100 }, (_, i) => 105 - i));
    expect(stored.every((c: CheckpointRecord) => c.status === "COMPLETED")).toBe(true);
    const old = await app.request("/checkpoints/2");
    expect(old.status).toBe(200);
    expect(await old.json()).toMatchObject({ id: 2, status: "COMPLETED", rows: 1, subtasks: [] });
  });

  test("status app - /checkpoints/<id> shows one checkpoint with its subtasks", async () => {
    const f = await fixture();
    await busyJob(f);
    const r = await f.get("/checkpoints/3");
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: 3, status: "COMPLETED", rows: 2, alignmentMs: 12 });
    const subtasks = r.body.subtasks as { role: string; subtask: number; ackMs: number; alignmentMs?: number; rows?: number }[];
    expect(subtasks.map((s) => `${s.role}:${s.subtask}`).sort()).toEqual(["count:0", "count:1", "source:0", "source:1"]);
    expect(subtasks.find((s) => s.role === "count" && s.subtask === 1)).toMatchObject({ alignmentMs: 12, rows: 1 });
    for (const s of subtasks) expect(s.ackMs).toBeGreaterThanOrEqual(0);
    const failed = (await f.get("/checkpoints/2")).body;
    expect(failed).toMatchObject({ id: 2, status: "FAILED", failureReason: "declined: count 1: checkpoint 1 not yet complete" });
    expect((await f.get("/checkpoints/4")).body).toMatchObject({ id: 4, status: "IN_PROGRESS" });
  });

  test("status app - /checkpoints/<id> answers 404 for an unknown id and 400 for a malformed one", async () => {
    const f = await fixture();
    await busyJob(f);
    const missing = await f.get("/checkpoints/99");
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error: "checkpoint 99 not found" });
    for (const bad of ["0", "-1", "abc", "1e3", "0x10", "1.5", "99999999999999999999"]) {
      const r = await f.get(`/checkpoints/${bad}`);
      expect(r.status, bad).toBe(400);
      expect(r.body.error).toContain("positive integer");
    }
  });
});

describe("status app - POST /checkpoints and auth", () => {
  test("status app - POST /checkpoints triggers a checkpoint and answers its id", async () => {
    const f = await fixture();
    f.job.state = "RUNNING";
    await checkpoint(f, { "pv.0": 1 }, { a: 1 });
    const r = await f.get("/checkpoints", { method: "POST" });
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ id: 2 });
    expect((await f.get("/checkpoints/2")).body).toMatchObject({ id: 2, status: "IN_PROGRESS" });
    // While it is in flight, a second trigger answers the same id.
    expect((await f.get("/checkpoints", { method: "POST" })).body).toEqual({ id: 2 });
  });

  test("status app - POST /checkpoints answers 503 with the state when the job is not RUNNING", async () => {
    const f = await fixture();
    for (const state of ["CREATED", "RESTORING", "RESTARTING", "STOPPING", "FAILED"] as JobState[]) {
      f.job.state = state;
      const r = await f.get("/checkpoints", { method: "POST" });
      expect(r.status).toBe(503);
      expect(r.body).toMatchObject({ state });
      expect(r.body.error).toContain(state);
    }
  });

  test("status app - with an admin token every POST needs the bearer token; GETs never do", async () => {
    const f = await fixture({ PVFLOW_ADMIN_TOKEN: ADMIN });
    f.job.state = "RUNNING";
    f.job.natsConnected = true;
    const wrong = [
      undefined, "", "Bearer", "Bearer ", `Bearer ${ADMIN}x`, `Bearer ${ADMIN.slice(0, -1)}`, `Basic ${btoa(`a:${ADMIN}`)}`,
      ADMIN, `Token ${ADMIN}`, `Bearer  ${ADMIN}`,
    ];
    for (const auth of wrong) {
      const r = await f.get("/checkpoints", { method: "POST", headers: auth === undefined ? {} : { authorization: auth } });
      expect(r.status, String(auth)).toBe(401);
      expect(r.body).toEqual({ error: "missing or wrong bearer token" });
      expect(r.res.headers.get("www-authenticate")).toContain("Bearer");
    }
    expect(f.coordinator.history.length).toBe(0); // nothing was triggered
    // Every POST, also to routes that do not accept POST.
    expect((await f.get("/counts", { method: "POST" })).status).toBe(401);
    expect((await f.get("/nope", { method: "POST" })).status).toBe(401);
    const ok = await f.get("/checkpoints", { method: "POST", headers: { authorization: `Bearer ${ADMIN}` } });
    expect(ok.status).toBe(202);
    expect(ok.body).toEqual({ id: 1 });
    const lower = await f.get("/checkpoints", { method: "POST", headers: { authorization: `bearer ${ADMIN}` } });
    expect(lower.status).toBe(202); // the scheme is case-insensitive
    for (const path of ["/healthz", "/readyz", "/status", "/checkpoints", "/checkpoints/1", "/counts", "/metrics"]) {
      expect((await f.app.request(path)).status, path).toBe(200);
    }
  });

  test("status app - without an admin token POST needs no authorization", async () => {
    const f = await fixture();
    f.job.state = "RUNNING";
    expect((await f.get("/checkpoints", { method: "POST" })).status).toBe(202);
  });
});

describe("status app - /counts", () => {
  test("status app - /counts is the committed view with the checkpoint id", async () => {
    const f = await fixture();
    expect((await f.get("/counts")).body).toEqual({ checkpointId: 0, counts: {}, next: null });
    await busyJob(f);
    const r = await f.get("/counts");
    expect(r.status).toBe(200);
    expect(r.res.headers.get("content-type")).toContain("application/json");
    expect(r.body).toEqual({ checkpointId: 3, counts: { a: 6, b: 5, "c/d": 1, "x y": 2 }, next: null });
  });

  test("status app - /counts?limit=N&after=<key> pages through every key in key order", async () => {
    const f = await fixture();
    await busyJob(f);
    const p1 = await f.get("/counts?limit=3");
    expect(p1.body).toEqual({ checkpointId: 3, counts: { a: 6, b: 5, "c/d": 1 }, next: "c/d" });
    const p2 = await f.get(`/counts?limit=3&after=${encodeURIComponent(p1.body.next)}`);
    expect(p2.body).toEqual({ checkpointId: 3, counts: { "x y": 2 }, next: null });
    expect((await f.get("/counts?limit=1&after=x%20y")).body).toEqual({ checkpointId: 3, counts: {}, next: null });
    // more keys than the default page: the first page holds DEFAULT_LIMIT of them, in key order
    const many: Record<string, number> = {};
    for (let i = 0; i < DEFAULT_LIMIT + 5; i++) many[`k${String(i).padStart(5, "0")}`] = i + 1;
    await checkpoint(f, {}, many);
    const first = await f.get("/counts");
    expect(Object.keys(first.body.counts).length).toBe(DEFAULT_LIMIT);
    expect(first.body.next).toBe(`k${String(DEFAULT_LIMIT - 3 - 1).padStart(5, "0")}`); // a, b, c/d, then k…
    const rest = await f.get(`/counts?limit=${MAX_LIMIT}&after=${encodeURIComponent(first.body.next)}`);
    expect(Object.keys(rest.body.counts).length).toBe(4 + DEFAULT_LIMIT + 5 - DEFAULT_LIMIT);
    expect(rest.body.next).toBeNull();
    expect({ ...first.body.counts, ...rest.body.counts }).toEqual({ a: 6, b: 5, "c/d": 1, "x y": 2, ...many });
  });

  test("status app - a bad limit, or top with limit or after, is a 400 JSON error", async () => {
    const f = await fixture();
    for (const limit of ["0", "-1", "abc", "1.5", "", String(MAX_LIMIT + 1)]) {
      const r = await f.get(`/counts?limit=${encodeURIComponent(limit)}`);
      expect(r.status, limit).toBe(400);
      expect(r.body.error).toBe(`limit must be an integer from 1 to ${MAX_LIMIT}, got ${JSON.stringify(limit)}`);
    }
    for (const q of ["top=1&limit=1", "top=1&after=a"]) {
      expect(await f.get(`/counts?${q}`)).toMatchObject({ status: 400, body: { error: "top cannot be combined with limit or after" } });
    }
  });

  test("status app - /counts?top=N answers the N largest", async () => {
    const f = await fixture();
    await busyJob(f);
    const r = await f.get("/counts?top=2");
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ checkpointId: 3, counts: { a: 6, b: 5 } });
    expect(Object.keys((await f.get("/counts?top=3")).body.counts)).toEqual(["a", "b", "x y"]);
    expect((await f.get(`/counts?top=${MAX_TOP}`)).body.counts).toEqual({ a: 6, b: 5, "c/d": 1, "x y": 2 });
  });

  test("status app - a bad top is a 400 JSON error", async () => {
    const f = await fixture();
    for (const top of ["0", "-1", "abc", "1e3", "1.5", "", " 1", "0x10", String(MAX_TOP + 1), "99999999999999999999"]) {
      const r = await f.get(`/counts?top=${encodeURIComponent(top)}`);
      expect(r.status, top).toBe(400);
      expect(r.res.headers.get("content-type")).toContain("application/json");
      expect(r.body.error).toBe(`top must be an integer from 1 to ${MAX_TOP}, got ${JSON.stringify(top)}`);
    }
  });

  test("status app - /counts/<key> answers the key's count, URL-decoded", async () => {
    const f = await fixture();
    await busyJob(f);
    expect((await f.get("/counts/a")).body).toEqual({ key: "a", count: 6, checkpointId: 3 });
    expect((await f.get("/counts/c%2Fd")).body).toEqual({ key: "c/d", count: 1, checkpointId: 3 });
    expect((await f.get("/counts/x%20y")).body).toEqual({ key: "x y", count: 2, checkpointId: 3 });
    await checkpoint(f, {}, { "ü%ñ?#": 4 }); // completes checkpoint 4, the one in flight
    expect((await f.get(`/counts/${encodeURIComponent("ü%ñ?#")}`)).body).toEqual({ key: "ü%ñ?#", count: 4, checkpointId: 4 });
  });

  test("status app - /counts/<key> with a malformed %-escape is a 400, never another key's count", async () => {
    const f = await fixture();
    await checkpoint(f, {}, { "%E0": 7, "a%2": 8 });
    for (const raw of ["%E0", "a%2", "%ED%A0%80", "%ZZ"]) {
      const r = await f.get(`/counts/${raw}`);
      expect(r.status, raw).toBe(400);
      expect(r.body.error).toBe(`the key in the path must be percent-encoded UTF-8, got ${JSON.stringify(raw)}`);
    }
    expect((await f.get("/counts/%25E0")).body).toEqual({ key: "%E0", count: 7, checkpointId: 1 });
  });

  test("status app - /counts/<key> of an unknown key is a 404 JSON error", async () => {
    const f = await fixture();
    await busyJob(f);
    const r = await f.get("/counts/nobody%2Fhere");
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ error: 'key "nobody/here" has no committed count', key: "nobody/here" });
  });
});

describe("status app - /metrics", () => {
  test("status app - /metrics is valid Prometheus text with every pvflow family", async () => {
    const f = await fixture();
    await busyJob(f);
    f.job.restarts = 1;
    const res = await f.app.request("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const families = parsePrometheusText(await res.text());
    for (const name of families.keys()) expect(name).toMatch(/^(pvflow|process)_/);
    const samples = [...families.values()].flatMap((f) => f.samples);
    const value = (name: string, labels: Record<string, string> = {}) =>
      samples.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
    expect(families.get("pvflow_records_in_total")?.type).toBe("counter");
    expect(value("pvflow_records_in_total")).toBe(30);
    expect(value("pvflow_records_counted_total")).toBe(27);
    expect(value("pvflow_checkpoints_completed_total")).toBe(2);
    expect(value("pvflow_checkpoints_failed_total")).toBe(1);
    expect(value("pvflow_checkpoint_in_progress")).toBe(1);
    expect(value("pvflow_last_checkpoint_id")).toBe(3);
    expect(value("pvflow_restarts_total")).toBe(1);
    expect(value("pvflow_dead_lettered_total", { reason: "not_json" })).toBe(2);
    expect(value("pvflow_dead_lettered_total", { reason: "key_missing" })).toBe(1);
    expect(value("pvflow_dead_lettered_total", { reason: "too_large" })).toBe(0);
    expect(value("pvflow_up")).toBe(1);
    expect(families.get("pvflow_checkpoint_duration_seconds")?.type).toBe("histogram");
    expect(value("pvflow_checkpoint_duration_seconds_count")).toBe(2);
    expect(value("pvflow_checkpoint_alignment_seconds_count")).toBe(2);
    expect(value("pvflow_checkpoint_alignment_seconds_sum")).toBeCloseTo(0.019, 6);
    expect(value("pvflow_checkpoint_alignment_seconds_bucket", { le: "0.005" })).toBe(0);
    expect(value("pvflow_checkpoint_alignment_seconds_bucket", { le: "0.01" })).toBe(1);
    expect(value("pvflow_checkpoint_alignment_seconds_bucket", { le: "+Inf" })).toBe(2);
    expect(SPLITS.map((split) => value("pvflow_split_lag", { split }))).toEqual([3, 4, 0, 1]);
    expect(SPLITS.map((split) => value("pvflow_split_committed_position", { split }))).toEqual([13, 14, 15, 16]);
    expect(SPLITS.map((split) => value("pvflow_split_delivered_sequence", { split }))).toEqual([17, 18, 19, 20]);
  });

  test("status app - /metrics has the latest completed checkpoint's time, committed lag per split, the process and the build", async () => {
    const f = await fixture();
    const before = Date.now();
    await busyJob(f);
    const after = Date.now();
    const scrape = async () => {
      const families = parsePrometheusText(await (await f.app.request("/metrics")).text());
      const value = (name: string, labels: Record<string, string> = {}) =>
        families.get(name)?.samples.find((s) => JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
      return { families, value };
    };
    const { families, value } = await scrape();
    // Checkpoint 3 is the latest completed (4 is in flight): its trigger time plus its duration.
    const latest = f.job.checkpointHistory.find((r) => r.id === 3)!;
    expect(latest.status).toBe("COMPLETED");
    const completed = value("pvflow_last_checkpoint_completed_timestamp_seconds")!;
    expect(families.get("pvflow_last_checkpoint_completed_timestamp_seconds")?.type).toBe("gauge");
    expect(completed).toBe((latest.triggerTime + latest.durationMs!) / 1000);
    expect(completed * 1000).toBeGreaterThanOrEqual(before);
    expect(completed * 1000).toBeLessThanOrEqual(after + 1); // durations are fractional ms
    // Without NATS the stream cannot be asked: no committed-lag series rather than a false 0.
    expect(families.get("pvflow_split_committed_lag")?.samples).toEqual([]);
    expect(value("pvflow_build_info", { version: "1.2.3-test", runtime, runtime_version: runtimeVersion })).toBe(1);
    expect(families.get("process_cpu_seconds_total")?.type).toBe("counter");
    expect(value("process_cpu_seconds_total")).toBeGreaterThan(0);
    expect(value("process_resident_memory_bytes")).toBeGreaterThan(10_000_000);
    expect(value("process_start_time_seconds")! * 1000).toBeLessThanOrEqual(before);

    // The stream's last sequences per split against the committed positions 13, 14, 15, 16.
    Object.defineProperty(f.job, "splitLastSequences", { value: async () => ({ "pv.0": 20, "pv.1": 14, "pv.2": 15, "pv.3": 30 }) });
    const lag = (await scrape()).value;
    expect(SPLITS.map((split) => lag("pvflow_split_committed_lag", { split }))).toEqual([7, 0, 0, 14]);
  });

  test("status app - before any checkpoint the completed timestamp is 0; a fresh process reads it from the store", async () => {
    const f = await fixture();
    const ts = async (app: ReturnType<typeof createStatusApp>) =>
      parsePrometheusText(await (await app.request("/metrics")).text())
        .get("pvflow_last_checkpoint_completed_timestamp_seconds")?.samples[0].value;
    expect(await ts(f.app)).toBe(0);
    f.job.state = "RUNNING";
    await checkpoint(f, { "pv.0": 4 }, { a: 1 });
    const stored = (await f.store.listCheckpoints(1))[0];
    const job = new Job(f.job.config, f.store, { log: () => {} });
    expect(await ts(createStatusApp({ job, store: f.store, version: "x" }))).toBe(stored.completedTime / 1000);
    expect(stored.completedTime).toBeGreaterThan(0);
  });

  test("status app - /metrics of a fresh job parses too (empty histograms, zero series)", async () => {
    const f = await fixture({ PVFLOW_SUBJECTS: 'pv.>,a"b\\c' });
    const families = parsePrometheusText(await (await f.app.request("/metrics")).text());
    expect(families.get("pvflow_checkpoint_duration_seconds")?.samples.at(-1)).toEqual({
      name: "pvflow_checkpoint_duration_seconds_count", labels: {}, value: 0,
    });
    // Label values are escaped and read back exactly.
    expect(families.get("pvflow_split_lag")?.samples.map((s) => s.labels.split)).toEqual(["pv.>", 'a"b\\c']);
  });
});

describe("status app - errors", () => {
  test("status app - an unknown route is a 404 JSON error", async () => {
    const f = await fixture();
    for (const path of ["/nope", "/", "/status/", "/counts/", "/checkpoints/1/x", "/metrics.txt"]) {
      const r = await f.get(path);
      expect(r.status, path).toBe(404);
      expect(r.res.headers.get("content-type")).toContain("application/json");
      expect(r.body).toEqual({ error: `no route GET ${path}` });
    }
  });

  test("status app - a wrong method is a 405 JSON error with Allow", async () => {
    const f = await fixture();
    const cases: [string, string, string][] = [
      ["POST", "/status", "GET, HEAD"], ["DELETE", "/checkpoints", "GET, HEAD, POST"], ["PUT", "/counts/a", "GET, HEAD"],
      ["POST", "/healthz", "GET, HEAD"], ["PATCH", "/metrics", "GET, HEAD"], ["POST", "/checkpoints/1", "GET, HEAD"],
      ["DELETE", "/counts", "GET, HEAD"], ["POST", "/readyz", "GET, HEAD"],
    ];
    for (const [method, path, allow] of cases) {
      const r = await f.get(path, { method });
      expect(r.status, `${method} ${path}`).toBe(405);
      expect(r.res.headers.get("allow")).toBe(allow);
      expect(r.body).toEqual({ error: `method ${method} not allowed on ${path}`, allow });
    }
  });

  test("status app - HEAD is answered like GET without a body", async () => {
    const f = await fixture();
    const r = await f.app.request("/healthz", { method: "HEAD" });
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("");
  });

  test("status app - an internal error is a 500 JSON error without a stack trace", async () => {
    const f = await fixture();
    await busyJob(f);
    f.store.close(); // every read now fails
    const errors: unknown[] = [];
    const original = console.error;
    console.error = (...a: unknown[]) => errors.push(a);
    try {
      for (const path of ["/counts", "/counts/a", "/checkpoints/99"]) {
        const r = await f.get(path);
        expect(r.status, path).toBe(500);
        expect(r.body).toEqual({ error: "internal error" });
        expect(JSON.stringify(r.body)).not.toMatch(/at .*\.ts|Error:/);
      }
    } finally {
      console.error = original;
    }
    expect(errors.length).toBe(3);
  });

  test("status app - a dashboard, when given, is served on GET / (and / then takes 405)", async () => {
    const f = await fixture();
    const app = createStatusApp({ job: f.job, store: f.store, version: "x", dashboardHtml: "<h1>pvflow</h1>" });
    const r = await app.request("/");
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("<h1>pvflow</h1>");
    expect((await app.request("/", { method: "POST" })).status).toBe(405);
  });
});

describe("status app - rates and count subtasks", () => {
  test("status app - /status/history and /status rates come from the server's samples; count subtasks add up across attempts", async () => {
    const f = await fixture();
    const history = new RateHistory({ windowMs: 1000 });
    const app = createStatusApp({ job: f.job, store: f.store, version: "t", rates: { history, sampleIntervalMs: 1000 } });
    const get = async (path: string) => (await app.request(path)).json() as Promise<any>;
    f.job.state = "RUNNING";
    f.job.metrics.beginAttempt();
    f.job.metrics.update(sourceMetrics(0, 100, { "pv.0": [60, 60, 0], "pv.2": [40, 40, 0] }, { not_json: 4 }));
    f.job.metrics.update(countMetrics(0, 56, 5));
    f.job.metrics.update(countMetrics(1, 40, 3));
    f.job.committedRecords = 50;
    history.add(10_000, jobTotals(f.job));
    // A restart: the new attempt's subtasks count from 0 again, the totals go on.
    f.job.metrics.endAttempt();
    f.job.metrics.beginAttempt();
    f.job.metrics.update(sourceMetrics(0, 300, { "pv.0": [360, 360, 0], "pv.2": [140, 140, 0] }, { not_json: 2 }));
    f.job.metrics.update(countMetrics(0, 200, 6));
    f.job.metrics.update(countMetrics(1, 98, 4));
    f.job.committedRecords = 350;
    history.add(12_000, jobTotals(f.job));

    const h = await get("/status/history");
    expect(h.sampleIntervalMs).toBe(1000);
    expect(h.points).toHaveLength(1);
    const p = h.points[0];
    expect(p.t).toBe(12_000);
    expect(p.recordsIn).toBe(150); // (400 - 100) / 2 s
    expect(p.counted).toBe(149); // (96 + 298 - 96) / 2
    expect(p.committed).toBe(150);
    expect(p.deadLettered).toBe(1);
    expect(p.subtasks).toEqual([100, 49]);
    expect(p.splits).toEqual({ "pv.0": 112.5, "pv.2": 37.5, "pv.1": 0, "pv.3": 0 }); // 150/s shared 300 : 100

    const s = await get("/status");
    expect(s.rates).toEqual(p);
    expect(s.records.committed).toBe(350);
    expect(s.countSubtasks).toEqual([{ subtask: 0, counted: 256, keys: 6 }, { subtask: 1, counted: 138, keys: 4 }]);
    expect(s.countSubtasks.reduce((a: number, x: any) => a + x.counted, 0)).toBe(s.records.counted);
    expect(s.countSubtasks.reduce((a: number, x: any) => a + x.keys, 0)).toBe(s.keys);
    expect((await app.request("/status/history", { method: "POST" })).status).toBe(405);
  });

  test("status app - without a rate history /status has rates null and no /status/history", async () => {
    const f = await fixture();
    expect((await f.get("/status")).body.rates).toBeNull();
    expect((await f.get("/status/history")).status).toBe(404);
  });
});

describe("status app - cluster mode", () => {
  test("status app - cluster mode: /status has the cluster section and only the owned splits; /metrics the cluster families", async () => {
    const f = await fixture();
    const cluster = {
      name: "c1", instance: "a", leaseTtlMs: 6000, owned: [{ split: "pv.1", epoch: 7 }, { split: "pv.3", epoch: 9 }],
      members: [{ id: "a", heartbeatAgeMs: 100, splits: ["pv.1", "pv.3"], self: true }, { id: "b", heartbeatAgeMs: 900, splits: ["pv.0"], self: false }],
      leases: [{ split: "pv.0", owner: "b", epoch: 5, ageMs: 900 }, { split: "pv.1", owner: "a", epoch: 7, ageMs: 100 }, { split: "pv.3", owner: "a", epoch: 9, ageMs: 100 }],
      unowned: ["pv.2"], rebalances: 3, lastRebalanceAt: 1, viewAgeMs: 50,
    };
    f.job.cluster = { status: () => cluster } as unknown as Job["cluster"];
    f.job.splits = ["pv.1", "pv.3"];
    const { body } = await f.get("/status");
    expect(body.cluster).toEqual(cluster);
    expect(body.splits.map((s: { split: string }) => s.split)).toEqual(["pv.1", "pv.3"]);
    const families = parsePrometheusText(await (await f.app.request("/metrics")).text());
    const value = (name: string) => families.get(name)?.samples[0]?.value;
    expect([value("pvflow_cluster_members"), value("pvflow_cluster_owned_splits"), value("pvflow_cluster_unowned_splits"),
      value("pvflow_cluster_rebalances_total")]).toEqual([2, 2, 1, 3]);
    expect(families.get("pvflow_split_lag")?.samples.map((s) => s.labels.split)).toEqual(["pv.1", "pv.3"]);
  });

  test("status app - without cluster mode there is no cluster section nor cluster family", async () => {
    const f = await fixture();
    expect((await f.get("/status")).body.cluster).toBeUndefined();
    expect(parsePrometheusText(await (await f.app.request("/metrics")).text()).has("pvflow_cluster_members")).toBe(false);
  });
});
