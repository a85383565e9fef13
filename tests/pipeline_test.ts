/**
 * End-to-end: the compiled binary against a real nats-server and a real libSQL file.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { committedCounts } from "./support/committed.ts";
import { openStream, publishRange, SPLITS, total } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { withTempDirAndBinary } from "./support/suite.ts";
import { pipelineEnv, PvflowProcess, waitFor } from "./support/pvflow_process.ts";
import { allCounts } from "./support/counts.ts";

let dir: string;
let binary: string;
withTempDirAndBinary("pvflow-pipeline-", (d, b) => {
  dir = d;
  binary = b;
});

function env(nats: NatsServer, db: string, extra: Record<string, string> = {}): Record<string, string> {
  return pipelineEnv(nats.url, db, extra);
}

test("pipeline - 2 sources x 2 counters commit exact counts over 4 splits", async () => {
  await using nats = await NatsServer.start();
  const { nc, js } = await openStream(nats.url);
  const expected = new Map<string, number>();
  const N = 40_000;
  await publishRange(js, 0, N, expected);
  const db = join(dir, "exact.db");
  await using pv = await PvflowProcess.start({ binary, env: env(nats, db) });
  await pv.waitReady();
  await waitFor(async () => total(await allCounts(pv)) >= N, 30_000, () => pv.log);
  // Events published while running are counted too.
  await publishRange(js, N, N + 5_000, expected);
  await waitFor(async () => total(await allCounts(pv)) >= N + 5_000, 30_000, () => pv.log);
  const status = (await pv.json("/status")).body;
  expect(status.config.sourceParallelism).toBe(2);
  expect(status.config.parallelism).toBe(2);
  expect(status.splits.map((s: { split: string }) => s.split)).toEqual(SPLITS);
  expect(await pv.kill("SIGTERM")).toBe(0);
  expect(await committedCounts(db)).toEqual(expected);
  await nc.close();
});

test("pipeline - malformed events are dead-lettered with reason, split and sequence, and counted", async () => {
  await using nats = await NatsServer.start();
  const { nc, js } = await openStream(nats.url);
  const dlq: { reason: string; split: string; seq: string; data: string }[] = [];
  const sub = nc.subscribe("pvflow.dlq", {
    callback: (_e, m) => {
      dlq.push({
        reason: m.headers!.get("Pvflow-Reason"), split: m.headers!.get("Pvflow-Split"),
        seq: m.headers!.get("Pvflow-Stream-Seq"), data: m.string(),
      });
    },
  });
  const expected = new Map<string, number>();
  await publishRange(js, 0, 1_000, expected);
  const bad = [
    { subject: "pv.1", data: "not json", reason: "not_json" },
    { subject: "pv.2", data: "[1,2]", reason: "not_object" },
    { subject: "pv.3", data: '{"user":"u1"}', reason: "key_missing" },
    { subject: "pv.0", data: '{"site":42}', reason: "key_not_string" },
  ];
  const seqs: number[] = [];
  for (const b of bad) seqs.push((await js.publish(b.subject, b.data)).seq);
  await publishRange(js, 1_000, 2_000, expected);
  const db = join(dir, "dlq.db");
  await using pv = await PvflowProcess.start({ binary, env: env(nats, db) });
  await pv.waitReady();
  await waitFor(async () => total(await allCounts(pv)) >= 2_000 && dlq.length >= bad.length,
    30_000, () => pv.log);
  await waitFor(async () => (await pv.json("/status")).body.records.deadLettered === bad.length, 5_000, () => pv.log);
  const status = (await pv.json("/status")).body;
  expect(status.records.deadLetteredByReason).toEqual({ not_json: 1, not_object: 1, key_missing: 1, key_not_string: 1 });
  expect(dlq.sort((a, b) => Number(a.seq) - Number(b.seq))).toEqual(
    bad.map((b, i) => ({ reason: b.reason, split: b.subject, seq: String(seqs[i]), data: b.data })),
  );
  await pv.kill("SIGTERM");
  expect(await committedCounts(db)).toEqual(expected);
  sub.unsubscribe();
  await nc.close();
});

test("pipeline - a crashing count worker restarts the job from the latest checkpoint with exact counts", async () => {
  await using nats = await NatsServer.start();
  const { nc, js } = await openStream(nats.url);
  const expected = new Map<string, number>();
  await publishRange(js, 0, 20_000, expected);
  const db = join(dir, "crash.db");
  await using pv = await PvflowProcess.start({
    binary,
    env: env(nats, db, { PVFLOW_FAULT_COUNT_THROW_AT: "7000", PVFLOW_RESTART_BACKOFF_MS: "100" }),
  });
  await waitFor(async () => total(await allCounts(pv)) >= 20_000, 30_000, () => pv.log);
  const status = (await pv.json("/status")).body;
  expect(status.restarts).toBe(1);
  expect(status.state).toBe("RUNNING");
  expect(pv.log).toContain("injected fault");
  await pv.kill("SIGTERM");
  expect(await committedCounts(db)).toEqual(expected);
  await nc.close();
});
