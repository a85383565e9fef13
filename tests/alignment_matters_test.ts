/**
 * @module
 * "at-least-once shows why alignment matters": one scripted scenario, run through the real
 * {@link BarrierHandler}, {@link KeyedCounter}, {@link CheckpointCoordinator} and
 * {@link CheckpointStore} (a libSQL file), once aligned (exactly_once) and once unaligned
 * (at_least_once).
 *
 * Two source channels A and B feed one count subtask. A emits a1..a5, then barrier 1 (its position
 * is 5), then a6..a10. B emits b1..b3 and its barrier 1 arrives LATE, after a6..a10 were offered to
 * the handler. Checkpoint 1 completes. Then the job fails: the counter is thrown away, the latest
 * checkpoint is loaded, a new counter is restored from it, and each source replays from its
 * committed position + 1 (A: a6..a10; B: nothing), followed by new events.
 *
 * Aligned, the snapshot of checkpoint 1 held a6..a10 back, so it matches A's position 5 and the
 * replay counts them once. Unaligned, the snapshot already contained a6..a10 while A's position
 * said 5, so the replay counts them a second time.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CheckpointCoordinator } from "../src/checkpoint/coordinator.ts";
import { CheckpointStore } from "../src/checkpoint/store.ts";
import { KeyedCounter } from "../src/operators/count.ts";
import { type AlignmentMode, BarrierHandler } from "../src/runtime/barrier_handler.ts";
import type { Barrier } from "../src/types.ts";

/** One event of a split: its stream sequence and its key. */
interface Event {
  seq: number;
  key: string;
}

const SPLIT = ["pv.a", "pv.b"] as const;
const A = 0;
const B = 1;

/** The events each split holds, in stream order. */
const STREAMS: Event[][] = [
  [
    ...[1, 2, 3, 4, 5].map((seq) => ({ seq, key: "p" })), // a1..a5: before A's barrier 1
    ...[6, 7, 8, 9, 10].map((seq) => ({ seq, key: "x" })), // a6..a10: after it
    { seq: 11, key: "p" }, // a11: read only after recovery
  ],
  [
    ...[1, 2, 3].map((seq) => ({ seq, key: "q" })), // b1..b3
    { seq: 4, key: "q" }, // b4: read only after recovery
  ],
];

/** What counting every event exactly once gives. */
const TRUE_COUNTS = { p: 6, q: 4, x: 5 };

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pvflow-alignment-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A job attempt: one count subtask behind a barrier handler, two source splits, a coordinator. */
function attempt(mode: AlignmentMode, store: CheckpointStore, restored: Awaited<ReturnType<CheckpointStore["loadLatest"]>>) {
  const counter = new KeyedCounter();
  counter.restore(restored.counts);
  const barriers: Barrier[] = [];
  const aborted: number[] = [];
  const coordinator = new CheckpointCoordinator({
    intervalMs: 1_000_000, // triggered by the script only
    timeoutMs: 60_000,
    minPauseMs: 0,
    sources: 2,
    counts: 1,
    firstCheckpointId: restored.checkpointId + 1,
    trigger: (b) => barriers.push(b),
    commit: (d) => store.commit(d),
    notifyComplete: (id) => counter.notifyCheckpointComplete(id),
    notifyAbort: (id) => aborted.push(id),
  });
  const handler = new BarrierHandler<Event[]>(2, mode, {
    processRecords: (_c, events) => counter.add(events.map((e) => e.key)),
    snapshot: (barrier, alignmentMs) => {
      const changed = counter.snapshot(barrier.checkpointId);
      coordinator.acknowledge({
        kind: "ack", role: "count", subtask: 0, checkpointId: barrier.checkpointId, rows: changed.keys.length,
        changed, alignmentMs,
      });
    },
    abort: (id, reason) => coordinator.decline(id, reason),
    endOfInput: () => {},
  });
  /** Each split's read cursor: the stream sequence of the last event emitted (its position). */
  const position = [restored.positions[SPLIT[A]] ?? 0, restored.positions[SPLIT[B]] ?? 0];

  /** Source `s` emits its next `n` events (one record batch). */
  const emit = (s: number, n: number) => {
    const from = STREAMS[s].findIndex((e) => e.seq > position[s]);
    const events = from < 0 ? [] : STREAMS[s].slice(from, from + n);
    if (events.length === 0) return;
    position[s] = events.at(-1)!.seq;
    handler.onRecords(s, events);
  };
  /** Source `s` emits everything after its position (the replay after recovery). */
  const emitRest = (s: number) => emit(s, Number.MAX_SAFE_INTEGER);
  /** Source `s` takes part in the pending checkpoint: records its position, sends the barrier, acks. */
  const barrier = (s: number) => {
    const b = barriers.at(-1)!;
    handler.onBarrier(s, b);
    coordinator.acknowledge({
      kind: "ack", role: "source", subtask: s, checkpointId: b.checkpointId, positions: { [SPLIT[s]]: position[s] },
    });
  };
  return { counter, coordinator, handler, emit, emitRest, barrier, position, aborted };
}

/** Counts as a plain object from `loadLatest()`. */
async function committed(store: CheckpointStore) {
  const r = await store.loadLatest();
  const counts: Record<string, number> = {};
  r.counts.keys.forEach((k, i) => (counts[k] = r.counts.counts[i]));
  return { checkpointId: r.checkpointId, positions: r.positions, counts };
}

/** The whole script; returns what the store held after checkpoint 1 and at the end. */
async function run(mode: AlignmentMode) {
  const store = await CheckpointStore.open({ url: `file:${join(dir, `${mode}.db`)}`, stream: "PV" });
  try {
    // --- attempt 1 -----------------------------------------------------------------------------
    const first = attempt(mode, store, await store.loadLatest());
    const cp1 = first.coordinator.trigger();
    expect(cp1.id).toBe(1);
    first.emit(A, 5); // a1..a5
    first.barrier(A); // A's barrier 1, position 5
    first.emit(A, 5); // a6..a10: after A's barrier, before B's
    first.emit(B, 3); // b1..b3
    const heldDuringAlignment = first.handler.heldCount(A);
    const countedBeforeBLateBarrier = first.counter.get("x");
    first.barrier(B); // B's barrier 1, late, position 3
    const cp1Record = await cp1.done;
    expect(cp1Record.status).toBe("COMPLETED");
    expect(first.aborted).toEqual([]);
    const afterCheckpoint1 = await committed(store);
    // both modes count a6..a10 in the live counter eventually
    expect(first.counter.get("x")).toBe(5);

    // --- failure: the counter and handler are gone; recovery from the store --------------------
    const restored = await store.loadLatest();
    const second = attempt(mode, store, restored);
    expect(second.position).toEqual([5, 3]); // replay from position + 1
    second.emitRest(A); // a6..a10 replayed, then a11 (new)
    second.emitRest(B); // b4 (new)
    const cp2 = second.coordinator.trigger();
    expect(cp2.id).toBe(2);
    second.barrier(A);
    second.barrier(B);
    expect((await cp2.done).status).toBe("COMPLETED");
    const final = await committed(store);
    return { afterCheckpoint1, final, heldDuringAlignment, countedBeforeBLateBarrier };
  } finally {
    store.close();
  }
}

describe("alignment matters", () => {
  test("alignment matters - exactly_once (aligned): the replay after recovery counts every event once", async () => {
    const r = await run("aligned");
    // a6..a10 were held while B's barrier was late, so checkpoint 1 is a consistent cut
    expect(r.heldDuringAlignment).toBe(1);
    expect(r.countedBeforeBLateBarrier).toBe(0);
    expect(r.afterCheckpoint1).toEqual({
      checkpointId: 1,
      positions: { "pv.a": 5, "pv.b": 3 },
      counts: { p: 5, q: 3 },
    });
    expect(r.final).toEqual({ checkpointId: 2, positions: { "pv.a": 11, "pv.b": 4 }, counts: TRUE_COUNTS });
  });

  test("alignment matters - at_least_once (unaligned): a6..a10 are counted twice after recovery", async () => {
    const r = await run("unaligned");
    // nothing held: a6..a10 reached the snapshot of checkpoint 1, yet A's position says 5
    expect(r.heldDuringAlignment).toBe(0);
    expect(r.countedBeforeBLateBarrier).toBe(5);
    expect(r.afterCheckpoint1).toEqual({
      checkpointId: 1,
      positions: { "pv.a": 5, "pv.b": 3 },
      counts: { p: 5, q: 3, x: 5 },
    });
    // the replay of a6..a10 counts "x" again: 10 instead of 5; every other key is exact
    expect(r.final).toEqual({ checkpointId: 2, positions: { "pv.a": 11, "pv.b": 4 }, counts: { ...TRUE_COUNTS, x: 10 } });
    expect(r.final.counts.x - TRUE_COUNTS.x).toBe(5);
  });
});
