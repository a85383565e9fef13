/** @module Unit tests of the dead-letter scan against a real nats-server. */
import { expect, test } from "bun:test";
import { headers } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../tests/support/nats_server.ts";
import { scanDeadLetters } from "./dead_letter_scan.ts";

test("dead letter scan - finds this stream's letters past each split's position, in time, and leaves no consumer", async () => {
  await using nats = await NatsServer.start();
  const nc = await connect({ servers: nats.url });
  try {
    const base = { stream: "PV", dlqSubject: "pvflow.dlq", positions: { "pv.0": 10, "pv.1": 0 }, splits: ["pv.0", "pv.1"] };
    expect(await scanDeadLetters(nc, { ...base, sinceMs: undefined })).toEqual({}); // no DLQ stream
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "PV_DLQ", subjects: ["pvflow.dlq", "other.dlq"] });
    expect(await scanDeadLetters(nc, { ...base, sinceMs: undefined })).toEqual({}); // empty DLQ stream
    const js = jetstream(nc);
    const letter = async (stream: string, split: string | undefined, seq: number, subject = "pvflow.dlq") => {
      const h = headers();
      h.set("Pvflow-Stream", stream);
      if (split) h.set("Pvflow-Split", split);
      h.set("Pvflow-Stream-Seq", String(seq));
      await js.publish(subject, "x", { headers: h });
    };
    await letter("PV", "pv.0", 9); // committed already
    await letter("PV", "pv.0", 10); // committed already
    await letter("PV", "pv.0", 11);
    await letter("OTHER", "pv.0", 12); // another job's stream
    await letter("PV", undefined, 13); // no split
    await letter("PV", "pv.9", 14); // not a split of this job
    await letter("PV", "pv.0", 15, "other.dlq"); // not on the DLQ subject
    await letter("PV", "pv.1", 1);
    for (let i = 0; i < 1200; i++) await letter("PV", "pv.0", 100 + i); // more than one fetch batch
    const found = await scanDeadLetters(nc, { ...base, sinceMs: Date.now() });
    expect(found["pv.1"]).toEqual([1]);
    expect(found["pv.0"]).toEqual([11, ...Array.from({ length: 1200 }, (_, i) => 100 + i)]);
    expect(Object.keys(found).sort()).toEqual(["pv.0", "pv.1"]);
    expect(await scanDeadLetters(nc, { ...base, sinceMs: undefined })).toEqual(found);
    // Letters older than the checkpoint's trigger time (less the margin) are not read.
    expect(await scanDeadLetters(nc, { ...base, sinceMs: Date.now() + 120_000 })).toEqual({});
    expect((await jsm.streams.info("PV_DLQ")).state.consumer_count).toBe(0);
  } finally {
    await nc.close();
  }
}, 60_000);
