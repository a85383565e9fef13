/**
 * A NATS cluster node dies: pvflow runs against a 3-node JetStream cluster (R3 stream); the node
 * its sources are connected to — and that hosts their consumers — is SIGKILLed mid-stream. The
 * sources must notice within seconds (missed heartbeats, reconnect), recreate their consumers on
 * a surviving node at position + 1 without a job restart, and the committed counts must be exact.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { committedCounts } from "./support/committed.ts";
import { event, total } from "./support/events.ts";
import { NatsCluster } from "./support/nats_cluster.ts";
import { pipelineEnv, PvflowProcess, waitFor } from "./support/pvflow_process.ts";
import { withTempDirAndBinary } from "./support/suite.ts";

let dir = "";
let binary = "";
withTempDirAndBinary("pvflow-cluster-", (d, b) => { dir = d; binary = b; });

/** Publishes event i until the cluster stores it; `Nats-Msg-Id` makes a retried one count once. */
async function publishOnce(js: JetStreamClient, i: number): Promise<string> {
  const e = event(i, 200);
  for (let attempt = 0; ; attempt++) {
    try {
      await js.publish(e.subject, e.data, { msgID: `e${i}`, timeout: 2000 });
      return e.key;
    } catch (err) {
      if (attempt > 100) throw err;
      await Bun.sleep(100);
    }
  }
}

test("cluster - the node pvflow reads through is killed: reading resumes within seconds, counts exact", async () => {
  await using cluster = await NatsCluster.start();
  const nc = await connect({ servers: cluster.urls.split(",") });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "PV", subjects: ["pv.>"], num_replicas: 3 });
  const js = jetstream(nc);
  const expected = new Map<string, number>();
  const db = join(dir, "cluster.db");
  await using pv = await PvflowProcess.start({
    binary,
    env: pipelineEnv(cluster.urls, db, { PVFLOW_RESTART_BACKOFF_MS: "100" }),
  });
  let published = 0;
  let stop = false;
  const publishing = (async () => {
    while (!stop) {
      const batch = Array.from({ length: 100 }, (_, k) => publishOnce(js, published + k));
      for (const key of await Promise.all(batch)) expected.set(key, (expected.get(key) ?? 0) + 1);
      published += 100;
      await Bun.sleep(20);
    }
  })();
  try {
    await pv.waitReady(30_000);
    await waitFor(async () => total(await committedCounts(db)) >= 2000, 30_000, () => pv.log);
    // The node holding the sources' connections (their consumers are created through it).
    let victim = -1;
    await waitFor(async () => {
      for (let i = 0; i < 3; i++) if ((await cluster.connectionNames(i)).some((n) => n.startsWith("pvflow-source-"))) victim = i;
      return victim >= 0;
    }, 10_000, () => "no node has pvflow's source connections");
    const delivered = async () =>
      ((await pv.json("/status")).body.splits as { deliveredSequence: number }[]).reduce((n, s) => n + s.deliveredSequence, 0);
    const before = await delivered();
    const killedAt = Date.now();
    await cluster.kill(victim);
    // Reading resumes on a surviving node: every split reads again after the kill.
    const atKill = new Map(((await pv.json("/status")).body.splits as { split: string; deliveredSequence: number }[])
      .map((s) => [s.split, s.deliveredSequence]));
    await waitFor(async () => {
      const splits = (await pv.json("/status")).body.splits as { split: string; deliveredSequence: number }[];
      return splits.every((s) => s.deliveredSequence > (atKill.get(s.split) ?? 0));
    }, 20_000, () => pv.log);
    const resumedMs = Date.now() - killedAt;
    console.log(`cluster: node n${victim} killed; every split read again after ${resumedMs} ms`);
    expect(await delivered()).toBeGreaterThan(before);
    await Bun.sleep(1000);
    cluster.startNode(victim);
    await Bun.sleep(2000);
    stop = true;
    await publishing;
    await waitFor(async () => total(await committedCounts(db)) >= published, 60_000, () => pv.log);
    const status = (await pv.json("/status")).body;
    expect(status.restarts).toBe(0); // consumers recreated in place, no job restart
    expect(resumedMs).toBeLessThan(15_000);
    expect(await pv.kill("SIGTERM")).toBe(0);
    expect(total(expected)).toBe(published);
    expect(await committedCounts(db)).toEqual(expected);
  } finally {
    stop = true;
    await publishing.catch(() => {});
    await nc.close();
  }
}, 180_000);
