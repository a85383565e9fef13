/**
 * Dead letters replayed after the DLQ stream's duplicate window has passed are still stored once:
 * the restore reads back the dead letters of the uncommitted tail and the sources skip them.
 */
import { expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nanos } from "@nats-io/nats-core";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { ensureBinary } from "./support/binary.ts";
import { committedCounts } from "./support/committed.ts";
import { openStream, publishRange, SPLITS, total } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { PvflowProcess, pipelineEnv, waitFor } from "./support/pvflow_process.ts";

/** The DLQ stream's duplicate window: waited out before the replay, so `Nats-Msg-Id` cannot help. */
const WINDOW_MS = 1000;

test("dead letters - replayed past the DLQ duplicate window, each malformed event is stored exactly once", async () => {
  const binary = await ensureBinary();
  const dir = await mkdtemp(join(tmpdir(), "pvflow-dlq-replay-"));
  await using nats = await NatsServer.start();
  const { nc, js } = await openStream(nats.url);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "PV_DLQ", subjects: ["pvflow.dlq"], duplicate_window: nanos(WINDOW_MS) });
  const dlqCount = async () => (await jsm.streams.info("PV_DLQ")).state.messages;
  const expected = new Map<string, number>();
  const badSeqs: number[] = [];
  // Good events with a malformed one after every 200, spread over the splits.
  const publishBatch = async (from: number, n: number) => {
    for (let i = from; i < from + n; i++) {
      await publishRange(js, i * 200, (i + 1) * 200, expected);
      badSeqs.push((await js.publish(SPLITS[i % SPLITS.length], `{"bad":${i}`)).seq);
    }
  };
  const db = join(dir, "pv.db");
  const env = pipelineEnv(nats.url, db, { PVFLOW_CHECKPOINT_INTERVAL_MS: "600000" });
  try {
    {
      await using pv = await PvflowProcess.start({ binary, env });
      // Batch A is committed by a manual checkpoint; batch B is the uncommitted tail.
      await publishBatch(0, 10);
      await waitFor(async () => (await dlqCount()) === 10, 30_000, () => pv.log);
      await waitFor(async () => (await pv.json("/checkpoints", { method: "POST" })).status === 202, 10_000, () => pv.log);
      await waitFor(async () => (await pv.json("/status")).body.checkpoints.latestCommittedId >= 1, 30_000, () => pv.log);
      await publishBatch(10, 10);
      await waitFor(async () => (await dlqCount()) === 20, 30_000, () => pv.log);
      expect((await pv.json("/status")).body.checkpoints.latestCommittedId).toBe(1);
      await pv.kill("SIGKILL");
    }
    await Bun.sleep(WINDOW_MS * 2);
    let replayDeadLettered = -1;
    {
      await using pv = await PvflowProcess.start({ binary, env: { ...env, PVFLOW_CHECKPOINT_INTERVAL_MS: "200" } });
      await waitFor(async () => total((await pv.json("/counts")).body.counts) >= total(expected), 30_000, () => pv.log);
      await Bun.sleep(500); // a duplicate would be stored by now: the replay read past every bad event
      replayDeadLettered = (await pv.json("/status")).body.records.deadLettered;
      expect(await pv.kill("SIGTERM")).toBe(0);
    }
    await jsm.consumers.add("PV_DLQ", { name: "check", ack_policy: AckPolicy.None });
    const consumer = await jetstream(nc).consumers.get("PV_DLQ", "check");
    const stored = await dlqCount();
    const seqs: number[] = [];
    for await (const m of await consumer.fetch({ max_messages: stored, expires: 2000 })) {
      seqs.push(Number(m.headers!.get("Pvflow-Stream-Seq")));
    }
    expect(seqs.length).toBe(stored);
    expect(seqs.sort((a, b) => a - b)).toEqual(badSeqs);
    expect(await committedCounts(db)).toEqual(expected);
    // Skipped, not counted again: the second process dead-lettered none of them.
    expect(replayDeadLettered).toBe(0);
  } finally {
    await nc.close();
    await rm(dir, { recursive: true, force: true });
  }
}, 120_000);
