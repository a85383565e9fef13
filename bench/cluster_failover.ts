/**
 * @module
 * Failover and rebalance times of pvflow instances under a live publisher, default settings
 * (lease TTL 6 s, checkpoints every 1 s), read from the shared database's `positions` table:
 *
 * - failover: two instances own three splits each; `kill -9` of one; the time until each of its
 *   splits is committed again by the survivor (a newer lease epoch and a position past the one
 *   at the kill), and until the survivor's `/status` shows it owning all six.
 * - rebalance: two instances as above; a third starts; the time until each split the sticky
 *   assignment moves to it (one from each) is committed again by it, and until it is ready.
 *
 * Both also give every split's longest commit gap around the event, and end with `drain()` (the
 * committed counts equal the published events: the run was exact).
 */
import { assignSplits, movedSplits } from "../src/cluster/assignment.ts";
import { LiveCluster } from "./cluster_live.ts";
import { until } from "./cluster_parts.ts";

/** The longest commit gaps around the event: of the splits that moved, and of the others. */
export interface CommitGaps {
  maxGapMovedMs: number;
  maxGapKeptMs: number;
}

/** One failover run. */
export interface FailoverResult extends CommitGaps {
  /** Kill → every split of the killed instance committed again by the survivor. */
  committedAgainMs: number;
  /** Kill → the survivor's `/status` owning every split. */
  leaseTakeoverMs: number;
}

/** Kill -9 of one of two instances; see the module doc. */
export async function failover(binary: string, natsUrls: string, name: string, rate: number): Promise<FailoverResult> {
  await using c = await twoSteady(binary, natsUrls, name, rate);
  const b = c.instances.get("b")!;
  const victim = (await c.view("b")).owned;
  const before = c.latest();
  const t0 = performance.now();
  b.proc.kill("SIGKILL");
  let takeover = 0;
  const watching = until(async () => (await c.view("a")).owned.length === c.subjects.length, 60_000, "a owning every split", 10)
    .then(() => (takeover = performance.now()));
  const again = await Promise.all(victim.map((o) => c.committedAgain(o.split, o.epoch, before.get(o.split)!.seq)));
  await watching;
  const done = Math.max(...again);
  const gaps = await gapsAround(c, victim.map((o) => o.split), t0);
  await c.drain();
  return { committedAgainMs: done - t0, leaseTakeoverMs: takeover - t0, ...gaps };
}

/** One rebalance run. */
export interface RebalanceResult extends CommitGaps {
  /** Splits the join moved. */
  moved: string[];
  /** Start of the joining process → its moved splits committed again by it. */
  committedAgainMs: number;
  /** Start of the joining process → its `/readyz` 200. */
  joinerReadyMs: number;
}

/** A third instance joins two; see the module doc. */
export async function rebalance(binary: string, natsUrls: string, name: string, rate: number): Promise<RebalanceResult> {
  await using c = await twoSteady(binary, natsUrls, name, rate);
  const leases = (await c.view("a")).leases;
  const owners = new Map(leases.map((l) => [l.split, l.owner]));
  const moved = movedSplits(["a", "b", "c"], owners, assignSplits(["a", "b", "c"], c.subjects, owners));
  const before = c.latest();
  const t0 = performance.now();
  const joiner = await c.spawn("c");
  let ready = 0;
  const watching = joiner.waitReady(60_000).then(() => (ready = performance.now()));
  const again = await Promise.all(moved.map((s) => c.committedAgain(s, before.get(s)!.epoch ?? 0, before.get(s)!.seq)));
  await watching;
  const done = Math.max(...again);
  const gaps = await gapsAround(c, moved, t0);
  const owned = (await c.view("c")).owned.map((o) => o.split);
  if (owned.join() !== moved.join()) throw new Error(`the joiner owns ${owned.join()}, the assignment moved ${moved.join()}`);
  await c.drain();
  return { moved, committedAgainMs: done - t0, joinerReadyMs: ready - t0, ...gaps };
}

/** Instances a and b under the live publisher, each owning its share, renewals in their rhythm. */
async function twoSteady(binary: string, natsUrls: string, name: string, rate: number): Promise<LiveCluster> {
  const c = await LiveCluster.start(binary, natsUrls, name, rate);
  try {
    await c.spawn("a");
    await c.spawn("b");
    await c.steady(["a", "b"]);
    await Bun.sleep(3000); // the event then lands anywhere in a renew interval
    return c;
  } catch (err) {
    await c[Symbol.asyncDispose]();
    throw err;
  }
}

/**
 * The longest commit gaps of the `moved` splits and of the others from `from` until 2 s from now
 * (a kept split's gap — its owner restarts on the change — may end after the moved ones').
 */
async function gapsAround(c: LiveCluster, moved: string[], from: number): Promise<CommitGaps> {
  await Bun.sleep(2000);
  const to = performance.now();
  const set = new Set(moved);
  const gap = (m: boolean) => Math.max(...c.subjects.filter((s) => set.has(s) === m).map((s) => c.samples.maxGap(s, from, to)));
  return { maxGapMovedMs: gap(true), maxGapKeptMs: gap(false) };
}
