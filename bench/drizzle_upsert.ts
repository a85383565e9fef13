/**
 * @module
 * `bun bench/drizzle_upsert.ts`: the checkpoint commit of 10,000 changed keys (checkpoint row,
 * four positions, the counts upsert in statements of 500 rows, one transaction on a libSQL file)
 * built by hand — `CheckpointStore.commit` — and by drizzle's query builder, alternating in the
 * SAME run; also a restore (`loadLatest`, hand-built, 110,000 keys) against the same reads built
 * by drizzle. Prints one JSON line per figure and the ratios drizzle / hand-built.
 *
 * Knobs: BENCH_KEYS (10000), BENCH_RESTORE_KEYS (100000), BENCH_REPS (15).
 */
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/libsql";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CheckpointData } from "../src/checkpoint/coordinator.ts";
import { checkpoints, counts, positions } from "../src/checkpoint/schema.ts";
import { CheckpointStore } from "../src/checkpoint/store.ts";
import { ratio, stat } from "./stats.ts";

const KEYS = Number(process.env.BENCH_KEYS ?? 10_000);
const RESTORE_KEYS = Number(process.env.BENCH_RESTORE_KEYS ?? 100_000);
const REPS = Number(process.env.BENCH_REPS ?? 15);
const ROWS_PER_STATEMENT = 500; // as the store

const dir = await mkdtemp(join(tmpdir(), "pvflow-bench-drizzle-"));
const store = await CheckpointStore.open({ url: `file:${join(dir, "x.db")}`, stream: "PV" });
const db = drizzle(store.client);
const keys = Array.from({ length: KEYS }, (_, i) => `site-${i}`);
const splitPositions = { "pv.0": 1, "pv.1": 2, "pv.2": 3, "pv.3": 4 };

function data(id: number): CheckpointData {
  return {
    record: { id, status: "IN_PROGRESS", triggerTime: Date.now(), subtasks: [] },
    positions: splitPositions, keys: [...keys], counts: keys.map((_, i) => id + i),
  };
}

/** The same commit as `CheckpointStore.commit`, its statements built by drizzle. */
async function drizzleCommit(d: CheckpointData): Promise<number> {
  const t0 = performance.now();
  const now = Date.now();
  const id = d.record.id;
  const queries = [
    db.insert(checkpoints).values({
      id, triggerTime: d.record.triggerTime, completedTime: now, durationMs: now - d.record.triggerTime,
      alignmentMs: 0, rows: d.keys.length, bytes: 0, epoch: store.epoch,
    }),
    db.insert(positions)
      .values(Object.entries(d.positions).map(([subject, seq]) => ({ stream: "PV", subject, seq, checkpointId: id, streamCreated: null })))
      .onConflictDoUpdate({
        target: [positions.stream, positions.subject],
        set: { seq: sql`excluded.seq`, checkpointId: sql`excluded.checkpoint_id`, streamCreated: sql`excluded.stream_created` },
      }),
  ];
  for (let start = 0; start < d.keys.length; start += ROWS_PER_STATEMENT) {
    const rows = [];
    for (let i = start; i < Math.min(d.keys.length, start + ROWS_PER_STATEMENT); i++) rows.push({ key: d.keys[i], count: d.counts[i], checkpointId: id });
    queries.push(db.insert(counts).values(rows).onConflictDoUpdate({
      target: counts.key, set: { count: sql`excluded.count`, checkpointId: sql`excluded.checkpoint_id` },
    }) as never);
  }
  // Built by drizzle, executed as the store executes its own: one "write" batch.
  const stmts = queries.map((q) => {
    const { sql: text, params } = q.toSQL();
    return { sql: text, args: params as never[] };
  });
  const built = performance.now() - t0;
  await store.client.batch(stmts, "write");
  return built;
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

let id = 0;
const hand: number[] = [];
const viaDrizzle: number[] = [];
const drizzleBuild: number[] = [];
for (let rep = 0; rep < REPS + 2; rep++) {
  const h = await timed(() => store.commit(data(++id)));
  let b = 0;
  const z = await timed(async () => (b = await drizzleCommit(data(++id))));
  if (rep < 2) continue; // warm-up
  hand.push(h);
  viaDrizzle.push(z);
  drizzleBuild.push(b);
}
// the two paths wrote the same thing
const check = await store.readCount(keys[KEYS - 1]);
if (check?.count !== id + KEYS - 1 || check.checkpointId !== id) throw new Error(`drizzle commit wrote ${JSON.stringify(check)}`);

// Restore: 100k keys, read through drizzle (the store) and by hand on the same connection.
const rk = Array.from({ length: RESTORE_KEYS }, (_, i) => `r-${i}`);
await store.commit({ record: { id: ++id, status: "IN_PROGRESS", triggerTime: Date.now(), subtasks: [] }, positions: splitPositions, keys: rk, counts: rk.map((_, i) => i) });
const restoreDrizzle: number[] = [];
const restoreHand: number[] = [];
for (let rep = 0; rep < 7; rep++) {
  const z = await timed(async () => {
    const [, , cnt] = await db.batch([
      db.select({ id: sql<number>`coalesce(max(${checkpoints.id}), 0)` }).from(checkpoints),
      db.select({ subject: positions.subject, seq: positions.seq, streamCreated: positions.streamCreated }).from(positions)
        .where(sql`${positions.stream} = 'PV'`),
      db.select({ key: counts.key, count: counts.count }).from(counts).where(sql`instr(CAST(${counts.key} AS BLOB), x'00') = 0`),
    ]);
    const n = cnt.length;
    const ks = new Array(n), cs = new Array(n);
    for (let i = 0; i < n; i++) { ks[i] = cnt[i].key; cs[i] = cnt[i].count; }
  });
  const h = await timed(() => store.loadLatest()); // hand-built
  if (rep < 2) continue;
  restoreDrizzle.push(z);
  restoreHand.push(h);
}
store.close();
await rm(dir, { recursive: true, force: true });

const out = {
  commitHandMs: stat(hand), commitDrizzleMs: stat(viaDrizzle), drizzleBuildMs: stat(drizzleBuild),
  restoreHandMs: stat(restoreHand), restoreDrizzleMs: stat(restoreDrizzle),
};
for (const [figure, s] of Object.entries(out)) console.log(JSON.stringify({ figure, keys: figure.startsWith("restore") ? RESTORE_KEYS + KEYS : KEYS, ...s }));
console.log(JSON.stringify({
  ratios: {
    commitDrizzleOverHand: ratio(out.commitDrizzleMs, out.commitHandMs),
    drizzleBuildOverHandCommit: ratio(out.drizzleBuildMs, out.commitHandMs),
    restoreDrizzleOverHand: ratio(out.restoreDrizzleMs, out.restoreHandMs),
  },
}));
