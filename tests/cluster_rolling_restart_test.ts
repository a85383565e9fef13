/**
 * Cluster mode, a rolling restart (issue 14): under a live publisher, each of three instances in
 * turn is stopped (SIGTERM, exit code 0), the other two take its splits, and it is started again
 * (same `PVFLOW_INSTANCE_ID`) and gets its share back — under new leases. Every split keeps being
 * committed through it, and the counts are exact on every instance after each step.
 */
import { expect, test } from "bun:test";
import { PvflowCluster } from "./support/pvflow_cluster.ts";
import { withTempDirAndBinary } from "./support/suite.ts";

let binary = "";
withTempDirAndBinary("pvflow-rolling-", (_d, b) => { binary = b; });

test("cluster rolling restart - each instance stopped and started again in turn under the publisher: counts exact", async () => {
  await using c = await PvflowCluster.start({ binary }); // the default lease TTL
  const ids = ["a", "b", "c"];
  for (const id of ids) await c.startInstance(id);
  c.startPublishing();
  let owners = await c.waitBalanced(ids, 30_000);
  await c.waitCommitted(1500, 30_000);
  const steps: string[] = [];
  for (const id of ids) {
    const others = ids.filter((o) => o !== id);
    const epochs = new Map((await c.cluster(id)).owned.map((o) => [o.split, o.epoch]));
    const at = Date.now();
    const before = await c.positions();
    expect({ id, exit: await c.instance(id).kill("SIGTERM") }).toEqual({ id, exit: 0 });
    await c.waitBalanced(others, 30_000);
    await c.waitCommittedAgain(owners.get(id)!, before, 30_000); // its splits, by the other two
    const handedOver = Date.now() - at;
    const back = await c.positions();
    await c.startInstance(id);
    owners = await c.waitBalanced(ids, 30_000);
    await c.waitCommittedAgain(owners.get(id)!, back, 30_000); // its new share, by itself
    steps.push(`${id}: handed over in ${handedOver} ms, back with ${owners.get(id)!.join(", ")} after ${Date.now() - at} ms`);
    for (const o of (await c.cluster(id)).owned) expect(o.epoch).toBeGreaterThan(Math.max(0, ...epochs.values()));
    // Exact after each step (the publisher paused for the check, then on again).
    await c.stopPublishing();
    await c.verifyExact();
    if (id !== ids.at(-1)) c.startPublishing();
  }
  console.log(`cluster rolling restart: ${steps.join("; ")}`);
  for (const id of ids) expect((await c.cluster(id)).members.map((m) => m.id)).toEqual(ids);
}, 180_000);
