/**
 * Cluster mode end to end (issue 14): three pvflow instances (`PVFLOW_CLUSTER`) share an R3
 * stream on a 3-node JetStream cluster through NATS KV leases and commit into one sqld. One is
 * killed (SIGKILL) under a live publisher with the default lease TTL: the survivors must commit its
 * splits again within 10 s, keep their own, and the counts — read on EVERY survivor's `/counts` —
 * must be exact.
 */
import { expect, test } from "bun:test";
import { PvflowCluster } from "./support/pvflow_cluster.ts";
import { withTempDirAndBinary } from "./support/suite.ts";

let binary = "";
withTempDirAndBinary("pvflow-instances-", (_d, b) => { binary = b; });

test("cluster instances - kill -9 of one of three: the survivors commit its splits again within 10 s (default lease TTL), counts exact on both", async () => {
  await using c = await PvflowCluster.start({ binary }); // PVFLOW_LEASE_TTL_MS left at its default
  for (const id of ["a", "b", "c"]) await c.startInstance(id);
  c.startPublishing();
  const owners = await c.waitBalanced(["a", "b", "c"], 30_000);
  await c.waitCommitted(2000, 30_000);
  const its = owners.get("c")!;
  const killedAt = Date.now();
  await c.instance("c").kill("SIGKILL");
  const before = await c.positions(); // after its exit: nothing of c's can land later with a new epoch
  await c.waitCommittedAgain(its, before, 30_000);
  const takeoverMs = Date.now() - killedAt;
  const after = await c.waitBalanced(["a", "b"], 10_000);
  console.log(`cluster instances: c killed; its splits ${its.join(", ")} committed again by the survivors after ${takeoverMs} ms`);
  expect(takeoverMs).toBeLessThan(10_000);
  for (const id of ["a", "b"]) for (const s of owners.get(id)!) expect({ id, owns: after.get(id)!.includes(s) }).toEqual({ id, owns: true });
  await c.stopPublishing();
  await c.verifyExact();
  for (const id of ["a", "b"]) expect((await c.cluster(id)).members.map((m) => m.id)).toEqual(["a", "b"]);
}, 180_000);
