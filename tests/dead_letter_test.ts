/**
 * Malformed events: every reason is dead-lettered with its headers and original payload, the
 * good events are counted exactly, and a crash + replay dead-letters nothing twice (nor counts it twice).
 */
import { expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AckPolicy, jetstreamManager, jetstream } from "@nats-io/jetstream";
import { ensureBinary } from "./support/binary.ts";
import { committedCounts } from "./support/committed.ts";
import { openStream, publishRange, SPLITS, total } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { PvflowProcess, waitFor } from "./support/pvflow_process.ts";
import { allCounts } from "./support/counts.ts";

const BAD: { data: Uint8Array | string; reason: string }[] = [
  { data: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), reason: "not_utf8" },
  { data: "{site: s1}", reason: "not_json" },
  { data: '"just a string"', reason: "not_object" },
  { data: "null", reason: "not_object" },
  { data: '{"user":"u1"}', reason: "key_missing" },
  { data: '{"site":["a"]}', reason: "key_not_string" },
  { data: '{"site":""}', reason: "key_empty" },
  { data: JSON.stringify({ site: "k".repeat(1025) }), reason: "key_too_long" },
  { data: JSON.stringify({ site: "a\u0000b" }), reason: "key_contains_nul" },
  { data: JSON.stringify({ site: "x\ud800" }), reason: "key_lone_surrogate" },
  { data: JSON.stringify({ site: "big", pad: "x".repeat(3000) }), reason: "too_large" },
];

test("dead letters - each malformed event is dead-lettered exactly once, across a crash and replay", async () => {
  const binary = await ensureBinary();
  const dir = await mkdtemp(join(tmpdir(), "pvflow-dlq-"));
  await using nats = await NatsServer.start();
  const { nc, js } = await openStream(nats.url);
  const expected = new Map<string, number>();
  const badSeqs: number[] = [];
  await publishRange(js, 0, 3_000, expected);
  for (const [i, b] of BAD.entries()) {
    badSeqs.push((await js.publish(SPLITS[i % SPLITS.length], b.data)).seq);
    await publishRange(js, 3_000 + i * 100, 3_000 + (i + 1) * 100, expected);
  }
  const db = join(dir, "pv.db");
  const env = {
    NATS_URL: nats.url, PVFLOW_SUBJECTS: SPLITS.join(","), PVFLOW_PARALLELISM: "2",
    PVFLOW_DB_URL: `file:${db}`, PVFLOW_MAX_EVENT_BYTES: "2048",
  };
  const jsm = await jetstreamManager(nc);
  const dlqCount = async () => (await jsm.streams.info("PV_DLQ").catch(() => undefined))?.state.messages ?? 0;
  try {
    // First run: no checkpoint completes (long interval), so everything is replayed after the kill.
    {
      await using pv = await PvflowProcess.start({ binary, env: { ...env, PVFLOW_CHECKPOINT_INTERVAL_MS: "600000" } });
      await waitFor(async () => (await dlqCount()) >= BAD.length, 30_000, () => pv.log);
      await waitFor(async () => (await pv.json("/status")).body.records.deadLettered >= BAD.length, 5_000, () => pv.log);
      const status = (await pv.json("/status")).body;
      expect(status.checkpoints.latestCommittedId).toBe(0);
      const byReason: Record<string, number> = {};
      for (const b of BAD) byReason[b.reason] = (byReason[b.reason] ?? 0) + 1;
      expect(status.records.deadLetteredByReason).toEqual(byReason);
      const metrics = await (await fetch(pv.url + "/metrics")).text();
      expect(metrics).toContain('pvflow_dead_lettered_total{reason="not_utf8"} 1');
      await pv.kill("SIGKILL");
    }
    await using pv = await PvflowProcess.start({ binary, env: { ...env, PVFLOW_CHECKPOINT_INTERVAL_MS: "200" } });
    await waitFor(async () => total(await allCounts(pv)) >= total(expected), 30_000, () => pv.log);
    await Bun.sleep(600); // past a metrics report
    // The replay found every dead letter already stored (read back on restore): none published again.
    expect((await pv.json("/status")).body.records.deadLettered).toBe(0);
    expect(await pv.kill("SIGTERM")).toBe(0);

    expect(await dlqCount()).toBe(BAD.length); // not stored again by the replay
    await jsm.consumers.add("PV_DLQ", { name: "check", ack_policy: AckPolicy.None });
    const consumer = await jetstream(nc).consumers.get("PV_DLQ", "check");
    const letters = [];
    for await (const m of await consumer.fetch({ max_messages: BAD.length, expires: 2000 })) {
      letters.push({
        reason: m.headers!.get("Pvflow-Reason"),
        split: m.headers!.get("Pvflow-Split"),
        seq: Number(m.headers!.get("Pvflow-Stream-Seq")),
        msgId: m.headers!.get("Nats-Msg-Id"),
        data: [...m.data],
      });
    }
    letters.sort((a, b) => a.seq - b.seq); // two sources dead-letter concurrently
    expect(letters).toEqual(BAD.map((b, i) => ({
      reason: b.reason,
      split: SPLITS[i % SPLITS.length],
      seq: badSeqs[i],
      msgId: `PV:${badSeqs[i]}`,
      data: [...(typeof b.data === "string" ? new TextEncoder().encode(b.data) : b.data)],
    })));
    expect(await committedCounts(db)).toEqual(expected);
  } finally {
    await nc.close();
    await rm(dir, { recursive: true, force: true });
  }
}, 120_000);
