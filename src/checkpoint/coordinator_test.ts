/**
 * @module
 * Tests for {@link CheckpointCoordinator} with small real timers and the REAL
 * {@link CheckpointStore} on a temp libSQL file, wired as the job wires it
 * (`commit: (d) => store.commit(d)`). Subtasks are played by the test: it receives the barriers
 * and sends the acknowledgements. A real {@link KeyedCounter} shows that a checkpoint that times
 * out or whose commit fails writes nothing and loses nothing.
 */
import { createClient } from "@libsql/client";
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { sleep } from "../platform.ts";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyedCounter } from "../operators/count.ts";
import type { Barrier, CountAck, KeyCounts, SourceAck, SplitPositions } from "../types.ts";
import {
  type CheckpointData,
  type CheckpointRecord,
  CheckpointCoordinator,
  type CoordinatorOptions,
  HISTORY_SIZE,
} from "./coordinator.ts";
import { CheckpointStore } from "./store.ts";

// ---------------------------------------------------------------------------------------------
// Harness

let dir: string;
let url: string;
const cleanups: Array<() => void> = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pvflow-coord-"));
  url = `file:${join(dir, "x.db")}`;
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) c();
  await rm(dir, { recursive: true, force: true });
});

/** Waits (bounded) until `cond` holds. */
async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(1);
  }
}

const sourceAck = (checkpointId: number, subtask: number, positions: SplitPositions): SourceAck =>
  ({ kind: "ack", role: "source", subtask, checkpointId, positions });

const countAck = (checkpointId: number, subtask: number, changed: KeyCounts, alignmentMs = 0): CountAck =>
  ({ kind: "ack", role: "count", subtask, checkpointId, rows: changed.keys.length, changed, alignmentMs });

const kc = (o: Record<string, number>): KeyCounts => ({ keys: Object.keys(o), counts: Object.values(o) });

/** A coordinator over the real store; every callback is logged in order. */
async function setup(overrides: Partial<CoordinatorOptions> = {}) {
  const store = await CheckpointStore.open({ url, stream: "PV" });
  cleanups.push(() => store.close());
  const log: string[] = [];
  const barriers: Barrier[] = [];
  const completed: number[] = [];
  const aborted: number[] = [];
  const finished: CheckpointRecord[] = [];
  const commits: CheckpointData[] = [];
  /** Runs before each store commit; may throw (a failing commit) or wait. */
  const hooks = {
    beforeCommit: async (_d: CheckpointData): Promise<void> => {},
    onTrigger: (_b: Barrier): void => {},
    onComplete: (_id: number): void => {},
  };
  const coord = new CheckpointCoordinator({
    intervalMs: 1_000_000,
    timeoutMs: 10_000,
    minPauseMs: 0,
    sources: 1,
    counts: 1,
    firstCheckpointId: 1,
    trigger: (b) => {
      barriers.push(b);
      log.push(`trigger ${b.checkpointId}`);
      hooks.onTrigger(b);
    },
    commit: async (d) => {
      log.push(`commit ${d.record.id}`);
      commits.push(d);
      try {
        await hooks.beforeCommit(d);
        const r = await store.commit(d);
        log.push(`committed ${d.record.id}`);
        return r;
      } catch (err) {
        log.push(`commit failed ${d.record.id}`);
        throw err;
      }
    },
    notifyComplete: (id) => {
      completed.push(id);
      log.push(`complete ${id}`);
      hooks.onComplete(id);
    },
    notifyAbort: (id) => {
      aborted.push(id);
      log.push(`abort ${id}`);
    },
    onFinished: (r) => finished.push(r),
    ...overrides,
  });
  cleanups.push(() => coord.stop("test over"));
  /** The store's latest checkpoint with counts as an object. */
  const latest = async () => {
    const r = await store.loadLatest();
    const counts: Record<string, number> = {};
    r.counts.keys.forEach((k, i) => (counts[k] = r.counts.counts[i]));
    return { checkpointId: r.checkpointId, positions: r.positions, counts };
  };
  return { store, coord, log, barriers, completed, aborted, finished, commits, hooks, latest };
}

// ---------------------------------------------------------------------------------------------

describe("checkpoint coordinator", () => {
  test("coordinator - trigger sends a barrier to the sources with increasing ids", async () => {
    const { coord, barriers } = await setup({ firstCheckpointId: 5 });
    expect(coord.nextCheckpointId).toBe(5);
    const t1 = coord.trigger();
    expect(t1.id).toBe(5);
    expect(barriers.map((b) => b.checkpointId)).toEqual([5]);
    expect(barriers[0].timestamp).toBe(coord.inProgress!.triggerTime);
    expect(coord.inProgress).toMatchObject({ id: 5, status: "IN_PROGRESS" });
    coord.acknowledge(sourceAck(5, 0, { "pv.0": 1 }));
    coord.acknowledge(countAck(5, 0, kc({})));
    expect((await t1.done).status).toBe("COMPLETED");

    const t2 = coord.trigger();
    expect(t2.id).toBe(6);
    coord.decline(6, "count 0: overtaken");
    expect((await t2.done).status).toBe("FAILED");
    // a failed checkpoint's id is never reused
    expect(coord.trigger().id).toBe(7);
    expect(barriers.map((b) => b.checkpointId)).toEqual([5, 6, 7]);
    // each barrier names the latest checkpoint completed before it (none before the first)
    expect(barriers.map((b) => b.completed)).toEqual([undefined, 5, 5]);
  });

  test("coordinator - start triggers periodically with strictly increasing ids", async () => {
    const h = await setup({ intervalMs: 15, firstCheckpointId: 3 });
    h.coord.start();
    // the subtasks: acknowledge every barrier soon after it arrives
    const timer = setInterval(() => {
      const p = h.coord.inProgress;
      if (p && p.subtasks.length === 0) {
        h.coord.acknowledge(sourceAck(p.id, 0, { "pv.0": p.id * 10 }));
        h.coord.acknowledge(countAck(p.id, 0, kc({ [`k${p.id}`]: p.id })));
      }
    }, 2);
    cleanups.push(() => clearInterval(timer));
    await until(() => h.completed.length >= 3, "3 periodic checkpoints");
    h.coord.stop();
    const ids = h.barriers.map((b) => b.checkpointId);
    expect(ids.slice(0, 3)).toEqual([3, 4, 5]);
    expect(h.completed.slice(0, 3)).toEqual([3, 4, 5]);
    expect(h.coord.completed).toBeGreaterThanOrEqual(3);
    const last = h.completed.at(-1)!;
    expect((await h.latest()).checkpointId).toBe(last);
  });

  test("coordinator - completes only when every source and count subtask has acknowledged", async () => {
    const h = await setup({ sources: 2, counts: 2 });
    const { id, done } = h.coord.trigger();
    h.coord.acknowledge(sourceAck(id, 0, { "pv.0": 5 }));
    h.coord.acknowledge(countAck(id, 1, kc({ b: 2 })));
    h.coord.acknowledge(sourceAck(id, 1, { "pv.1": 9 }));
    // the same subtask acknowledging twice does not stand in for another one
    h.coord.acknowledge(countAck(id, 1, kc({ b: 2 })));
    await sleep(20);
    expect(h.commits.length).toBe(0);
    expect(h.coord.inProgress?.status).toBe("IN_PROGRESS");
    expect((await h.latest()).checkpointId).toBe(0);

    h.coord.acknowledge(countAck(id, 0, kc({ a: 1 })));
    const r = await done;
    expect(r.status).toBe("COMPLETED");
    expect(h.commits.length).toBe(1);
    expect(h.coord.inProgress).toBeUndefined();
    expect(h.coord.latestCompleted?.id).toBe(id);
  });

  test("coordinator - a completed checkpoint is ONE commit holding every position and count", async () => {
    const h = await setup({ sources: 2, counts: 2 });
    const { id, done } = h.coord.trigger();
    h.coord.acknowledge(sourceAck(id, 0, { "pv.0": 5, "pv.2": 7 }));
    h.coord.acknowledge(sourceAck(id, 1, { "pv.1": 9 }));
    h.coord.acknowledge(countAck(id, 0, kc({ a: 1, c: 4 }), 3));
    h.coord.acknowledge(countAck(id, 1, kc({ b: 2 }), 8));
    const r = await done;
    expect(h.log.filter((l) => l.startsWith("commit "))).toEqual([`commit ${id}`]);
    expect(await h.latest()).toEqual({
      checkpointId: id,
      positions: { "pv.0": 5, "pv.1": 9, "pv.2": 7 },
      counts: { a: 1, b: 2, c: 4 },
    });
    expect(r).toMatchObject({ id, status: "COMPLETED", rows: 3, alignmentMs: 8 });
    expect(r.bytes).toBeGreaterThan(0);
    expect(r.subtasks.length).toBe(4);
    const [stored] = await h.store.listCheckpoints(1);
    expect(stored).toMatchObject({ id, rows: 3, bytes: r.bytes, alignmentMs: 8 });
  });

  test("coordinator - notifyComplete is called only after the commit", async () => {
    const h = await setup();
    let storeAtNotify: Promise<number> | undefined;
    // a slow commit: a completion notice sent before COMMIT would show here
    h.hooks.beforeCommit = () => sleep(30);
    h.hooks.onComplete = () => (storeAtNotify = h.store.latestCheckpointId());
    const { id, done } = h.coord.trigger();
    h.coord.acknowledge(sourceAck(id, 0, { "pv.0": 1 }));
    h.coord.acknowledge(countAck(id, 0, kc({ a: 1 })));
    expect(h.completed).toEqual([]);
    await sleep(10);
    expect(h.completed).toEqual([]); // still committing
    await done;
    expect(h.log).toEqual([`trigger ${id}`, `commit ${id}`, `committed ${id}`, `complete ${id}`]);
    expect(await storeAtNotify).toBe(id);
  });

  test("coordinator - acknowledgements of other checkpoint ids are ignored", async () => {
    const h = await setup();
    const { id, done } = h.coord.trigger();
    h.coord.acknowledge(sourceAck(id - 1, 0, { "pv.0": 1000 }));
    h.coord.acknowledge(countAck(id + 1, 0, kc({ stale: 1 })));
    await sleep(20);
    expect(h.commits.length).toBe(0);
    expect(h.coord.inProgress?.subtasks).toEqual([]);
    h.coord.acknowledge(sourceAck(id, 0, { "pv.0": 3 }));
    h.coord.acknowledge(countAck(id, 0, kc({ a: 3 })));
    expect((await done).status).toBe("COMPLETED");
    expect(await h.latest()).toEqual({ checkpointId: id, positions: { "pv.0": 3 }, counts: { a: 3 } });
    // late ones after completion are ignored too
    h.coord.acknowledge(countAck(id, 0, kc({ late: 1 })));
    expect(h.commits.length).toBe(1);
  });

  test("coordinator - one checkpoint in flight: trigger() while pending returns the pending one", async () => {
    const h = await setup();
    const a = h.coord.trigger();
    const b = h.coord.trigger();
    const c = h.coord.trigger({ final: true });
    expect(b.id).toBe(a.id);
    expect(c.id).toBe(a.id);
    expect(h.barriers.length).toBe(1);
    expect(h.coord.history.length).toBe(1);
    h.coord.acknowledge(sourceAck(a.id, 0, {}));
    h.coord.acknowledge(countAck(a.id, 0, kc({})));
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect(ra).toBe(rb);
    expect(h.coord.trigger().id).toBe(a.id + 1);
  });

  test("coordinator - a timed-out checkpoint writes nothing and loses nothing", async () => {
    const h = await setup({ timeoutMs: 40 });
    const counter = new KeyedCounter();
    const complete = (id: number) => counter.notifyCheckpointComplete(id);

    // checkpoint 1 completes: a=1, b=1 at position 2
    counter.add(["a", "b"]);
    const c1 = h.coord.trigger();
    h.coord.acknowledge(sourceAck(c1.id, 0, { "pv.0": 2 }));
    h.coord.acknowledge(countAck(c1.id, 0, counter.snapshot(c1.id)));
    expect((await c1.done).status).toBe("COMPLETED");
    complete(c1.id);
    const after1 = await h.latest();
    expect(after1).toEqual({ checkpointId: 1, positions: { "pv.0": 2 }, counts: { a: 1, b: 1 } });

    // checkpoint 2: the source acks, the count subtask snapshots but its ack comes too late
    counter.add(["c", "a"]);
    const c2 = h.coord.trigger();
    h.coord.acknowledge(sourceAck(c2.id, 0, { "pv.0": 4 }));
    const late = countAck(c2.id, 0, counter.snapshot(c2.id));
    const r2 = await c2.done;
    expect(r2.status).toBe("FAILED");
    expect(r2.failureReason).toMatch(/timed out after 40 ms/);
    expect(h.aborted).toEqual([c2.id]);
    expect(h.completed).toEqual([c1.id]);
    h.coord.acknowledge(late); // ignored
    await sleep(20);
    expect(h.commits.map((d) => d.record.id)).toEqual([c1.id]);
    expect(await h.latest()).toEqual(after1);
    expect(h.coord.failed).toBe(1);

    // checkpoint 3 completes and carries 2's keys too
    counter.add(["d"]);
    const c3 = h.coord.trigger();
    h.coord.acknowledge(sourceAck(c3.id, 0, { "pv.0": 5 }));
    h.coord.acknowledge(countAck(c3.id, 0, counter.snapshot(c3.id)));
    expect((await c3.done).status).toBe("COMPLETED");
    complete(c3.id);
    expect(await h.latest()).toEqual({ checkpointId: 3, positions: { "pv.0": 5 }, counts: { a: 2, b: 1, c: 1, d: 1 } });
    expect(h.coord.history.map((r) => [r.id, r.status])).toEqual([[3, "COMPLETED"], [2, "FAILED"], [1, "COMPLETED"]]);
  });

  test("coordinator - a failed commit writes nothing and the next checkpoint carries everything", async () => {
    const h = await setup();
    const counter = new KeyedCounter();
    counter.add(["a"]);
    const c1 = h.coord.trigger();
    h.coord.acknowledge(sourceAck(c1.id, 0, { "pv.0": 1 }));
    h.coord.acknowledge(countAck(c1.id, 0, counter.snapshot(c1.id)));
    await c1.done;
    counter.notifyCheckpointComplete(c1.id);
    const after1 = await h.latest();

    // A real failure: another connection holds the database's write lock while checkpoint 2 commits.
    // (chmod 0444 would do as a normal user, but root ignores file modes.) Wait for no lock.
    await h.store.client.execute("PRAGMA busy_timeout = 0");
    const other = createClient({ url });
    cleanups.push(() => other.close());
    const lock = await other.transaction("write");
    await lock.execute("INSERT INTO counts (key, count, checkpoint_id) VALUES ('uncommitted', 1, 0)");

    counter.add(["b", "a"]);
    const c2 = h.coord.trigger();
    h.coord.acknowledge(sourceAck(c2.id, 0, { "pv.0": 3 }));
    h.coord.acknowledge(countAck(c2.id, 0, counter.snapshot(c2.id)));
    const r2 = await c2.done;
    expect(r2.status).toBe("FAILED");
    expect(r2.failureReason).toMatch(/^commit failed: .*(locked|busy)/i);
    expect(h.log).toContain(`commit failed ${c2.id}`);
    expect(h.aborted).toEqual([c2.id]);
    expect(h.completed).toEqual([c1.id]);
    await lock.rollback();
    expect(await h.latest()).toEqual(after1);

    counter.add(["c"]);
    const c3 = h.coord.trigger();
    expect(c3.id).toBe(c2.id + 1);
    h.coord.acknowledge(sourceAck(c3.id, 0, { "pv.0": 4 }));
    h.coord.acknowledge(countAck(c3.id, 0, counter.snapshot(c3.id)));
    expect((await c3.done).status).toBe("COMPLETED");
    expect(await h.latest()).toEqual({ checkpointId: c3.id, positions: { "pv.0": 4 }, counts: { a: 2, b: 1, c: 1 } });
  });

  test("coordinator - a commit that throws fails the checkpoint instead of completing it", async () => {
    const h = await setup();
    let failures = 1;
    h.hooks.beforeCommit = async () => {
      if (failures-- > 0) throw new Error("disk on fire");
    };
    const c1 = h.coord.trigger();
    h.coord.acknowledge(sourceAck(c1.id, 0, { "pv.0": 1 }));
    h.coord.acknowledge(countAck(c1.id, 0, kc({ a: 1 })));
    const r = await c1.done;
    expect(r).toMatchObject({ status: "FAILED", failureReason: "commit failed: disk on fire" });
    expect(h.coord.latestCompleted).toBeUndefined();
    expect(h.completed).toEqual([]);
    expect(h.aborted).toEqual([c1.id]);
    expect((await h.latest()).checkpointId).toBe(0);
  });

  test("coordinator - decline fails the pending checkpoint and nothing is written", async () => {
    const h = await setup({ sources: 1, counts: 2 });
    const { id, done } = h.coord.trigger();
    h.coord.acknowledge(sourceAck(id, 0, { "pv.0": 3 }));
    h.coord.acknowledge(countAck(id, 0, kc({ a: 1 })));
    h.coord.decline(id + 1, "not this one"); // other ids: ignored
    expect(h.coord.inProgress?.id).toBe(id);
    h.coord.decline(id, "count 1: barrier 2 arrived before alignment of 1 completed");
    const r = await done;
    expect(r.status).toBe("FAILED");
    expect(r.failureReason).toBe("declined: count 1: barrier 2 arrived before alignment of 1 completed");
    expect(h.aborted).toEqual([id]);
    h.coord.acknowledge(countAck(id, 1, kc({ b: 1 }))); // too late
    await sleep(10);
    expect(h.commits.length).toBe(0);
    expect((await h.latest()).checkpointId).toBe(0);
    expect(h.finished.map((f) => f.id)).toEqual([id]);
  });

  test("coordinator - stop fails the checkpoint in flight and triggers no more", async () => {
    const h = await setup({ intervalMs: 10 });
    h.coord.start();
    await until(() => h.barriers.length === 1, "the first periodic trigger");
    const pending = h.coord.inProgress!;
    const { done } = h.coord.trigger(); // the same one
    h.coord.acknowledge(sourceAck(pending.id, 0, { "pv.0": 1 }));
    h.coord.stop();
    const r = await done;
    expect(r).toMatchObject({ id: pending.id, status: "FAILED", failureReason: "job stopped" });
    expect(h.aborted).toEqual([pending.id]);
    h.coord.acknowledge(countAck(pending.id, 0, kc({ a: 1 })));
    await sleep(60); // several intervals
    expect(h.barriers.length).toBe(1);
    expect(h.commits.length).toBe(0);
    expect((await h.latest()).checkpointId).toBe(0);
  });

  test("coordinator - stop lets a running commit finish, and settle waits for it", async () => {
    const h = await setup();
    const release = Promise.withResolvers<void>();
    h.hooks.beforeCommit = () => release.promise;
    const { id, done } = h.coord.trigger();
    h.coord.acknowledge(sourceAck(id, 0, { "pv.0": 7 }));
    h.coord.acknowledge(countAck(id, 0, kc({ a: 7 })));
    await until(() => h.log.includes(`commit ${id}`), "the commit to start");
    h.coord.stop();
    let settled = false;
    const settling = h.coord.settle().then(() => (settled = true));
    await sleep(30);
    expect(settled).toBe(false); // the commit is still running
    release.resolve();
    await settling;
    expect((await done).status).toBe("COMPLETED");
    expect((await h.latest()).checkpointId).toBe(id);
    await h.coord.settle(); // nothing in flight: immediate
  });

  test("coordinator - history is newest first and capped at HISTORY_SIZE", async () => {
    const h = await setup();
    const total = HISTORY_SIZE + 5;
    for (let i = 0; i < total; i++) {
      const { id, done } = h.coord.trigger();
      if (i % 2 === 0) {
        h.coord.acknowledge(sourceAck(id, 0, { "pv.0": id }));
        h.coord.acknowledge(countAck(id, 0, kc({ k: id })));
      } else {
        h.coord.decline(id, "odd");
      }
      await done;
    }
    const hist = h.coord.history;
    expect(hist.length).toBe(HISTORY_SIZE);
    expect(hist[0].id).toBe(total);
    expect(hist.at(-1)!.id).toBe(total - HISTORY_SIZE + 1);
    for (let i = 1; i < hist.length; i++) expect(hist[i].id).toBe(hist[i - 1].id - 1);
    expect(hist[0].status).toBe("COMPLETED"); // id 105: i = 104, even
    expect(hist[1].status).toBe("FAILED");
    expect(h.coord.completed + h.coord.failed).toBe(total);
    expect((await h.latest()).checkpointId).toBe(total);
  });

  test("coordinator - the next trigger waits at least minPause after the last checkpoint ended", async () => {
    const MIN_PAUSE = 60;
    const triggeredAt: number[] = [];
    const endedAt: number[] = [];
    const now = () => performance.now();
    const h = await setup({
      intervalMs: 10, // alone, this would trigger again right after each end
      minPauseMs: MIN_PAUSE,
      now,
      onFinished: () => endedAt.push(now()),
    });
    h.hooks.onTrigger = () => triggeredAt.push(now());
    // subtasks that take ~20 ms to acknowledge (longer than the interval)
    const acked = new Set<number>();
    const timer = setInterval(() => {
      const p = h.coord.inProgress;
      if (p === undefined || acked.has(p.id) || now() - triggeredAt.at(-1)! < 20) return;
      acked.add(p.id);
      h.coord.acknowledge(sourceAck(p.id, 0, { "pv.0": p.id }));
      h.coord.acknowledge(countAck(p.id, 0, kc({ k: p.id })));
    }, 1);
    cleanups.push(() => clearInterval(timer));
    h.coord.start();
    await until(() => h.completed.length >= 3, "3 checkpoints");
    h.coord.stop();
    expect(triggeredAt.length).toBeGreaterThanOrEqual(3);
    // ordering: trigger n+1 comes after end n + minPause (1 ms slack for timer rounding)
    for (let i = 0; i + 1 < h.completed.length; i++) {
      expect(triggeredAt[i + 1]).toBeGreaterThan(endedAt[i]);
      expect(triggeredAt[i + 1] - endedAt[i]).toBeGreaterThanOrEqual(MIN_PAUSE - 1);
    }
  });

  test("coordinator - pauseRemainingMs counts down minPause from the end of the last checkpoint, completed or failed", async () => {
    let clock = 1000;
    const h = await setup({ minPauseMs: 500, now: () => clock });
    expect(h.coord.pauseRemainingMs()).toBe(0); // no checkpoint yet
    const t1 = h.coord.trigger();
    clock += 50;
    expect(h.coord.pauseRemainingMs()).toBe(0); // in flight: a trigger answers that one
    h.coord.acknowledge(sourceAck(t1.id, 0, { "pv.0": 1 }));
    h.coord.acknowledge(countAck(t1.id, 0, kc({ a: 1 })));
    expect((await t1.done).status).toBe("COMPLETED"); // ended at 1050
    expect(h.coord.pauseRemainingMs()).toBe(500);
    clock += 499;
    expect(h.coord.pauseRemainingMs()).toBe(1);
    clock += 1;
    expect(h.coord.pauseRemainingMs()).toBe(0);
    const t2 = h.coord.trigger();
    clock += 10;
    h.coord.decline(t2.id, "count 0: test");
    expect((await t2.done).status).toBe("FAILED");
    expect(h.coord.pauseRemainingMs()).toBe(500);
    clock += 10_000;
    expect(h.coord.pauseRemainingMs()).toBe(0);
    // Without a min pause there is never a wait.
    const free = await setup({ now: () => clock });
    const t3 = free.coord.trigger();
    free.coord.decline(t3.id, "count 0: test");
    await t3.done;
    expect(free.coord.pauseRemainingMs()).toBe(0);
  });
});
