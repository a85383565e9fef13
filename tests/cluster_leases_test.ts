/**
 * @module
 * Leases on a 3-node JetStream cluster (R3 bucket): the node a member is connected to is killed;
 * after the client reconnects to a survivor (and the bucket elects a new leader if it had to), the
 * member still renews its lease with the same epoch, and nobody else could take it meanwhile.
 */
import { expect, test } from "bun:test";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { NatsCluster } from "./support/nats_cluster.ts";
import { LeaseStore, type Lease } from "../src/cluster/leases.ts";

// Long enough to ride out a stream leader election after a node kill.
const TTL = 20_000;

test("cluster leases - a member's lease still renews after the node it was connected to is killed", async () => {
  await using cluster = await NatsCluster.start();
  const servers = cluster.urls.split(",");
  const ncA = await connect({ servers, name: "member-a", maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  const ncB = await connect({ servers, name: "member-b", maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  try {
    const open = async (nc: typeof ncA) => LeaseStore.open({ js: jetstream(nc, { timeout: 2000 }), jsm: await jetstreamManager(nc, { timeout: 2000 }), bucket: "pvflow_test", ttlMs: TTL, replicas: 3 });
    const a = await open(ncA);
    const b = await open(ncB);
    const info = await (await jetstreamManager(ncA)).streams.info("KV_pvflow_test");
    expect(info.config.num_replicas).toBe(3);

    let lease = (await a.acquire("pv.0", "a")) as { ok: true; lease: Lease };
    expect(lease.ok).toBe(true);
    const epoch = lease.lease.epoch;
    const victim = cluster.nodes.findIndex((n) => n.name === ncA.info?.server_name);
    expect(victim).toBeGreaterThanOrEqual(0);
    await cluster.kill(victim);

    // Renew as the membership loop would: every few seconds, errors (timeouts while the cluster
    // recovers) retried; a definite "lost" (undefined) is never acceptable.
    let renewed: Lease | undefined;
    const errors: string[] = [];
    const end = Date.now() + TTL;
    let lost = false;
    while (renewed === undefined && !lost && Date.now() < end) {
      try {
        renewed = await a.renew(lease.lease);
        lost = renewed === undefined;
      } catch (err) {
        errors.push((err as Error).message);
        await Bun.sleep(500);
      }
    }
    expect(lost).toBe(false);
    expect(renewed, `no renewal within the TTL; errors: ${errors.join("; ")}`).toBeDefined();
    expect(renewed!.epoch).toBe(epoch);
    expect(renewed!.revision).toBeGreaterThan(lease.lease.revision);
    expect(ncA.info?.server_name).not.toBe(cluster.nodes[victim].name);
    expect(await b.acquire("pv.0", "b")).toEqual({ ok: false, owner: "a" });

    // The killed node comes back; the lease renews again and stays a's.
    cluster.startNode(victim);
    await cluster.waitForMetaLeader();
    lease = { ok: true, lease: renewed! };
    const again = await a.renew(lease.lease);
    expect(again?.epoch).toBe(epoch);
    expect((await b.get("pv.0"))?.owner).toBe("a");
  } finally {
    await ncA.close();
    await ncB.close();
  }
});
