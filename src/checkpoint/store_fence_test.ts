/**
 * @module
 * Tests of the one-writer fence of {@link CheckpointStore} against real libSQL (a file and a
 * real sqld): a store that claimed the database earlier has every commit refused whole once
 * another one claimed it; a database made by release 0.1.0 opens, keeps its data, and fences a
 * 0.1.0 binary still writing to it.
 */
import { createClient } from "@libsql/client";
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Sqld } from "../../tests/support/sqld.ts";
import type { CheckpointData } from "./coordinator.ts";
import { CheckpointStore, isFenced } from "./store.ts";
import { SCHEMA_0_1_0 } from "../../tests/support/schema_0_1_0.ts";

let dir: string;
const stores: CheckpointStore[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pvflow-fence-"));
});
afterEach(async () => {
  for (const s of stores.splice(0)) s.close();
  await rm(dir, { recursive: true, force: true });
});

async function open(url: string, epoch?: number): Promise<CheckpointStore> {
  const s = await CheckpointStore.open({ url, stream: "PV", epoch });
  stores.push(s);
  return s;
}

function data(id: number, positions: Record<string, number>, counts: Record<string, number>): CheckpointData {
  return {
    record: { id, status: "IN_PROGRESS", triggerTime: Date.now(), subtasks: [] },
    positions, keys: Object.keys(counts), counts: Object.values(counts),
  };
}

/** Everything a commit can write, as plain rows. */
async function rows(s: CheckpointStore) {
  const [cp, pos, cnt] = await s.client.batch([
    "SELECT id, epoch FROM checkpoints ORDER BY id",
    "SELECT subject, seq, checkpoint_id FROM positions ORDER BY subject",
    "SELECT key, count, checkpoint_id FROM counts ORDER BY key",
  ], "read");
  return [cp, pos, cnt].map((rs) => rs.rows.map((r) => Array.from({ length: r.length }, (_, i) => (typeof r[i] === "bigint" ? Number(r[i]) : r[i]))));
}

for (const kind of ["file", "sqld"] as const) {
  describe(`checkpoint store fence - ${kind}`, () => {
    test(`checkpoint store fence - ${kind}: the older of two stores on one database has its commit refused whole`, async () => {
      await using sqld = kind === "sqld" ? await Sqld.start() : undefined;
      const url = sqld ? sqld.url : `file:${join(dir, "x.db")}`;
      const first = await open(url);
      const sameProcess = await open(url, first.epoch); // a commit thread joins its process's claim
      await first.commit(data(1, { "pv.0": 10 }, { a: 1 }));
      await sameProcess.commit(data(2, { "pv.0": 11 }, { a: 2 }));

      const second = await open(url); // another process takes over
      expect(second.epoch).toBe(first.epoch + 1);
      expect(await second.owner()).toMatchObject({ epoch: second.epoch, pid: process.pid, host: hostname() });
      const before = await rows(second);

      // 1200 keys: several count statements, all after the refused checkpoint row
      const counts: Record<string, number> = { a: 99 };
      for (let i = 0; i < 1200; i++) counts[`old-${i}`] = 1;
      for (const s of [first, sameProcess]) {
        const err = await s.commit(data(3, { "pv.0": 99, "pv.1": 99 }, counts)).then(() => undefined, (e: Error) => e);
        expect(err?.message).toMatch(/another pvflow process took over the database/);
        expect(err?.message).toContain(`epoch ${second.epoch}`);
        expect(err?.message).toContain(`this process holds epoch ${first.epoch}`);
        expect(isFenced(err!.message)).toBe(true);
      }
      expect(await rows(second)).toEqual(before); // no checkpoint row, position or count of it landed

      await second.commit(data(3, { "pv.0": 12 }, { a: 3 }));
      const [cp, pos, cnt] = await rows(second);
      expect(cp).toEqual([[1, first.epoch], [2, first.epoch], [3, second.epoch]]);
      expect(pos).toEqual([["pv.0", 12, 3]]);
      expect(cnt).toEqual([["a", 3, 3]]);
      // and a refused store stays refused
      await expect(first.commit(data(4, { "pv.0": 13 }, { a: 4 }))).rejects.toThrow(/took over/);
    });
  });
}

describe("checkpoint store fence - upgrade", () => {
  /** A 0.1.0 commit (no epoch). */
  const commit010 = (id: number) => [
    {
      sql: `INSERT INTO positions (stream, subject, seq, checkpoint_id, stream_created) VALUES ('PV', 'pv.0', ?, ?, NULL)
            ON CONFLICT (stream, subject) DO UPDATE SET seq = excluded.seq`,
      args: [id * 10, id],
    },
    {
      sql: "INSERT INTO counts (key, count, checkpoint_id) VALUES ('a', ?, ?) ON CONFLICT (key) DO UPDATE SET count = excluded.count",
      args: [id, id],
    },
    {
      sql: `INSERT INTO checkpoints (id, trigger_time, completed_time, duration_ms, alignment_ms, rows, bytes)
            VALUES (?, 0, 0, 0, 0, 1, 10)`,
      args: [id],
    },
  ];

  test("checkpoint store fence - a 0.1.0 database opens with its data, and a 0.1.0 binary still writing is fenced", async () => {
    const url = `file:${join(dir, "old.db")}`;
    const old = createClient({ url });
    try {
      await old.batch(SCHEMA_0_1_0, "write");
      await old.batch(commit010(1), "write");
      const s = await open(url);
      expect(s.epoch).toBe(1);
      const latest = await s.loadLatest();
      expect(latest.checkpointId).toBe(1);
      expect(latest.positions).toEqual({ "pv.0": 10 });
      expect(latest.counts).toEqual({ keys: ["a"], counts: [1] });
      await expect(old.batch(commit010(2), "write")).rejects.toThrow(/another pvflow process took over/);
      expect((await s.loadLatest()).checkpointId).toBe(1);
      await s.commit(data(2, { "pv.0": 20 }, { a: 2 }));
      expect((await s.loadLatest()).counts).toEqual({ keys: ["a"], counts: [2] });
      // reopening (and a second process racing to add the column) is idempotent
      const again = await open(url);
      expect(again.epoch).toBe(2);
    } finally {
      old.close();
    }
  });
});
