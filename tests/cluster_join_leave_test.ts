/**
 * Cluster mode, members joining and leaving (issue 14): two instances own three splits each under
 * a live publisher; a third joins and exactly its share (two splits) moves to it, one from each,
 * nothing else; then one leaves gracefully (SIGTERM, exit code 0): it releases its leases — the
 * release markers are in the bucket — so the others take its splits over before those leases could
 * have expired. Counts are exact on every instance after each step.
 */
import { expect, test } from "bun:test";
import { LeaseLog } from "./support/lease_log.ts";
import { PvflowCluster } from "./support/pvflow_cluster.ts";
import { waitFor } from "./support/pvflow_process.ts";
import { withTempDirAndBinary } from "./support/suite.ts";

let binary = "";
withTempDirAndBinary("pvflow-join-leave-", (_d, b) => { binary = b; });

const TTL = 6000; // the default, stated: the leave check compares with it

test("cluster join and leave - a joining instance takes only its share; a leaving one releases its leases, taken over at once; counts exact", async () => {
  await using c = await PvflowCluster.start({ binary, env: { PVFLOW_LEASE_TTL_MS: String(TTL) } });
  await c.startInstance("a");
  await c.startInstance("b");
  c.startPublishing();
  const two = await c.waitBalanced(["a", "b"], 30_000);
  await using leases = await LeaseLog.start(c.nc, "pvflow_t"); // the bucket exists now
  await c.waitCommitted(1500, 30_000);
  const rebalances = async (id: string) => (await c.cluster(id)).rebalances;
  const before = { a: await rebalances("a"), b: await rebalances("b") };

  // c joins.
  const joinedAt = Date.now();
  const positions = await c.positions();
  await c.startInstance("c");
  const three = await c.waitBalanced(["a", "b", "c"], 30_000);
  await c.waitCommittedAgain(three.get("c")!, positions, 30_000);
  console.log(`cluster join: c started; its splits ${three.get("c")!.join(", ")} committed by it after ${Date.now() - joinedAt} ms`);
  // Only what must move: c's two, one from each of a and b; each kept the rest and changed once.
  for (const id of ["a", "b"]) {
    const lost = two.get(id)!.filter((s) => !three.get(id)!.includes(s));
    expect({ id, lost: lost.length, kept: three.get(id)!.every((s) => two.get(id)!.includes(s)) }).toEqual({ id, lost: 1, kept: true });
    expect({ id, rebalances: (await rebalances(id)) - before[id as "a" | "b"] }).toEqual({ id, rebalances: 1 });
  }
  // Every instance's cluster section (its view of the bucket, as of its latest round) shows it too.
  const shown = JSON.stringify(["a", "b", "c"].map((id) => [id, three.get(id)]));
  let seen = "";
  const view = async (id: string) => {
    const s = await c.cluster(id);
    seen = JSON.stringify({ members: JSON.stringify(s.members.map((m) => [m.id, m.splits])), unowned: s.unowned });
    return seen;
  };
  for (const id of ["a", "b", "c"]) {
    await waitFor(async () => (await view(id)) === JSON.stringify({ members: shown, unowned: [] }), 10_000, () => `${id}: ${seen}`);
  }
  await c.stopPublishing();
  await c.verifyExact();

  // b leaves gracefully.
  c.startPublishing();
  const its = three.get("b")!;
  const leaving = await c.positions();
  const stoppedAt = Date.now();
  expect(await c.instance("b").kill("SIGTERM")).toBe(0);
  const stopMs = Date.now() - stoppedAt;
  const after = await c.waitBalanced(["a", "c"], 30_000);
  await c.waitCommittedAgain(its, leaving, 30_000);
  console.log(`cluster leave: b exited 0 after ${stopMs} ms; its splits ${its.join(", ")} committed again after ${Date.now() - stoppedAt} ms`);
  for (const id of ["a", "c"]) expect(three.get(id)!.every((s) => after.get(id)!.includes(s))).toBe(true);
  for (const s of its) {
    const w = leases.of(s);
    const release = w.findIndex((x) => x.op === "release");
    const taken = w.findIndex((x) => x.op === "put" && x.owner !== "b");
    expect({ s, released: release >= 0, beforeTaken: release < taken }).toEqual({ s, released: true, beforeTaken: true });
    // Taken before b's last write of the lease (it renews every TTL/3) plus the TTL: not by expiry.
    const lastByB = w.slice(0, release).findLast((x) => x.owner === "b");
    expect({ s, takenBeforeExpiry: lastByB !== undefined && w[taken]!.at < lastByB.at + TTL }).toEqual({ s, takenBeforeExpiry: true });
  }
  await c.stopPublishing();
  await c.verifyExact();
  for (const id of ["a", "c"]) expect((await c.cluster(id)).members.map((m) => m.id)).toEqual(["a", "c"]);
}, 180_000);
