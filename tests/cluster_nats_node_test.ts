/**
 * Cluster mode, a NATS node dies (issue 14): three instances on a 3-node JetStream cluster (R3
 * stream, R3 lease bucket); the node most of their connections go through is SIGKILLed under a live
 * publisher — made the leader of the stream, the lease bucket and the dead letters first, so all
 * three elect anew —
 * then started again. The instances must reconnect to the survivors, keep (or re-take)
 * every split — the bucket may elect a new leader meanwhile — commit every split again, and the
 * counts must be exact on every instance after the node is back.
 */
import { expect, test } from "bun:test";
import { PvflowCluster } from "./support/pvflow_cluster.ts";
import { waitFor } from "./support/pvflow_process.ts";
import { withTempDirAndBinary } from "./support/suite.ts";

let binary = "";
withTempDirAndBinary("pvflow-nats-node-", (_d, b) => { binary = b; });

test("cluster NATS node - the node the instances are connected to is killed and restarted: every split committed again, counts exact", async () => {
  await using c = await PvflowCluster.start({ binary }); // the default lease TTL
  for (const id of ["a", "b", "c"]) await c.startInstance(id);
  c.startPublishing();
  await c.waitBalanced(["a", "b", "c"], 30_000);
  await c.waitCommitted(2000, 30_000);
  // The node with most of the instances' connections (their job connections carry the leases).
  const pvflowConns = async (i: number) => (await c.nats.connectionNames(i)).filter((n) => n.startsWith("pvflow-"));
  const conns = [await pvflowConns(0), await pvflowConns(1), await pvflowConns(2)];
  const victim = conns.reduce((best, n, i) => (n.length > conns[best]!.length ? i : best), 0);
  expect(conns[victim]!.length).toBeGreaterThan(0);
  const rebalances = async () => {
    let n = 0;
    for (const id of ["a", "b", "c"]) n += (await c.cluster(id)).rebalances;
    return n;
  };
  // The dead-letter stream pvflow created is replicated like the stream: each attempt reads it.
  expect((await c.jsm.streams.info("PV_DLQ")).config.num_replicas).toBe(3);
  // The worst case, every time: it also leads the stream, the lease bucket and the dead letters.
  for (const stream of ["PV", "KV_pvflow_t", "PV_DLQ"]) await c.moveLeader(stream, victim);
  await c.waitBalanced(["a", "b", "c"], 30_000);
  const leaders = await Promise.all(["PV", "KV_pvflow_t", "PV_DLQ"].map(async (s) => `${s}: ${(await c.jsm.streams.info(s)).cluster?.leader}`));
  const rebalancesBefore = await rebalances();
  const killedAt = Date.now();
  await c.nats.kill(victim);
  // Events stored after the kill must be counted: every split committed up to them, whoever owns it.
  const mark = await c.storedAfter(2);
  const storedMs = Date.now() - killedAt;
  await waitFor(async () => c.committedUpTo(await c.positions(), mark), 30_000, () => `not every split committed again\n${c.logs()}`);
  const resumedMs = Date.now() - killedAt;
  c.nats.startNode(victim);
  await c.nats.waitForMetaLeader();
  const markRestart = await c.storedAfter(2);
  await waitFor(async () => c.committedUpTo(await c.positions(), markRestart), 30_000, () => `not every split committed after the restart\n${c.logs()}`);
  await c.waitBalanced(["a", "b", "c"], 30_000);
  console.log(`cluster NATS node: n${victim} killed (it had ${conns[victim]!.join(", ")}; leaders ${leaders.join(", ")}); ` +
    `the publisher stored 2 batches more ${storedMs} ms after it, every split committed past them ${resumedMs} ms after it; ` +
    `${(await rebalances()) - rebalancesBefore} changes of owned splits meanwhile`);
  await c.stopPublishing();
  await c.verifyExact();
}, 180_000);
