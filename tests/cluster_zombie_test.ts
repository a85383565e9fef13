/**
 * Cluster mode, a zombie (issue 14): one of three instances is paused (SIGSTOP) past its lease; the
 * others take its splits over and commit them under newer leases; then it resumes (SIGCONT).
 *
 * Resumed, it races its own membership round (which learns of the loss within a few NATS round
 * trips) against its next checkpoint (which commits with the old epochs): either way the counts
 * must stay exact, and it rejoins. To make the late commit certain, the second pause also drops
 * every packet between it and NATS until after it resumed — it cannot learn of the loss, but still
 * reaches sqld: the split fence must refuse those commits (its log names the fence), the counts
 * stay exact, and once its link is back it rejoins and owns splits again, under new leases.
 */
import { expect, test } from "bun:test";
import { PvflowCluster } from "./support/pvflow_cluster.ts";
import { waitFor } from "./support/pvflow_process.ts";
import { withTempDirAndBinary } from "./support/suite.ts";

let binary = "";
withTempDirAndBinary("pvflow-zombie-", (_d, b) => { binary = b; });

/** SPLIT_FENCED_MESSAGE (src/checkpoint/schema.ts), raised by the positions_fence trigger. */
const FENCED = "fenced: a newer lease owns the split";

test("cluster zombie - an instance paused past its lease, then resumed: late commits refused by the fence, counts exact, it rejoins", async () => {
  await using c = await PvflowCluster.start({ binary, env: { PVFLOW_LEASE_TTL_MS: "3000" } });
  await c.startInstance("a");
  await c.startInstance("b");
  await c.startInstance("c", {}, { proxied: true });
  c.startPublishing();
  let owners = await c.waitBalanced(["a", "b", "c"], 30_000);
  await c.waitCommitted(1500, 30_000);
  const zombie = c.instance("c");

  /** Pauses c until the others committed its splits under newer epochs, then resumes it. */
  const pausePastLease = async (cutOff: boolean) => {
    const its = owners.get("c")!;
    const epochs = new Map((await c.cluster("c")).owned.map((o) => [o.split, o.epoch]));
    c.paused.add("c");
    if (cutOff) c.cutOffNats("c", true);
    zombie.proc.kill("SIGSTOP");
    const pausedAt = Date.now();
    const taken = await c.waitCommittedAgain(its, await c.positions(), 30_000);
    for (const s of its) expect(taken.get(s)!.epoch!).toBeGreaterThan(epochs.get(s)!);
    await c.waitBalanced(["a", "b"], 10_000);
    const logAt = zombie.log.length;
    zombie.proc.kill("SIGCONT");
    return { logAt, pausedMs: Date.now() - pausedAt, epochs };
  };
  /** Waits for c to own its share again under new leases, claimed in sqld. */
  const rejoins = async (old: Map<string, number>) => {
    owners = await c.waitBalanced(["a", "b", "c"], 30_000);
    expect(owners.get("c")!.length).toBe(2);
    const rows = await c.positions();
    for (const o of (await c.cluster("c")).owned) {
      expect(o.epoch).toBeGreaterThan(Math.max(...old.values()));
      expect(rows.get(o.split)!.epoch).toBe(o.epoch);
    }
  };

  // 1. Paused and resumed: whichever wins the race, exact.
  const first = await pausePastLease(false);
  c.paused.delete("c");
  await rejoins(first.epochs);
  const raced = zombie.log.slice(first.logAt).includes(FENCED) ? "a late commit, refused by the fence" : "its round, before any late commit";
  console.log(`cluster zombie: paused ${first.pausedMs} ms (lease TTL 3000 ms), resumed: ${raced} came first`);
  await c.stopPublishing();
  await c.verifyExact();

  // 2. Paused, and resumed still cut off from NATS: it commits with its old epochs, and is refused.
  c.startPublishing();
  const second = await pausePastLease(true);
  await waitFor(() => zombie.log.slice(second.logAt).includes(FENCED), 20_000, () => `no refused commit in c's log:\n${zombie.log.slice(second.logAt)}`);
  const refused = zombie.log.slice(second.logAt).split("\n").find((l) => l.includes(FENCED))!;
  console.log(`cluster zombie: paused ${second.pausedMs} ms, resumed cut off from NATS; its refused commit: ${refused}`);
  expect(refused).toMatch(/pv\.\d \(epoch \d+ > \d+\)/);
  c.cutOffNats("c", false);
  c.paused.delete("c");
  await rejoins(second.epochs);
  await c.stopPublishing();
  await c.verifyExact();
}, 180_000);
