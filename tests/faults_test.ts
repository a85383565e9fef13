/**
 * Failures that must end in a clear state: restart limit reached, NATS unreachable at startup,
 * the stream recreated under pvflow.
 */
import { expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { ensureBinary } from "./support/binary.ts";
import { committedCounts } from "./support/committed.ts";
import { openStream, publishRange, SPLITS, total } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { PvflowProcess, waitFor } from "./support/pvflow_process.ts";
import { allCounts } from "./support/counts.ts";

async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await mkdtemp(join(tmpdir(), "pvflow-faults-"));
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) };
}

test("faults - a worker failing on every attempt makes the job FAILED after the restart limit, saying why", async () => {
  const binary = await ensureBinary();
  await using dir = await tempDir();
  await using nats = await NatsServer.start();
  const { nc, js } = await openStream(nats.url);
  await publishRange(js, 0, 5_000, new Map());
  await using pv = await PvflowProcess.start({
    binary,
    env: {
      NATS_URL: nats.url, PVFLOW_SUBJECTS: SPLITS.join(","), PVFLOW_PARALLELISM: "2",
      PVFLOW_DB_URL: `file:${join(dir.path, "pv.db")}`, PVFLOW_CHECKPOINT_INTERVAL_MS: "60000",
      PVFLOW_FAULT_COUNT_THROW_AT: "100", PVFLOW_FAULT_ATTEMPTS: "100",
      PVFLOW_RESTART_ATTEMPTS: "2", PVFLOW_RESTART_BACKOFF_MS: "50",
    },
  });
  await waitFor(async () => (await pv.json("/status")).body.state === "FAILED", 30_000, () => pv.log);
  const status = (await pv.json("/status")).body;
  expect(status.restarts).toBe(2);
  expect(status.stateReason).toContain("injected fault");
  expect(status.stateReason).toContain("gave up after 2 restarts");
  const ready = await pv.json("/readyz");
  expect(ready.status).toBe(503);
  expect(ready.body.state).toBe("FAILED");
  const health = await pv.json("/healthz"); // a FAILED job is not healthy
  expect(health.status).toBe(503);
  expect(health.body).toMatchObject({ status: "failed", state: "FAILED", reason: status.stateReason });
  expect(await pv.kill("SIGTERM")).toBe(1);
  await nc.close();
}, 60_000);

test("faults - NATS unreachable at startup is retried with a clear message, then processing starts", async () => {
  const binary = await ensureBinary();
  await using dir = await tempDir();
  await using nats = await NatsServer.start();
  const url = nats.url;
  await nats.stop();
  const db = join(dir.path, "pv.db");
  await using pv = await PvflowProcess.start({
    binary,
    env: { NATS_URL: url, PVFLOW_SUBJECTS: SPLITS.join(","), PVFLOW_DB_URL: `file:${db}`, PVFLOW_CHECKPOINT_INTERVAL_MS: "200" },
  });
  await waitFor(() => pv.log.includes("waiting for NATS"), 10_000, () => pv.log);
  const status = (await pv.json("/status")).body;
  expect(status.state).toBe("RESTORING");
  expect(status.stateReason).toContain(`cannot connect to NATS at ${url}`);
  expect((await pv.json("/readyz")).status).toBe(503);
  expect(pv.proc.exitCode).toBeNull();
  await nats.restart();
  await pv.waitReady(20_000);
  const { nc, js } = await openStream(url);
  const expected = new Map<string, number>();
  await publishRange(js, 0, 2_000, expected);
  await waitFor(async () => total(await allCounts(pv)) >= 2_000, 20_000, () => pv.log);
  expect(await pv.kill("SIGTERM")).toBe(0);
  expect(await committedCounts(db)).toEqual(expected);
  await nc.close();
}, 60_000);

test("faults - a stream recreated under pvflow (positions beyond its end) is a FAILED state, never silent counting", async () => {
  const binary = await ensureBinary();
  await using dir = await tempDir();
  await using nats = await NatsServer.start();
  const { nc, js } = await openStream(nats.url);
  await publishRange(js, 0, 3_000, new Map());
  const db = join(dir.path, "pv.db");
  const env = { NATS_URL: nats.url, PVFLOW_SUBJECTS: SPLITS.join(","), PVFLOW_DB_URL: `file:${db}`, PVFLOW_CHECKPOINT_INTERVAL_MS: "200" };
  {
    await using pv = await PvflowProcess.start({ binary, env });
    await waitFor(async () => total(await allCounts(pv)) >= 3_000, 20_000, () => pv.log);
    expect(await pv.kill("SIGTERM")).toBe(0);
  }
  const before = await committedCounts(db);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete("PV");
  const { nc: nc2, js: js2 } = await openStream(nats.url);
  await publishRange(js2, 0, 100, new Map());
  await using pv = await PvflowProcess.start({ binary, env });
  await waitFor(async () => (await pv.json("/status")).body.state === "FAILED", 20_000, () => pv.log);
  const status = (await pv.json("/status")).body;
  expect(status.stateReason).toMatch(/resumes after sequence \d+ but stream PV ends at 100/);
  expect(await committedCounts(db)).toEqual(before); // nothing counted from the wrong place
  await pv.kill("SIGTERM");
  await nc.close();
  await nc2.close();
}, 60_000);

test("faults - a stream recreated and refilled past the old positions is still detected (creation time)", async () => {
  const binary = await ensureBinary();
  await using dir = await tempDir();
  await using nats = await NatsServer.start();
  const { nc, js } = await openStream(nats.url);
  await publishRange(js, 0, 1_000, new Map());
  const db = join(dir.path, "pv.db");
  const env = { NATS_URL: nats.url, PVFLOW_SUBJECTS: SPLITS.join(","), PVFLOW_DB_URL: `file:${db}`, PVFLOW_CHECKPOINT_INTERVAL_MS: "200" };
  {
    await using pv = await PvflowProcess.start({ binary, env });
    await waitFor(async () => total(await allCounts(pv)) >= 1_000, 20_000, () => pv.log);
    expect(await pv.kill("SIGTERM")).toBe(0);
  }
  const before = await committedCounts(db);
  await (await jetstreamManager(nc)).streams.delete("PV");
  const { nc: nc2, js: js2 } = await openStream(nats.url);
  await publishRange(js2, 0, 2_000, new Map());
  await using pv = await PvflowProcess.start({ binary, env });
  await waitFor(async () => (await pv.json("/status")).body.state === "FAILED", 20_000, () => pv.log);
  expect((await pv.json("/status")).body.stateReason).toContain("deleted and recreated");
  expect(await committedCounts(db)).toEqual(before);
  await pv.kill("SIGTERM");
  await nc.close();
  await nc2.close();
}, 60_000);
