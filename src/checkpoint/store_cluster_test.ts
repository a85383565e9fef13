/**
 * @module
 * Tests of cluster mode's store against real libSQL (a real sqld, and a file for speed): instances
 * share one claim of the database and fence each other per split — a claim or commit under an
 * older lease epoch is refused whole — while their count deltas add up in the shared sink.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Sqld } from "../../tests/support/sqld.ts";
import type { CheckpointData } from "./coordinator.ts";
import { CheckpointStore, isFenced, isSplitFenced } from "./store.ts";

let dir: string;
const stores: CheckpointStore[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pvflow-cluster-store-"));
});
afterEach(async () => {
  for (const s of stores.splice(0)) s.close();
  await rm(dir, { recursive: true, force: true });
});

async function open(url: string, cluster?: string): Promise<CheckpointStore> {
  const s = await CheckpointStore.open({ url, stream: "PV", cluster });
  stores.push(s);
  return s;
}

/** A cluster commit: local checkpoint id, positions, count deltas and the splits' epochs. */
function delta(id: number, positions: Record<string, number>, deltas: Record<string, number>, fence: Record<string, number>): CheckpointData {
  return {
    record: { id, status: "IN_PROGRESS", triggerTime: Date.now(), subtasks: [] },
    positions, keys: Object.keys(deltas), counts: Object.values(deltas), fence,
  };
}

async function counts(s: CheckpointStore): Promise<Record<string, number>> {
  const page = await s.readCounts({ limit: 1000 });
  return Object.fromEntries(page.keys.map((k, i) => [k, page.counts[i]]));
}

async function positions(s: CheckpointStore): Promise<Record<string, [number, number | null]>> {
  const rs = await s.client.execute("SELECT subject, seq, epoch FROM positions ORDER BY subject");
  return Object.fromEntries(rs.rows.map((r) => [r[0] as string, [Number(r[1]), r[2] === null ? null : Number(r[2])]]));
}

for (const kind of ["file", "sqld"] as const) {
  describe(`checkpoint store cluster - ${kind}`, () => {
    const url = async (sqld: Sqld | undefined) => (sqld ? sqld.url : `file:${join(dir, "x.db")}`);

    test(`checkpoint store cluster - ${kind}: instances join one claim; their deltas add up; checkpoint ids stay distinct`, async () => {
      await using sqld = kind === "sqld" ? await Sqld.start() : undefined;
      const u = await url(sqld);
      const a = await open(u, "c1");
      const b = await open(u, "c1");
      expect(b.epoch).toBe(a.epoch); // joined, not bumped: neither fences the other out
      expect((await a.claimSplits({ "pv.0": 5 })).positions).toEqual({ "pv.0": 0 });
      expect((await b.claimSplits({ "pv.1": 7 })).positions).toEqual({ "pv.1": 0 });
      // Both instances use local checkpoint id 1: the stored rows get distinct ids.
      await a.commit(delta(1, { "pv.0": 10 }, { x: 3, y: 1 }, { "pv.0": 5 }));
      await b.commit(delta(1, { "pv.1": 20 }, { x: 4 }, { "pv.1": 7 }));
      await a.commit(delta(2, { "pv.0": 12 }, { x: 1 }, { "pv.0": 5 }));
      expect(await counts(a)).toEqual({ x: 8, y: 1 });
      expect(await positions(b)).toEqual({ "pv.0": [12, 5], "pv.1": [20, 7] });
      const ids = (await a.listCheckpoints(10)).map((c) => c.id);
      expect(ids).toEqual([3, 2, 1]);
      // A restart of b reads its split's position back, and no counts (it counts deltas).
      const again = await b.claimSplits({ "pv.1": 7 });
      expect(again.positions).toEqual({ "pv.1": 20 });
      expect(again.counts.keys).toEqual([]);
      expect(again.checkpointId).toBe(3);
    });

    test(`checkpoint store cluster - ${kind}: a zombie's commit under an older epoch is refused whole, and so is its claim`, async () => {
      await using sqld = kind === "sqld" ? await Sqld.start() : undefined;
      const u = await url(sqld);
      const zombie = await open(u, "c1");
      const owner = await open(u, "c1");
      await zombie.claimSplits({ "pv.0": 5, "pv.1": 6 });
      await zombie.commit(delta(1, { "pv.0": 10, "pv.1": 10 }, { x: 2 }, { "pv.0": 5, "pv.1": 6 }));
      // The lease of pv.1 moved: the new owner claims it and reads what the old one committed.
      expect((await owner.claimSplits({ "pv.1": 9 })).positions).toEqual({ "pv.1": 10 });
      const before = { counts: await counts(owner), positions: await positions(owner), ids: await owner.listCheckpoints(10) };
      // The zombie wakes and commits both splits: nothing of it lands, pv.0 included.
      const late = await zombie.commit(delta(2, { "pv.0": 15, "pv.1": 15 }, { x: 5, z: 1 }, { "pv.0": 5, "pv.1": 6 })).catch((e: Error) => e);
      expect(late).toBeInstanceOf(Error);
      expect(isSplitFenced((late as Error).message)).toBe(true);
      expect((late as Error).message).toContain("pv.1 (epoch 9 > 6)");
      expect(await counts(owner)).toEqual(before.counts);
      expect(await positions(owner)).toEqual(before.positions);
      expect(await owner.listCheckpoints(10)).toEqual(before.ids);
      // Its restart under the old epoch is refused too; the new owner's commits go on.
      const claim = await zombie.claimSplits({ "pv.1": 6 }).catch((e: Error) => e);
      expect(claim).toBeInstanceOf(Error);
      expect(isSplitFenced((claim as Error).message)).toBe(true);
      await owner.commit(delta(1, { "pv.1": 11 }, { x: 1 }, { "pv.1": 9 }));
      expect(await counts(owner)).toEqual({ x: 3 });
      expect((await positions(owner))["pv.1"]).toEqual([11, 9]);
    });

    test(`checkpoint store cluster - ${kind}: a single instance claiming the database fences the cluster out, and the cluster it`, async () => {
      await using sqld = kind === "sqld" ? await Sqld.start() : undefined;
      const u = await url(sqld);
      const single = await open(u);
      await single.commit({ record: { id: 1, status: "IN_PROGRESS", triggerTime: Date.now(), subtasks: [] }, positions: { "pv.0": 4 }, keys: ["x"], counts: [4] });
      const member = await open(u, "c1"); // the cluster claims the database: the single instance is fenced
      const refused = await single.commit({ record: { id: 2, status: "IN_PROGRESS", triggerTime: Date.now(), subtasks: [] }, positions: { "pv.0": 9 }, keys: ["x"], counts: [9] })
        .catch((e: Error) => e);
      expect(isFenced((refused as Error).message)).toBe(true);
      // The single instance's counts are the cluster's baseline; its position is where the split resumes.
      expect((await member.claimSplits({ "pv.0": 3 })).positions).toEqual({ "pv.0": 4 });
      await member.commit(delta(5, { "pv.0": 6 }, { x: 2 }, { "pv.0": 3 }));
      expect(await counts(member)).toEqual({ x: 6 });
      const later = await open(u); // a single instance started again takes the database back
      const fenced = await member.commit(delta(6, { "pv.0": 7 }, { x: 1 }, { "pv.0": 3 })).catch((e: Error) => e);
      expect(isFenced((fenced as Error).message)).toBe(true);
      expect(later.epoch).toBeGreaterThan(member.epoch);
    });
  });
}
