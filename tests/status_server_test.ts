/**
 * End-to-end: the status server of the compiled binary against a real nats-server and a real
 * libSQL file — every endpoint with real data, the admin-protected checkpoint trigger, the
 * Prometheus text, the graceful stop (exit 0, and a restart re-reads nothing) and the second signal.
 */
import { expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { join } from "node:path";
import { committedCounts } from "./support/committed.ts";
import { openStream, publishRange, SPLITS, total } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { withTempDirAndBinary } from "./support/suite.ts";
import { parsePrometheusText } from "./support/prometheus.ts";
import { pipelineEnv, PvflowProcess, waitFor } from "./support/pvflow_process.ts";
import { allCounts } from "./support/counts.ts";

const ADMIN = "e2e-admin-token";

let dir: string;
let binary: string;
withTempDirAndBinary("pvflow-status-", (d, b) => {
  dir = d;
  binary = b;
});

function env(nats: NatsServer, db: string, extra: Record<string, string> = {}): Record<string, string> {
  return pipelineEnv(nats.url, db, extra);
}

/** Each split's last stream sequence, read straight from JetStream. */
async function lastSequences(nc: NatsConnection): Promise<Record<string, number>> {
  const jsm = await jetstreamManager(nc);
  const out: Record<string, number> = {};
  for (const s of SPLITS) out[s] = (await jsm.streams.getMessage("PV", { last_by_subj: s }))?.seq ?? 0;
  return out;
}

interface SplitStatus {
  split: string;
  committedPosition: number;
  deliveredSequence: number;
  emittedPosition: number;
  streamLastSequence: number | null;
  lag: number | null;
}

const positionsOf = (splits: SplitStatus[]) => Object.fromEntries(splits.map((s) => [s.split, s.committedPosition]));

/** Waits until every split's committed position is `last` (all published events are in a completed checkpoint). */
async function waitCommitted(pv: PvflowProcess, last: Record<string, number>): Promise<void> {
  await waitFor(async () => {
    const s = (await pv.json("/status")).body;
    return JSON.stringify(positionsOf(s.splits)) === JSON.stringify(last);
  }, 30_000, () => `positions never reached ${JSON.stringify(last)}:\n${pv.log}`);
}

/** Sends `signal` and resolves with the exit code and how long the exit took. */
async function stop(pv: PvflowProcess, signal: "SIGTERM" | "SIGINT"): Promise<{ code: number; ms: number }> {
  const t0 = performance.now();
  const code = await pv.kill(signal);
  return { code, ms: performance.now() - t0 };
}

test("status server - every endpoint answers with real data after processing events", async () => {
  await using nats = await NatsServer.start();
  const { nc, js } = await openStream(nats.url);
  const expected = new Map<string, number>();
  const N = 8_000;
  await publishRange(js, 0, N, expected);
  const last = await lastSequences(nc);
  expect(Object.values(last).sort((a, b) => a - b)).toEqual([N - 3, N - 2, N - 1, N]);
  const db = join(dir, "endpoints.db");
  await using pv = await PvflowProcess.start({ binary, env: env(nats, db, { PVFLOW_ADMIN_TOKEN: ADMIN }) });
  expect(pv.url).toStartWith("http://127.0.0.1:"); // the default bind address
  await pv.waitReady();
  expect((await pv.json("/healthz")).body).toEqual({ status: "ok" });
  expect(await pv.json("/readyz")).toEqual({
    status: 200, body: { ready: true, state: "RUNNING", natsConnected: true, stalled: [], reason: null },
  });
  await waitCommitted(pv, last);

  // /status: positions equal the stream's last sequences per split, nothing lags.
  // Subtask counters arrive every 500 ms, after the checkpoints that committed the same events.
  await waitFor(async () => {
    const s = (await pv.json("/status")).body;
    return s.splits.every((x: SplitStatus) => x.lag === 0) && s.records.counted === N;
  }, 10_000, () => pv.log);
  const status = (await pv.json("/status")).body;
  expect(status.state).toBe("RUNNING");
  expect(status.version).toBeString();
  expect(status.uptimeSeconds).toBeGreaterThanOrEqual(0);
  expect(status.config).toMatchObject({ subjects: SPLITS, parallelism: 2, sourceParallelism: 2, adminToken: "set" });
  expect(JSON.stringify(status)).not.toContain(ADMIN);
  expect(status.splits).toEqual(SPLITS.map((split) => ({
    split, committedPosition: last[split], deliveredSequence: last[split], emittedPosition: last[split],
    streamLastSequence: last[split], lag: 0, consumerRestarts: 0, waiting: null, stalledForMs: null,
  })));
  expect(status.stream).toEqual({ name: "PV", lastSequence: N, messages: N });
  expect(status.records).toEqual({ in: N, out: N, counted: N, committed: N, deadLettered: 0, deadLetteredByReason: {} });
  expect(status.restarts).toBe(0);
  const cps = status.checkpoints;
  expect(cps.completed).toBeGreaterThanOrEqual(1);
  expect(cps.failed).toBe(0);
  // (Plain checks: Bun 1.4's toMatchObject with expect.any() overwrites the received values.)
  for (const k of ["id", "durationMs", "alignmentMs", "rows", "bytes"]) expect(cps.latestCompleted[k]).toBeNumber();
  expect(cps.latestCompleted.id).toBeLessThanOrEqual(cps.latestCommittedId);
  expect(cps.latestCompleted.durationMs).toBeGreaterThanOrEqual(cps.latestCompleted.alignmentMs);
  expect(Date.parse(cps.latestCompleted.triggerTime)).toBeGreaterThan(Date.now() - 60_000);
  expect(cps.latestCompleted.bytes).toBeGreaterThan(0);

  // /counts: the committed view, exact.
  const counts = (await pv.json("/counts?limit=10000")).body;
  expect(new Map(Object.entries(counts.counts))).toEqual(expected);
  expect(counts.next).toBeNull();
  expect(counts.checkpointId).toBeGreaterThanOrEqual(1);
  const [topKey, topCount] = [...expected].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0];
  expect((await pv.json("/counts?top=1")).body.counts).toEqual({ [topKey]: topCount });
  expect((await pv.json(`/counts/${encodeURIComponent(topKey)}`)).body).toMatchObject({ key: topKey, count: topCount });
  expect(await pv.json("/counts/no-such-site")).toMatchObject({ status: 404, body: { key: "no-such-site" } });
  expect((await pv.json("/counts?top=0")).status).toBe(400);

  // /checkpoints: newest first, with timings.
  const list = (await pv.json("/checkpoints")).body.checkpoints as { id: number; status: string; durationMs?: number }[];
  expect(list.length).toBeGreaterThanOrEqual(1);
  expect(list.length).toBeLessThanOrEqual(100);
  for (let i = 1; i < list.length; i++) expect(list[i].id).toBeLessThan(list[i - 1].id);
  for (const c of list) expect(["COMPLETED", "FAILED", "IN_PROGRESS"]).toContain(c.status);
  expect(list.find((c) => c.id === cps.latestCompleted.id)?.status).toBe("COMPLETED");

  // POST /checkpoints: admin token required; the id answered then completes, with its subtasks.
  expect((await pv.json("/checkpoints", { method: "POST" })).status).toBe(401);
  expect((await pv.json("/checkpoints", { method: "POST", headers: { authorization: "Bearer nope" } })).status).toBe(401);
  const posted = await pv.json("/checkpoints", { method: "POST", headers: { authorization: `Bearer ${ADMIN}` } });
  expect(posted.status).toBe(202);
  const id = posted.body.id as number;
  expect(id).toBeGreaterThan(0);
  await waitFor(async () => (await pv.json(`/checkpoints/${id}`)).body.status === "COMPLETED", 10_000, () => pv.log);
  const detail = (await pv.json(`/checkpoints/${id}`)).body;
  expect(detail).toMatchObject({ id, status: "COMPLETED" });
  expect(detail.subtasks.map((s: { role: string; subtask: number }) => `${s.role}:${s.subtask}`).sort())
    .toEqual(["count:0", "count:1", "source:0", "source:1"]);
  expect(await pv.json("/checkpoints/999999")).toMatchObject({ status: 404 });

  // /metrics: strict Prometheus text that agrees with /status.
  const res = await fetch(pv.url + "/metrics");
  expect(res.headers.get("content-type")).toStartWith("text/plain; version=0.0.4");
  const families = parsePrometheusText(await res.text());
  for (const name of families.keys()) expect(name).toMatch(/^(pvflow|process)_/);
  const sample = (family: string, labels: Record<string, string> = {}, name = family) =>
    families.get(family)?.samples.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
  expect(sample("pvflow_records_in_total")).toBe(N);
  expect(sample("pvflow_records_counted_total")).toBe(N);
  expect(sample("pvflow_restarts_total")).toBe(0);
  expect(sample("pvflow_up")).toBe(1);
  expect(sample("pvflow_checkpoints_completed_total")).toBeGreaterThanOrEqual(2);
  expect(sample("pvflow_checkpoint_duration_seconds", {}, "pvflow_checkpoint_duration_seconds_count"))
    .toBe(sample("pvflow_checkpoints_completed_total"));
  expect(families.get("pvflow_checkpoint_alignment_seconds")?.type).toBe("histogram");
  expect(families.get("pvflow_dead_lettered_total")?.type).toBe("counter");
  for (const split of SPLITS) {
    expect(sample("pvflow_split_lag", { split })).toBe(0);
    expect(sample("pvflow_split_committed_position", { split })).toBe(last[split]);
    // Idle and committed: every split's last event is in a completed checkpoint.
    expect(sample("pvflow_split_committed_lag", { split })).toBe(0);
  }
  expect(sample("pvflow_build_info", { version: status.version, runtime: "bun", runtime_version: Bun.version })).toBe(1);
  expect(sample("process_resident_memory_bytes")).toBeGreaterThan(10_000_000);
  expect(sample("process_cpu_seconds_total")).toBeGreaterThan(0);
  // The latest completed checkpoint's time: recent, and it moves with the next checkpoints.
  const completedAt = async () => parsePrometheusText(await (await fetch(pv.url + "/metrics")).text())
    .get("pvflow_last_checkpoint_completed_timestamp_seconds")!.samples[0].value;
  const firstCompleted = await completedAt();
  expect(firstCompleted * 1000).toBeGreaterThan(Date.now() - 60_000);
  expect(firstCompleted * 1000).toBeLessThanOrEqual(Date.now());
  await waitFor(async () => (await completedAt()) > firstCompleted, 10_000, () => `no later checkpoint completed:\n${pv.log}`);

  // Errors are JSON.
  expect(await pv.json("/nope")).toEqual({ status: 404, body: { error: "no route GET /nope" } });
  expect((await pv.json("/status", { method: "DELETE" })).status).toBe(405);

  const { code, ms } = await stop(pv, "SIGINT");
  expect(code).toBe(0);
  expect(ms).toBeLessThan(10_000);
  expect(await committedCounts(db)).toEqual(expected);
  await nc.close();
}, 90_000);

test("status server - after a graceful stop a restart re-reads nothing, then counts new events exactly", async () => {
  await using nats = await NatsServer.start();
  const { nc, js } = await openStream(nats.url);
  const expected = new Map<string, number>();
  const N = 10_000;
  await publishRange(js, 0, N, expected);
  const db = join(dir, "restart.db");

  let before: SplitStatus[];
  {
    // No periodic checkpoint in this run: only the final checkpoint of the graceful stop commits.
    await using pv = await PvflowProcess.start({ binary, env: env(nats, db, { PVFLOW_CHECKPOINT_INTERVAL_MS: "600000" }) });
    await pv.waitReady();
    await waitFor(async () => (await pv.json("/status")).body.records.counted === N, 20_000, () => pv.log);
    await publishRange(js, N, N + 2_000, expected);
    const last = await lastSequences(nc);
    const delivered = (splits: SplitStatus[]) => Object.fromEntries(splits.map((x) => [x.split, x.deliveredSequence]));
    // Counters come from each subtask every 500 ms: wait for the sources' and the count subtasks'.
    await waitFor(async () => {
      const s = (await pv.json("/status")).body;
      return s.records.counted === N + 2_000 && JSON.stringify(delivered(s.splits)) === JSON.stringify(last);
    }, 20_000, () => pv.log);
    const s = (await pv.json("/status")).body;
    expect(s.records.in).toBe(N + 2_000);
    expect(s.checkpoints.completed).toBe(0);
    expect(s.splits.map((x: SplitStatus) => x.committedPosition)).toEqual([0, 0, 0, 0]);
    before = s.splits;
    const { code, ms } = await stop(pv, "SIGTERM");
    expect(code).toBe(0);
    expect(ms).toBeLessThan(10_000);
    expect(pv.log).toContain("SIGTERM: stopping");
  }
  const afterStop = await lastSequences(nc);
  expect(await committedCounts(db)).toEqual(expected);

  {
    await using pv = await PvflowProcess.start({ binary, env: env(nats, db) });
    await pv.waitReady();
    // Several checkpoint intervals with no new events: nothing is read again.
    await waitFor(async () => (await pv.json("/status")).body.checkpoints.completed >= 3, 10_000, () => pv.log);
    const s = (await pv.json("/status")).body;
    expect(s.records.in).toBe(0);
    expect(s.records.counted).toBe(0);
    for (const split of s.splits as SplitStatus[]) {
      const prev = before.find((b) => b.split === split.split)!;
      expect(split.committedPosition).toBe(afterStop[split.split]);
      expect(split.committedPosition).toBe(prev.deliveredSequence);
      expect(split.deliveredSequence).toBe(split.committedPosition);
      expect(split.streamLastSequence).toBe(afterStop[split.split]);
    }
    expect(await allCounts(pv)).toEqual(expected);

    // New events: each is read exactly once.
    const M = 3_000;
    await publishRange(js, N + 2_000, N + 2_000 + M, expected);
    await waitCommitted(pv, await lastSequences(nc));
    // Source metrics arrive every 500 ms; wait for them, then make sure the count does not grow.
    await waitFor(async () => (await pv.json("/status")).body.records.counted === M, 10_000, () => pv.log);
    await Bun.sleep(1_200);
    const s2 = (await pv.json("/status")).body;
    expect(s2.records.in).toBe(M);
    expect(s2.records.counted).toBe(M);
    expect(await allCounts(pv)).toEqual(expected);
    expect(total(expected)).toBe(N + 2_000 + M);
    expect((await stop(pv, "SIGTERM")).code).toBe(0);
  }
  expect(await committedCounts(db)).toEqual(expected);
  await nc.close();
}, 90_000);

test("status server - readyz turns 503 STOPPING during a stop, and a second signal exits at once", async () => {
  await using nats = await NatsServer.start();
  const { nc, js } = await openStream(nats.url);
  await publishRange(js, 0, 2_000, new Map());
  await nc.close();
  const db = join(dir, "second-signal.db");
  await using pv = await PvflowProcess.start({ binary, env: env(nats, db) });
  await pv.waitReady();
  await waitFor(async () => (await pv.json("/status")).body.records.counted === 2_000, 20_000, () => pv.log);
  // Without NATS the sources cannot delete their consumers, so the stop lasts seconds: a wide window.
  await nats.stop();
  pv.proc.kill("SIGTERM");
  await waitFor(() => pv.log.includes("SIGTERM: stopping"), 5_000, () => pv.log);
  const ready = await pv.json("/readyz");
  expect(ready.status).toBe(503);
  expect(ready.body.state).toBe("STOPPING");
  expect(pv.proc.exitCode).toBeNull();
  const t0 = performance.now();
  pv.proc.kill("SIGTERM");
  const code = await pv.proc.exited;
  expect(code).toBe(130);
  expect(performance.now() - t0).toBeLessThan(1_000);
  expect(pv.log).toContain("SIGTERM again: exiting now");
}, 60_000);

test("status server - a graceful stop is bounded even when NATS is gone", async () => {
  await using nats = await NatsServer.start();
  const { nc, js } = await openStream(nats.url);
  const expected = new Map<string, number>();
  await publishRange(js, 0, 2_000, expected);
  await nc.close();
  const db = join(dir, "bounded.db");
  await using pv = await PvflowProcess.start({ binary, env: env(nats, db, { PVFLOW_SHUTDOWN_TIMEOUT_MS: "3000" }) });
  await pv.waitReady();
  await waitFor(async () => (await pv.json("/status")).body.records.counted === 2_000, 20_000, () => pv.log);
  await nats.stop();
  const { code, ms } = await stop(pv, "SIGTERM");
  expect(code).toBe(0);
  expect(ms).toBeLessThan(3_000 + 5_000);
  expect(await committedCounts(db)).toEqual(expected);
}, 60_000);
