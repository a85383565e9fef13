/**
 * Cluster mode end to end (issue 14): several pvflow instances (`PVFLOW_CLUSTER`) share an R3
 * stream on a 3-node JetStream cluster through NATS KV leases and commit into one sqld. Under a
 * live publisher, the committed counts — read on EVERY instance's `/counts` — must be exact after
 * each fault.
 */
import { expect, test } from "bun:test";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { event, total } from "./support/events.ts";
import { NatsCluster } from "./support/nats_cluster.ts";
import { PvflowProcess, waitFor } from "./support/pvflow_process.ts";
import { Sqld } from "./support/sqld.ts";
import { withTempDirAndBinary } from "./support/suite.ts";

let binary = "";
withTempDirAndBinary("pvflow-instances-", (_d, b) => { binary = b; });

const SPLITS = ["pv.0", "pv.1", "pv.2", "pv.3"];

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

function instanceEnv(natsUrls: string, dbUrl: string, id: string): Record<string, string> {
  return {
    NATS_URL: natsUrls, PVFLOW_SUBJECTS: SPLITS.join(","), PVFLOW_PARALLELISM: "1", PVFLOW_SOURCE_PARALLELISM: "1",
    PVFLOW_CHECKPOINT_INTERVAL_MS: "200", PVFLOW_DB_URL: dbUrl, PVFLOW_CLUSTER: "t", PVFLOW_INSTANCE_ID: id,
    PVFLOW_LEASE_TTL_MS: "3000", PVFLOW_RESTART_BACKOFF_MS: "100",
  };
}

async function countsOf(p: PvflowProcess): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let after: string | undefined;
  for (;;) {
    const q = after === undefined ? "" : `&after=${encodeURIComponent(after)}`;
    const { body } = await p.json(`/counts?limit=10000${q}`);
    for (const [k, v] of Object.entries(body.counts as Record<string, number>)) out.set(k, v);
    if (!body.next) return out;
    after = body.next;
  }
}

test("cluster instances - two instances split the stream; kill -9 of one: the other takes its splits, counts exact on both", async () => {
  await using cluster = await NatsCluster.start();
  await using sqld = await Sqld.start();
  const nc = await connect({ servers: cluster.urls.split(",") });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "PV", subjects: ["pv.>"], num_replicas: 3 });
  const js = jetstream(nc);
  const expected = new Map<string, number>();
  await using a = await PvflowProcess.start({ binary, env: instanceEnv(cluster.urls, sqld.url, "a") });
  await using b = await PvflowProcess.start({ binary, env: instanceEnv(cluster.urls, sqld.url, "b") });
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
    await a.waitReady(30_000);
    await b.waitReady(30_000);
    const owned = async (p: PvflowProcess) => ((await p.json("/status")).body.cluster?.owned ?? []).map((o: { split: string }) => o.split);
    await waitFor(async () => (await owned(a)).length === 2 && (await owned(b)).length === 2, 20_000, () => a.log + b.log);
    await waitFor(async () => total(await countsOf(a)) >= 3000, 30_000, () => a.log + b.log);
    await b.kill("SIGKILL");
    await waitFor(async () => (await owned(a)).length === 4, 20_000, () => a.log);
    await Bun.sleep(1000);
    stop = true;
    await publishing;
    await waitFor(async () => total(await countsOf(a)) >= published, 60_000, () => a.log);
    await Bun.sleep(1000); // a count past `published` would be a double count: give it time to show
    expect(total(expected)).toBe(published);
    expect(await countsOf(a)).toEqual(expected);
    expect((await a.json("/status")).body.cluster.members.map((m: { id: string }) => m.id)).toEqual(["a"]);
  } finally {
    stop = true;
    await publishing.catch(() => {});
    await nc.close();
  }
}, 180_000);
