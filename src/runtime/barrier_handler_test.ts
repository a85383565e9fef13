/**
 * @module
 * Unit tests for {@link BarrierHandler}, in the manner of Flink's `SingleCheckpointBarrierHandler`
 * / `CheckpointBarrierTracker` tests: scripted sequences of records, barriers and end of input over
 * several channels with every output callback recorded and the exact output sequence asserted;
 * then a seeded randomised variant (Flink's `AlignedCheckpointsMassiveRandomTest`) that checks the
 * snapshot invariants of both modes over many random interleavings.
 */
import { describe, expect, test } from "bun:test";
import type { Barrier } from "../types.ts";
import { type AlignmentMode, BarrierHandler, type BarrierHandlerOutput } from "./barrier_handler.ts";

// ---------------------------------------------------------------------------------------------
// Recording harness

/** One recorded output callback. */
type Out =
  | { kind: "records"; channel: number; records: string[] }
  | { kind: "snapshot"; id: number; alignmentMs: number }
  | { kind: "abort"; id: number }
  | { kind: "end" };

/** A barrier with a recognisable timestamp. */
function b(id: number): Barrier {
  return { checkpointId: id, timestamp: 1000 * id };
}

const rec = (channel: number, ...records: string[]): Out => ({ kind: "records", channel, records });
const snap = (id: number, alignmentMs = 0): Out => ({ kind: "snapshot", id, alignmentMs });
const abort = (id: number): Out => ({ kind: "abort", id });
const end: Out = { kind: "end" };

/** A handler whose outputs are appended to `log`; the clock is `clock.now`, starting at 0. */
function setup(numChannels: number, mode: AlignmentMode) {
  const log: Out[] = [];
  const barriers: Barrier[] = [];
  const reasons: string[] = [];
  const clock = { now: 0 };
  const out: BarrierHandlerOutput<string[]> = {
    processRecords: (channel, records) => log.push({ kind: "records", channel, records }),
    snapshot: (barrier, alignmentMs) => {
      barriers.push(barrier);
      log.push({ kind: "snapshot", id: barrier.checkpointId, alignmentMs });
    },
    abort: (id, reason) => {
      reasons.push(reason);
      log.push({ kind: "abort", id });
    },
    endOfInput: () => log.push(end),
  };
  const h = new BarrierHandler<string[]>(numChannels, mode, out, () => clock.now);
  /** Returns the outputs recorded since the last call and forgets them. */
  const take = (): Out[] => log.splice(0, log.length);
  return { h, log, take, barriers, reasons, clock };
}

// ---------------------------------------------------------------------------------------------
// Scripted: aligned

describe("barrier handler - aligned", () => {
  test("barrier handler - aligned holds input after barrier until all channels delivered it", () => {
    const { h, take } = setup(3, "aligned");
    h.onRecords(0, ["0:a"]);
    h.onRecords(1, ["1:a"]);
    h.onBarrier(0, b(1));
    expect(h.pendingCheckpointId).toBe(1);
    expect(h.isBlocked(0)).toBe(true);
    expect(h.isBlocked(1)).toBe(false);
    h.onRecords(0, ["0:b"]); // held
    h.onRecords(0, ["0:c"]); // held
    h.onRecords(1, ["1:b"]); // not held: channel 1 has not delivered barrier 1
    h.onBarrier(1, b(1));
    h.onRecords(1, ["1:c"]); // held
    h.onRecords(2, ["2:a"]);
    expect(h.heldCount(0)).toBe(2);
    expect(h.heldCount(1)).toBe(1);
    expect(h.heldCount(2)).toBe(0);
    expect(take()).toEqual([rec(0, "0:a"), rec(1, "1:a"), rec(1, "1:b"), rec(2, "2:a")]);

    h.onBarrier(2, b(1));
    // snapshot first, then the held input replayed in per-channel order
    expect(take()).toEqual([snap(1), rec(0, "0:b"), rec(0, "0:c"), rec(1, "1:c")]);
    expect(h.pendingCheckpointId).toBeUndefined();
    expect(h.lastFinishedCheckpointId).toBe(1);
    for (let c = 0; c < 3; c++) {
      expect(h.heldCount(c)).toBe(0);
      expect(h.isBlocked(c)).toBe(false);
    }

    h.onRecords(2, ["2:b"]);
    h.onRecords(0, ["0:d"]);
    expect(take()).toEqual([rec(2, "2:b"), rec(0, "0:d")]);
  });

  test("barrier handler - aligned snapshot receives the barrier itself", () => {
    const { h, barriers } = setup(2, "aligned");
    const first: Barrier = { checkpointId: 7, timestamp: 123, final: true };
    h.onBarrier(1, first);
    h.onBarrier(0, { checkpointId: 7, timestamp: 123, final: true });
    expect(barriers).toEqual([first]);
  });

  test("barrier handler - aligned with one channel snapshots on each barrier", () => {
    const { h, take } = setup(1, "aligned");
    h.onRecords(0, ["a"]);
    h.onBarrier(0, b(1));
    h.onRecords(0, ["b"]);
    h.onBarrier(0, b(2));
    h.onEndOfInput(0);
    expect(take()).toEqual([rec(0, "a"), snap(1), rec(0, "b"), snap(2), end]);
  });

  test("barrier handler - aligned held input containing the next barrier blocks again after release", () => {
    const { h, take } = setup(2, "aligned");
    h.onBarrier(0, b(1));
    h.onRecords(0, ["0:a"]);
    h.onBarrier(0, b(2)); // queued behind barrier 1
    h.onRecords(0, ["0:b"]);
    h.onBarrier(0, b(3));
    h.onRecords(0, ["0:c"]);
    h.onRecords(1, ["1:a"]);
    expect(h.heldCount(0)).toBe(5);
    expect(take()).toEqual([rec(1, "1:a")]);

    h.onBarrier(1, b(1));
    // release of channel 0 stops at its barrier 2, which starts the next alignment
    expect(take()).toEqual([snap(1), rec(0, "0:a")]);
    expect(h.pendingCheckpointId).toBe(2);
    expect(h.isBlocked(0)).toBe(true);
    expect(h.isBlocked(1)).toBe(false);
    expect(h.heldCount(0)).toBe(3);

    h.onRecords(1, ["1:b"]);
    h.onBarrier(1, b(2));
    expect(take()).toEqual([rec(1, "1:b"), snap(2), rec(0, "0:b")]);
    expect(h.pendingCheckpointId).toBe(3);
    expect(h.heldCount(0)).toBe(1);

    h.onBarrier(1, b(3));
    expect(take()).toEqual([snap(3), rec(0, "0:c")]);
    expect(h.heldCount(0)).toBe(0);
    expect(h.lastFinishedCheckpointId).toBe(3);
  });

  test("barrier handler - aligned next barrier held on every channel completes during release", () => {
    const { h, take } = setup(2, "aligned");
    h.onBarrier(0, b(1));
    h.onRecords(0, ["0:a"]);
    h.onBarrier(0, b(2));
    h.onRecords(0, ["0:b"]);
    h.onRecords(1, ["1:a"]);
    h.onBarrier(1, b(1));
    // channel 1's input after barrier 1 arrives only now, so it is not held
    expect(take()).toEqual([rec(1, "1:a"), snap(1), rec(0, "0:a")]);
    h.onRecords(1, ["1:b"]);
    h.onBarrier(1, b(2));
    h.onRecords(1, ["1:c"]);
    expect(take()).toEqual([rec(1, "1:b"), snap(2), rec(0, "0:b"), rec(1, "1:c")]);
  });

  test("barrier handler - aligned release of two held queues each ending in the next barrier", () => {
    // Channels 0 and 1 both queue [records, barrier 2, records] behind barrier 1; channel 2 is the
    // last to deliver barrier 1 and has already delivered nothing else.
    const { h, take } = setup(3, "aligned");
    for (const c of [0, 1]) {
      h.onBarrier(c, b(1));
      h.onRecords(c, [`${c}:a`]);
      h.onBarrier(c, b(2));
      h.onRecords(c, [`${c}:b`]);
    }
    h.onBarrier(2, b(1));
    expect(take()).toEqual([snap(1), rec(0, "0:a"), rec(1, "1:a")]);
    expect(h.pendingCheckpointId).toBe(2);
    expect([h.heldCount(0), h.heldCount(1), h.heldCount(2)]).toEqual([1, 1, 0]);
    h.onRecords(2, ["2:a"]);
    h.onBarrier(2, b(2));
    expect(take()).toEqual([rec(2, "2:a"), snap(2), rec(0, "0:b"), rec(1, "1:b")]);
  });

  test("barrier handler - aligned newer barrier aborts the unfinished older one", () => {
    const { h, take, reasons } = setup(3, "aligned");
    h.onBarrier(0, b(1));
    h.onRecords(0, ["0:a"]); // held for 1
    h.onBarrier(1, b(1));
    h.onRecords(1, ["1:a"]); // held for 1
    expect(take()).toEqual([]);
    // channel 2 skipped barrier 1 (it was overtaken / lost upstream) and delivers 2
    h.onRecords(2, ["2:a"]);
    h.onBarrier(2, b(2));
    expect(take()).toEqual([rec(2, "2:a"), abort(1), rec(0, "0:a"), rec(1, "1:a")]);
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toContain("1");
    expect(reasons[0]).toContain("2");
    // a new alignment for 2 has started, holding channel 2
    expect(h.pendingCheckpointId).toBe(2);
    expect(h.lastFinishedCheckpointId).toBe(1);
    expect(h.isBlocked(2)).toBe(true);
    expect(h.isBlocked(0)).toBe(false);
    h.onRecords(2, ["2:b"]); // held for 2
    h.onRecords(0, ["0:b"]);
    h.onBarrier(0, b(2));
    h.onRecords(0, ["0:c"]); // held for 2
    h.onBarrier(1, b(2));
    // released channel by channel, each in its own order
    expect(take()).toEqual([rec(0, "0:b"), snap(2), rec(0, "0:c"), rec(2, "2:b")]);
    expect(h.lastFinishedCheckpointId).toBe(2);
  });

  test("barrier handler - aligned late barriers of an aborted checkpoint are ignored", () => {
    const { h, take } = setup(3, "aligned");
    h.onBarrier(0, b(1));
    h.onBarrier(1, b(2)); // aborts 1
    expect(take()).toEqual([abort(1)]);
    h.onBarrier(2, b(1)); // late: must neither block channel 2 nor restart checkpoint 1
    expect(h.isBlocked(2)).toBe(false);
    expect(h.pendingCheckpointId).toBe(2);
    h.onRecords(2, ["2:a"]);
    expect(take()).toEqual([rec(2, "2:a")]);
    h.onBarrier(0, b(2));
    h.onBarrier(2, b(2));
    expect(take()).toEqual([snap(2)]);
    // and after completion, a duplicate barrier 2 or a late 1 does nothing
    h.onBarrier(1, b(1));
    h.onBarrier(1, b(2));
    h.onRecords(1, ["1:a"]);
    expect(take()).toEqual([rec(1, "1:a")]);
    expect(h.pendingCheckpointId).toBeUndefined();
  });

  test("barrier handler - aligned older barrier while a newer one aligns is ignored", () => {
    const { h, take } = setup(2, "aligned");
    h.onBarrier(0, b(3));
    h.onBarrier(1, b(2)); // older than the one aligning
    expect(h.isBlocked(1)).toBe(false);
    h.onRecords(1, ["1:a"]);
    h.onBarrier(1, b(3));
    expect(take()).toEqual([rec(1, "1:a"), snap(3)]);
    expect(h.lastFinishedCheckpointId).toBe(3);
  });

  test("barrier handler - aligned abort while held input contains the new barrier completes it", () => {
    const { h, take } = setup(2, "aligned");
    h.onBarrier(0, b(1));
    h.onRecords(0, ["0:a"]);
    h.onBarrier(0, b(2)); // queued behind 1
    h.onRecords(0, ["0:b"]);
    h.onBarrier(1, b(2)); // channel 1 skipped 1: aborts it; channel 0's release delivers 2
    expect(take()).toEqual([abort(1), rec(0, "0:a"), snap(2), rec(0, "0:b")]);
    expect(h.pendingCheckpointId).toBeUndefined();
    expect(h.heldCount(0)).toBe(0);
  });

  test("barrier handler - aligned abort chain through held input", () => {
    // Release after aborting 1 meets barrier 3 on channel 1, which aborts 2 in turn.
    const { h, take } = setup(3, "aligned");
    h.onBarrier(0, b(1));
    h.onBarrier(1, b(1));
    h.onRecords(1, ["1:a"]);
    h.onBarrier(1, b(3));
    h.onRecords(1, ["1:b"]);
    h.onBarrier(2, b(2)); // aborts 1, starts 2; release of channel 1 then reaches barrier 3
    expect(take()).toEqual([abort(1), rec(1, "1:a"), abort(2)]);
    expect(h.pendingCheckpointId).toBe(3);
    expect(h.isBlocked(1)).toBe(true);
    expect(h.isBlocked(2)).toBe(false);
    expect(h.heldCount(1)).toBe(1);
    h.onBarrier(0, b(3));
    h.onBarrier(2, b(3));
    expect(take()).toEqual([snap(3), rec(1, "1:b")]);
  });

  test("barrier handler - aligned abortCheckpoint from the coordinator releases input", () => {
    const { h, take } = setup(2, "aligned");
    h.onBarrier(0, b(1));
    h.onRecords(0, ["0:a"]);
    h.onRecords(0, ["0:b"]);
    expect(take()).toEqual([]);
    h.abortCheckpoint(1);
    // the coordinator initiated it, so no abort callback: just the release
    expect(take()).toEqual([rec(0, "0:a"), rec(0, "0:b")]);
    expect(h.pendingCheckpointId).toBeUndefined();
    expect(h.lastFinishedCheckpointId).toBe(1);
    expect(h.isBlocked(0)).toBe(false);
    // the late barrier 1 of channel 1 is ignored
    h.onBarrier(1, b(1));
    h.onRecords(1, ["1:a"]);
    h.onRecords(0, ["0:c"]);
    expect(take()).toEqual([rec(1, "1:a"), rec(0, "0:c")]);
    // the next checkpoint aligns normally
    h.onBarrier(1, b(2));
    h.onBarrier(0, b(2));
    expect(take()).toEqual([snap(2)]);
  });

  test("barrier handler - aligned abortCheckpoint releases up to a queued next barrier", () => {
    const { h, take } = setup(2, "aligned");
    h.onBarrier(0, b(1));
    h.onRecords(0, ["0:a"]);
    h.onBarrier(0, b(2));
    h.onRecords(0, ["0:b"]);
    h.abortCheckpoint(1);
    expect(take()).toEqual([rec(0, "0:a")]);
    expect(h.pendingCheckpointId).toBe(2);
    expect(h.heldCount(0)).toBe(1);
    h.onBarrier(1, b(2));
    expect(take()).toEqual([snap(2), rec(0, "0:b")]);
  });

  test("barrier handler - aligned abortCheckpoint of a checkpoint not yet seen ignores its barriers", () => {
    const { h, take } = setup(2, "aligned");
    h.abortCheckpoint(4);
    expect(h.lastFinishedCheckpointId).toBe(4);
    h.onBarrier(0, b(4));
    expect(h.isBlocked(0)).toBe(false);
    h.onRecords(0, ["0:a"]);
    h.onBarrier(1, b(4));
    expect(take()).toEqual([rec(0, "0:a")]);
    h.onBarrier(0, b(5));
    h.onBarrier(1, b(5));
    expect(take()).toEqual([snap(5)]);
  });

  test("barrier handler - aligned abortCheckpoint of an old id leaves the pending one aligning", () => {
    const { h, take } = setup(2, "aligned");
    h.onBarrier(0, b(3));
    h.onRecords(0, ["0:a"]);
    h.abortCheckpoint(2);
    expect(h.pendingCheckpointId).toBe(3);
    expect(h.heldCount(0)).toBe(1);
    expect(take()).toEqual([]);
    h.onBarrier(1, b(3));
    expect(take()).toEqual([snap(3), rec(0, "0:a")]);
  });

  test("barrier handler - aligned abortCheckpoint of a newer id abandons the older pending one", () => {
    // Otherwise barrier 2 of channel 1 would count as late (2 <= 3) and be ignored without
    // blocking, while checkpoint 2 could still complete with channel 1's later records in it.
    const { h, take } = setup(3, "aligned");
    h.onBarrier(0, b(2));
    h.onRecords(0, ["0:a"]);
    h.abortCheckpoint(3);
    expect(take()).toEqual([rec(0, "0:a")]);
    expect(h.pendingCheckpointId).toBeUndefined();
    expect(h.lastFinishedCheckpointId).toBe(3);
    h.onBarrier(1, b(2));
    h.onRecords(1, ["1:a"]);
    h.onEndOfInput(2);
    h.onBarrier(0, b(3));
    h.onBarrier(1, b(3));
    expect(take()).toEqual([rec(1, "1:a")]);
    h.onBarrier(0, b(4));
    h.onBarrier(1, b(4));
    expect(take()).toEqual([snap(4)]);
  });

  test("barrier handler - aligned end of input closes a channel that then need not deliver the barrier", () => {
    const { h, take } = setup(3, "aligned");
    h.onRecords(2, ["2:a"]);
    h.onEndOfInput(2);
    expect(take()).toEqual([rec(2, "2:a")]);
    h.onBarrier(0, b(1));
    h.onRecords(0, ["0:a"]);
    h.onBarrier(1, b(1)); // channels 0 and 1 are all the open ones
    expect(take()).toEqual([snap(1), rec(0, "0:a")]);
  });

  test("barrier handler - aligned end of the last missing channel completes the alignment", () => {
    const { h, take } = setup(3, "aligned");
    h.onBarrier(0, b(1));
    h.onRecords(0, ["0:a"]);
    h.onBarrier(1, b(1));
    h.onRecords(1, ["1:a"]);
    h.onRecords(2, ["2:a"]);
    expect(take()).toEqual([rec(2, "2:a")]);
    h.onEndOfInput(2);
    expect(take()).toEqual([snap(1), rec(0, "0:a"), rec(1, "1:a")]);
    h.onEndOfInput(0);
    expect(take()).toEqual([]);
    h.onEndOfInput(1);
    expect(take()).toEqual([end]);
  });

  test("barrier handler - aligned end held behind a barrier is replayed after the snapshot", () => {
    const { h, take } = setup(2, "aligned");
    h.onBarrier(0, b(1));
    h.onRecords(0, ["0:a"]);
    h.onEndOfInput(0); // held
    expect(h.heldCount(0)).toBe(2);
    h.onEndOfInput(1); // closes channel 1: alignment of 1 completes, then channel 0 ends
    expect(take()).toEqual([snap(1), rec(0, "0:a"), end]);
    expect(h.heldCount(0)).toBe(0);
  });

  test("barrier handler - aligned endOfInput fires once, when every channel has ended", () => {
    const { h, take } = setup(3, "aligned");
    h.onEndOfInput(1);
    h.onEndOfInput(0);
    expect(take()).toEqual([]);
    h.onRecords(2, ["2:a"]);
    h.onBarrier(2, b(1)); // the only open channel: completes at once
    h.onEndOfInput(2);
    expect(take()).toEqual([rec(2, "2:a"), snap(1), end]);
    h.abortCheckpoint(2);
    expect(take()).toEqual([]);
  });

  test("barrier handler - aligned input after end throws", () => {
    const { h, take } = setup(2, "aligned");
    h.onEndOfInput(0);
    expect(() => h.onRecords(0, ["x"])).toThrow(/channel 0/);
    expect(() => h.onBarrier(0, b(1))).toThrow(/channel 0/);
    expect(() => h.onEndOfInput(0)).toThrow(/channel 0/);
    expect(take()).toEqual([]);
    h.onRecords(1, ["1:a"]); // the other channel is unaffected
    expect(take()).toEqual([rec(1, "1:a")]);
  });

  test("barrier handler - aligned input after a held end throws", () => {
    const { h, take } = setup(2, "aligned");
    h.onBarrier(0, b(1));
    h.onEndOfInput(0); // held behind barrier 1, not yet handled
    expect(() => h.onRecords(0, ["x"])).toThrow(/channel 0/);
    expect(() => h.onBarrier(0, b(2))).toThrow(/channel 0/);
    expect(() => h.onEndOfInput(0)).toThrow(/channel 0/);
    h.onBarrier(1, b(1));
    h.onEndOfInput(1);
    // nothing was processed on channel 0 after its end
    expect(take()).toEqual([snap(1), end]);
  });

  test("barrier handler - aligned alignmentMs uses the injected clock", () => {
    const { h, take, clock } = setup(3, "aligned");
    clock.now = 10;
    h.onBarrier(1, b(1));
    clock.now = 17;
    h.onBarrier(0, b(1));
    clock.now = 25;
    h.onBarrier(2, b(1));
    expect(take()).toEqual([snap(1, 15)]);
    // an overtaking barrier restarts the clock for the new alignment
    clock.now = 100;
    h.onBarrier(0, b(2));
    clock.now = 130;
    h.onBarrier(1, b(3)); // aborts 2 at t=130
    clock.now = 131;
    h.onBarrier(0, b(3));
    clock.now = 142;
    h.onBarrier(2, b(3));
    expect(take()).toEqual([abort(2), snap(3, 12)]);
    // coming from end of input
    clock.now = 200;
    h.onBarrier(0, b(4));
    clock.now = 203;
    h.onBarrier(1, b(4));
    clock.now = 250;
    h.onEndOfInput(2);
    expect(take()).toEqual([snap(4, 50)]);
  });

  test("barrier handler - aligned default clock is performance.now", () => {
    const snapshots: number[] = [];
    const h = new BarrierHandler<string[]>(1, "aligned", {
      processRecords: () => {},
      snapshot: (_b, ms) => snapshots.push(ms),
      abort: () => {},
      endOfInput: () => {},
    });
    h.onBarrier(0, b(1));
    expect(snapshots).toHaveLength(1);
    expect(snapshots[0]).toBeGreaterThanOrEqual(0);
    expect(snapshots[0]).toBeLessThan(1000);
  });
});

// ---------------------------------------------------------------------------------------------
// Scripted: unaligned

describe("barrier handler - unaligned", () => {
  test("barrier handler - unaligned never holds: records after the barrier precede the snapshot", () => {
    const { h, take } = setup(3, "unaligned");
    h.onRecords(0, ["0:a"]);
    h.onBarrier(0, b(1));
    expect(h.pendingCheckpointId).toBe(1);
    expect(h.isBlocked(0)).toBe(false);
    h.onRecords(0, ["0:b"]); // fast channel: processed at once
    h.onBarrier(1, b(1));
    h.onRecords(1, ["1:a"]);
    h.onRecords(2, ["2:a"]);
    for (let c = 0; c < 3; c++) expect(h.heldCount(c)).toBe(0);
    expect(take()).toEqual([rec(0, "0:a"), rec(0, "0:b"), rec(1, "1:a"), rec(2, "2:a")]);
    h.onBarrier(2, b(1));
    expect(take()).toEqual([snap(1)]);
    expect(h.pendingCheckpointId).toBeUndefined();
    expect(h.lastFinishedCheckpointId).toBe(1);
  });

  test("barrier handler - unaligned newer barrier aborts the older, late barriers ignored", () => {
    const { h, take } = setup(2, "unaligned");
    h.onBarrier(0, b(1));
    h.onRecords(0, ["0:a"]);
    h.onBarrier(0, b(2)); // channel 0 overtakes: 1 is abandoned
    h.onRecords(0, ["0:b"]);
    expect(take()).toEqual([rec(0, "0:a"), abort(1), rec(0, "0:b")]);
    expect(h.pendingCheckpointId).toBe(2);
    h.onBarrier(1, b(1)); // late
    expect(h.pendingCheckpointId).toBe(2);
    h.onRecords(1, ["1:a"]);
    h.onBarrier(1, b(2));
    expect(take()).toEqual([rec(1, "1:a"), snap(2)]);
  });

  test("barrier handler - unaligned abortCheckpoint forgets the pending checkpoint", () => {
    const { h, take } = setup(2, "unaligned");
    h.onBarrier(0, b(1));
    h.abortCheckpoint(1);
    expect(h.pendingCheckpointId).toBeUndefined();
    h.onBarrier(1, b(1));
    h.onRecords(1, ["1:a"]);
    expect(take()).toEqual([rec(1, "1:a")]);
  });

  test("barrier handler - unaligned end of input and alignmentMs", () => {
    const { h, take, clock } = setup(2, "unaligned");
    clock.now = 5;
    h.onBarrier(0, b(1));
    h.onRecords(0, ["0:a"]);
    h.onEndOfInput(0);
    expect(() => h.onRecords(0, ["x"])).toThrow(/channel 0/);
    clock.now = 9;
    h.onBarrier(1, b(1));
    h.onEndOfInput(1);
    expect(take()).toEqual([rec(0, "0:a"), snap(1, 4), end]);
  });
});

describe("barrier handler - constructor", () => {
  test("barrier handler - constructor rejects numChannels < 1", () => {
    const out: BarrierHandlerOutput<string[]> = {
      processRecords: () => {},
      snapshot: () => {},
      abort: () => {},
      endOfInput: () => {},
    };
    for (const n of [0, -1, 1.5, Number.NaN]) {
      expect(() => new BarrierHandler(n, "aligned", out)).toThrow(RangeError);
    }
    expect(() => new BarrierHandler(1, "unaligned", out)).not.toThrow();
  });
});

// ---------------------------------------------------------------------------------------------
// Randomised (Flink's AlignedCheckpointsMassiveRandomTest)

/** mulberry32: a tiny seeded PRNG returning floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [lo, hi]. */
function int(rng: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

type El = { kind: "records"; records: string[] } | { kind: "barrier"; id: number } | { kind: "end" };

/** One generated channel: its elements, and its records in order. */
interface Channel {
  els: El[];
  records: string[];
  /** Element index of barrier `id`, if this channel carries it. */
  barrierAt: Map<number, number>;
}

interface GenOptions {
  /** Probability that a channel omits a given barrier. */
  skip: number;
  /** Probability, per fed element, that the coordinator then aborts a checkpoint. */
  coordinatorAbort?: number;
}

/**
 * A channel carrying numbered records `c:i` and barriers 1..m in increasing order (some omitted
 * when `skip` > 0); it may end early after some barrier; it always ends with end of input.
 */
function genChannel(rng: () => number, c: number, m: number, opts: GenOptions): Channel {
  const els: El[] = [];
  const records: string[] = [];
  const barrierAt = new Map<number, number>();
  const pushRecords = () => {
    for (let k = int(rng, 0, 3); k > 0; k--) {
      const batch: string[] = [];
      for (let j = int(rng, 1, 2); j > 0; j--) batch.push(`${c}:${records.length + batch.length}`);
      records.push(...batch);
      els.push({ kind: "records", records: batch });
    }
  };
  const endAfter = rng() < 0.25 ? int(rng, 0, m - 1) : m;
  for (let id = 1; id <= endAfter; id++) {
    pushRecords();
    if (rng() >= opts.skip) {
      barrierAt.set(id, els.length);
      els.push({ kind: "barrier", id });
    }
  }
  pushRecords();
  els.push({ kind: "end" });
  return { els, records, barrierAt };
}

/** Records of `ch` before element index `idx`. */
function recordsBefore(ch: Channel, idx: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < idx; i++) {
    const el = ch.els[i];
    if (el.kind === "records") out.push(...el.records);
  }
  return out;
}

const sorted = (xs: Iterable<string>) => [...xs].sort();

/** Throws `message` unless `ok`. */
function check(ok: boolean, message: () => string): void {
  if (!ok) throw new Error(message());
}

/** Runs `body(seed)` for `iterations` seeds; a failure names its seed so it reproduces. */
function forSeeds(base: number, iterations: number, body: (seed: number) => void): void {
  const only = process.env.BARRIER_SEED;
  const seeds = only !== undefined ? [Number(only)] : Array.from({ length: iterations }, (_, i) => base + i);
  for (const seed of seeds) {
    try {
      body(seed);
    } catch (e) {
      const msg = `seed ${seed} (rerun with BARRIER_SEED=${seed}): ${e instanceof Error ? e.message : e}`;
      console.error(msg);
      throw new Error(msg, { cause: e });
    }
  }
}

/**
 * One random run: K channels, M barriers, random interleaving. Checks the invariants of `mode`
 * at every snapshot, after every step and at the end; returns the snapshot ids.
 */
function randomRun(seed: number, mode: AlignmentMode, opts: GenOptions): { snapshots: number[]; channels: Channel[] } {
  const rng = mulberry32(seed);
  const k = int(rng, 1, 5);
  const m = int(rng, 1, 8);
  const channels = Array.from({ length: k }, (_, c) => genChannel(rng, c, m, opts));
  const speed = channels.map(() => 0.1 + rng()); // skew: some channels run far ahead
  const fed = new Array<number>(k).fill(0);
  const processed: string[][] = channels.map(() => []);
  const processedSet = new Set<string>();
  const snapshots: number[] = [];
  const finished: number[] = []; // snapshot and abort ids in order
  let ends = 0;
  let h: BarrierHandler<string[]>;
  const handled = (c: number) => fed[c] - h.heldCount(c);
  const label = `K=${k} M=${m} mode=${mode}`;
  const trace = process.env.BARRIER_TRACE ? (line: string) => console.log(line) : () => {};

  const out: BarrierHandlerOutput<string[]> = {
    processRecords(c, records) {
      trace(`  -> processRecords ${c} ${records}`);
      check(ends === 0, () => `records of channel ${c} after endOfInput`);
      for (const r of records) {
        const expected = channels[c].records[processed[c].length];
        check(r === expected, () => `channel ${c}: processed ${r}, expected ${expected} (per-channel order)`);
        check(!processedSet.has(r), () => `${r} processed twice`);
        processed[c].push(r);
        processedSet.add(r);
      }
    },
    snapshot(barrier, alignmentMs) {
      const n = barrier.checkpointId;
      trace(`  -> snapshot ${n}`);
      check(barrier.timestamp === 1000 * n, () => `snapshot ${n} got barrier ${JSON.stringify(barrier)}`);
      check(alignmentMs === 0, () => `alignmentMs ${alignmentMs} with a frozen clock`);
      check(ends === 0, () => `snapshot ${n} after endOfInput`);
      // exactly the records before barrier n on each channel; all of a channel without barrier n
      const exact = new Set<string>();
      for (let c = 0; c < k; c++) {
        const ch = channels[c];
        const at = ch.barrierAt.get(n);
        const done = handled(c);
        if (at === undefined) {
          // the channel never delivers barrier n, so it must have ended (end handled)
          check(done === ch.els.length, () => `snapshot ${n} while channel ${c} (no barrier ${n}) is open`);
          for (const r of ch.records) exact.add(r);
        } else {
          check(done > at, () => `snapshot ${n} before channel ${c} delivered barrier ${n}`);
          if (mode === "aligned") {
            check(done === at + 1, () => `aligned snapshot ${n}: channel ${c} went past barrier ${n}`);
          }
          for (const r of recordsBefore(ch, at)) exact.add(r);
        }
        // no barrier newer than n may have been handled anywhere
        for (const [id, idx] of ch.barrierAt) {
          if (id > n) check(done <= idx, () => `snapshot ${n} after channel ${c} delivered barrier ${id}`);
        }
      }
      if (mode === "aligned") {
        check(
          processedSet.size === exact.size && [...exact].every((r) => processedSet.has(r)),
          () => `aligned snapshot ${n}: processed ${sorted(processedSet)} != expected ${sorted(exact)}`,
        );
      } else {
        const missing = [...exact].filter((r) => !processedSet.has(r));
        check(missing.length === 0, () => `unaligned snapshot ${n}: missing ${missing}`);
      }
      check(finished.length === 0 || n > finished.at(-1)!, () => `snapshot ${n} after ${finished}`);
      snapshots.push(n);
      finished.push(n);
    },
    abort(id) {
      trace(`  -> abort ${id}`);
      check(!finished.includes(id), () => `abort ${id} after it finished (${finished})`);
      check(finished.length === 0 || id > finished.at(-1)!, () => `abort ${id} after ${finished}`);
      finished.push(id);
    },
    endOfInput() {
      ends++;
    },
  };
  h = new BarrierHandler<string[]>(k, mode, out, () => 0);

  try {
    // Interleave the channels randomly, preserving each channel's order.
    for (;;) {
      const live = channels.map((ch, c) => (fed[c] < ch.els.length ? c : -1)).filter((c) => c >= 0);
      if (live.length === 0) break;
      const total = live.reduce((s, c) => s + speed[c], 0);
      let x = rng() * total;
      let c = live[live.length - 1];
      for (const cc of live) {
        x -= speed[cc];
        if (x < 0) {
          c = cc;
          break;
        }
      }
      const el = channels[c].els[fed[c]++];
      trace(`channel ${c}: ${show(el)}`);
      if (el.kind === "records") h.onRecords(c, el.records);
      else if (el.kind === "barrier") h.onBarrier(c, { checkpointId: el.id, timestamp: 1000 * el.id });
      else h.onEndOfInput(c);

      if (rng() < (opts.coordinatorAbort ?? 0)) {
        const pending = h.pendingCheckpointId;
        if (pending !== undefined && rng() < 0.7) {
          check(finished.length === 0 || pending > finished.at(-1)!, () => `pending ${pending} after ${finished}`);
          finished.push(pending);
          trace(`coordinator abort ${pending} (pending)`);
          h.abortCheckpoint(pending);
        } else {
          // an id that is not aligning here (old, or not yet seen): its barriers are ignored
          const id = int(rng, 1, m);
          if (pending === undefined && id > h.lastFinishedCheckpointId) finished.push(id);
          trace(`coordinator abort ${id} (pending ${pending})`);
          h.abortCheckpoint(id);
        }
      }

      for (let cc = 0; cc < k; cc++) {
        if (mode === "unaligned") {
          check(h.heldCount(cc) === 0 && !h.isBlocked(cc), () => `unaligned held input on channel ${cc}`);
        } else {
          // held input only ever waits on a blocked channel
          check(h.heldCount(cc) === 0 || h.isBlocked(cc), () => `channel ${cc} holds input but is not blocked`);
        }
      }
    }

    check(ends === 1, () => `endOfInput fired ${ends} times`);
    for (let c = 0; c < k; c++) {
      check(h.heldCount(c) === 0, () => `channel ${c} still holds ${h.heldCount(c)} at the end`);
      check(
        processed[c].length === channels[c].records.length,
        () => `channel ${c}: processed ${processed[c].length} of ${channels[c].records.length} records`,
      );
    }
    check(h.pendingCheckpointId === undefined, () => `checkpoint ${h.pendingCheckpointId} pending at the end`);
  } catch (e) {
    const trace = channels.map((ch, c) => `  ${c}: ${ch.els.map(show).join(" ")}`).join("\n");
    throw new Error(`${label}: ${e instanceof Error ? e.message : e}\n${trace}\n  snapshots ${snapshots}`);
  }
  return { snapshots, channels };
}

function show(el: El): string {
  return el.kind === "records" ? el.records.join(",") : el.kind === "barrier" ? `|${el.id}|` : "END";
}

/** Barrier ids carried by at least one channel. */
function idsAnywhere(channels: Channel[]): number[] {
  const ids = new Set<number>();
  for (const ch of channels) for (const id of ch.barrierAt.keys()) ids.add(id);
  return [...ids].sort((a, b) => a - b);
}

describe("barrier handler - randomised", () => {
  const iterations = Number(process.env.BARRIER_ITERATIONS ?? 3000);

  test("barrier handler - randomised aligned snapshots exactly the records before each barrier", () => {
    forSeeds(1, iterations, (seed) => {
      const { snapshots, channels } = randomRun(seed, "aligned", { skip: 0 });
      // every channel carries every barrier until it ends, so nothing is ever aborted and every
      // barrier that appears anywhere is snapshotted, in order
      expect(snapshots).toEqual(idsAnywhere(channels));
    });
  });

  test("barrier handler - randomised unaligned never holds and snapshots a superset", () => {
    forSeeds(100_001, iterations, (seed) => {
      randomRun(seed, "unaligned", { skip: 0 });
    });
  });

  test("barrier handler - randomised aligned with skipped barriers", () => {
    forSeeds(200_001, iterations, (seed) => {
      const { snapshots, channels } = randomRun(seed, "aligned", { skip: 0.3 });
      // a barrier carried by every channel cannot be overtaken while aligning, so it completes
      for (const id of idsAnywhere(channels)) {
        if (channels.every((ch) => ch.barrierAt.has(id))) {
          check(snapshots.includes(id), () => `barrier ${id} is on every channel but was not snapshotted`);
        }
      }
    });
  });

  test("barrier handler - randomised unaligned with skipped barriers", () => {
    forSeeds(300_001, iterations, (seed) => {
      randomRun(seed, "unaligned", { skip: 0.3 });
    });
  });

  test("barrier handler - randomised aligned with coordinator aborts", () => {
    forSeeds(400_001, iterations, (seed) => {
      randomRun(seed, "aligned", { skip: 0.2, coordinatorAbort: 0.05 });
    });
  });

  test("barrier handler - randomised unaligned with coordinator aborts", () => {
    forSeeds(500_001, iterations, (seed) => {
      randomRun(seed, "unaligned", { skip: 0.2, coordinatorAbort: 0.05 });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Watermarks: held and replayed in order with the records around them

describe("barrier handler - watermarks", () => {
  /** A handler logging records, watermarks and snapshots in one sequence. */
  function withWatermarks(mode: AlignmentMode) {
    const log: string[] = [];
    const h = new BarrierHandler<string[]>(2, mode, {
      processRecords: (c, r) => log.push(`r${c}:${r.join(",")}`),
      processWatermark: (c, t) => log.push(`w${c}:${t}`),
      snapshot: (barrier) => log.push(`s${barrier.checkpointId}`),
      abort: (id) => log.push(`a${id}`),
      endOfInput: () => log.push("end"),
    });
    return { h, log };
  }

  test("barrier handler - aligned: a watermark after the barrier waits, in order, until alignment", () => {
    const { h, log } = withWatermarks("aligned");
    h.onWatermark(0, 5);
    h.onBarrier(0, b(1));
    h.onRecords(0, ["x"]);
    h.onWatermark(0, 10); // held behind x
    h.onWatermark(1, 7); // channel 1 not blocked
    expect(log).toEqual(["w0:5", "w1:7"]);
    h.onBarrier(1, b(1));
    expect(log).toEqual(["w0:5", "w1:7", "s1", "r0:x", "w0:10"]);
  });

  test("barrier handler - unaligned: watermarks are never held", () => {
    const { h, log } = withWatermarks("unaligned");
    h.onBarrier(0, b(1));
    h.onWatermark(0, 10);
    h.onEndOfInput(0);
    h.onWatermark(1, 3);
    h.onEndOfInput(1);
    expect(log).toEqual(["w0:10", "w1:3", "s1", "end"]);
  });
});
