/**
 * @module
 * Tests for {@link WindowOutbox} against a real nats-server and a real libSQL file: committed
 * results are published as JSON with their deterministic `Nats-Msg-Id` and leave the outbox once
 * stored; rows left behind by a crash between publish and delete are published again and stored
 * once (JetStream's duplicate window); without an output subject the rows are just dropped.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../tests/support/nats_server.ts";
import { waitFor } from "../tests/support/pvflow_process.ts";
import type { CheckpointData } from "./checkpoint/coordinator.ts";
import { CheckpointStore } from "./checkpoint/store.ts";
import { adoptWindowSize } from "./checkpoint/store_meta.ts";
import { WindowOutbox, windowMsgId } from "./window_outbox.ts";

let dir: string;
let store: CheckpointStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pvflow-outbox-"));
  store = await CheckpointStore.open({ url: `file:${join(dir, "o.db")}`, stream: "PV" });
  await adoptWindowSize(store.client, 1000, true); // results are queued in the outbox
});
afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

const results = Array.from({ length: 1500 }, (_, i) => ({ key: `k${i % 7}`, windowStart: 1000 * Math.floor(i / 7), windowEnd: 1000 * Math.floor(i / 7) + 1000, count: i + 1, revision: 1 }));
const checkpoint = (id: number): CheckpointData => ({
  record: { id, status: "IN_PROGRESS", triggerTime: id, subtasks: [] }, positions: {}, keys: [], counts: [],
  windows: { deltas: [], results, maxEventTimes: {}, watermarks: {} },
});

test("window outbox - published once each with its message id, re-published after a crash without duplicates", async () => {
  await using nats = await NatsServer.start();
  const nc = await connect({ servers: nats.url });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "OUT", subjects: ["out.windows"] });
    await store.commit(checkpoint(1));
    const outbox = new WindowOutbox({ store, stream: "PV", subject: "out.windows", log: () => {} });
    outbox.kick(nc);
    await outbox.idle();
    expect(await store.readOutbox(1)).toEqual([]);
    expect((await jsm.streams.info("OUT")).state.messages).toBe(results.length);
    expect(outbox.published).toBe(results.length);
    // a crash after publishing, before the delete: the rows are back (inserted again as the trigger would)
    await store.client.execute(`INSERT INTO window_outbox SELECT * FROM window_counts`);
    const again = new WindowOutbox({ store, stream: "PV", subject: "out.windows", log: () => {} });
    again.kick(nc);
    await waitFor(async () => (await store.readOutbox(1)).length === 0, 10_000, () => "outbox not drained again");
    expect((await jsm.streams.info("OUT")).state.messages).toBe(results.length);
    await jsm.consumers.add("OUT", { name: "check", ack_policy: AckPolicy.None });
    const c = await jetstream(nc).consumers.get("OUT", "check");
    const seen = new Map<string, unknown>();
    while (seen.size < results.length) {
      for await (const m of await c.fetch({ max_messages: 500, expires: 2000 })) seen.set(m.headers!.get("Nats-Msg-Id"), m.json());
    }
    for (const r of results) expect(seen.get(windowMsgId("PV", r))).toEqual(r);
  } finally {
    await nc.close();
  }
});

test("window outbox - rows left while no output subject is set any more are dropped, nothing is published", async () => {
  await store.commit(checkpoint(1));
  const outbox = new WindowOutbox({ store, stream: "PV", log: () => {} });
  outbox.kick(undefined);
  await waitFor(async () => (await store.readOutbox(1)).length === 0, 10_000, () => "outbox not emptied");
  expect(outbox.published).toBe(0);
});
