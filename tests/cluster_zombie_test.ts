/**
 * Cluster mode, a zombie (issue 14): one of three instances is paused (SIGSTOP) past its lease; the
 * others take its splits over and commit them under newer leases. After SIGCONT it still believes
 * it owns them and commits: the split fence in sqld must refuse those late commits (its log names
 * the fence), the counts stay exact on every instance, and the zombie rejoins and owns splits
 * again, under new leases.
 */
import { expect, test } from "bun:test";
import { PvflowCluster } from "./support/pvflow_cluster.ts";
import { waitFor } from "./support/pvflow_process.ts";
import { withTempDirAndBinary } from "./support/suite.ts";

let binary = "";
withTempDirAndBinary("pvflow-zombie-", (_d, b) => { binary = b; });

/** SPLIT_FENCED_MESSAGE (src/checkpoint/schema.ts), raised by the positions_fence trigger. */
const FENCED = "fenced: a newer lease owns the split";

test("cluster zombie - an instance paused past its lease, then resumed: its late commits are refused, counts exact, it rejoins", async () => {
  await using c = await PvflowCluster.start({ binary, env: { PVFLOW_LEASE_TTL_MS: "3000" } });
  for (const id of ["a", "b", "c"]) await c.startInstance(id);
  c.startPublishing();
  const owners = await c.waitBalanced(["a", "b", "c"], 30_000);
  await c.waitCommitted(1500, 30_000);
  const zombie = c.instance("c");
  const its = owners.get("c")!;
  const oldEpochs = new Map((await c.cluster("c")).owned.map((o) => [o.split, o.epoch]));
  c.paused.add("c");
  zombie.proc.kill("SIGSTOP");
  const pausedAt = Date.now();
  // Past its lease: the others claim its splits and commit them under newer epochs meanwhile.
  const before = await c.positions();
  const taken = await c.waitCommittedAgain(its, before, 30_000);
  for (const s of its) expect(taken.get(s)!.epoch!).toBeGreaterThan(oldEpochs.get(s)!);
  await c.waitBalanced(["a", "b"], 10_000);
  const logAt = zombie.log.length;
  zombie.proc.kill("SIGCONT");
  c.paused.delete("c");
  console.log(`cluster zombie: c paused for ${Date.now() - pausedAt} ms (lease TTL 3000 ms)`);
  // Its first commits after the pause still carry the old epochs: refused whole by the fence.
  await waitFor(() => zombie.log.slice(logAt).includes(FENCED), 20_000, () => `no refused commit in c's log:\n${zombie.log.slice(logAt)}`);
  const refused = zombie.log.slice(logAt).split("\n").filter((l) => l.includes(FENCED));
  console.log(`cluster zombie: c's refused commit: ${refused[0]}`);
  expect(refused[0]).toMatch(/pv\.\d \(epoch \d+ > \d+\)/);
  // It rejoins: splits again, under new leases, claimed in sqld.
  const rejoined = await c.waitBalanced(["a", "b", "c"], 30_000);
  expect(rejoined.get("c")!.length).toBe(2);
  const now = (await c.cluster("c")).owned;
  const rows = await c.positions();
  for (const o of now) {
    expect(o.epoch).toBeGreaterThan(Math.max(...oldEpochs.values()));
    expect(rows.get(o.split)!.epoch).toBe(o.epoch);
  }
  await c.stopPublishing();
  await c.verifyExact();
}, 180_000);
