/**
 * @module
 * Tests for {@link WindowState}: scripted examples of firing, revisions under allowed lateness,
 * late events and cleanup, and fast-check properties against a brute-force recount: every
 * window's last revision counts exactly its on-time events, on-time + late = all, revisions run
 * 1, 2, … per (key, window), state holds no window past its cleanup time, and a snapshot restored
 * into a fresh state continues exactly as the original.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { isLate, type WindowDelta, type WindowResult, type WindowSnapshot, WindowState, windowStartOf } from "./window_state.ts";

const take = (w: WindowState, id: number) => {
  const r = w.snapshot(id).results;
  w.notifyCheckpointComplete(id);
  return r;
};

describe("window state", () => {
  test("window state - fires once the watermark reaches the window's max timestamp, then drops it", () => {
    const w = new WindowState({ sizeMs: 1000 });
    expect(w.add("a", 10)).toBe(true);
    expect(w.add("a", 999)).toBe(true);
    expect(w.add("b", 500)).toBe(true);
    expect(w.add("a", 1000)).toBe(true);
    w.advanceWatermark(998);
    expect(take(w, 1)).toEqual([]);
    w.advanceWatermark(999);
    expect(take(w, 2)).toEqual([
      { key: "a", windowStart: 0, windowEnd: 1000, count: 2, revision: 1 },
      { key: "b", windowStart: 0, windowEnd: 1000, count: 1, revision: 1 },
    ]);
    expect(w.openWindows).toBe(1); // lateness 0: dropped at once; [1000, 2000) stays
    expect(w.add("a", 999)).toBe(false); // late
    expect(w.entries).toBe(1);
  });

  test("window state - allowed lateness: updates are new revisions until the cleanup time", () => {
    const w = new WindowState({ sizeMs: 1000, allowedLatenessMs: 500 });
    w.add("a", 1);
    w.advanceWatermark(1200);
    expect(take(w, 1)).toEqual([{ key: "a", windowStart: 0, windowEnd: 1000, count: 1, revision: 1 }]);
    expect(w.add("a", 2)).toBe(true);
    expect(w.add("a", 3)).toBe(true);
    expect(w.add("c", 4)).toBe(true);
    w.flushUpdates(); // coalesced: one revision for both of a's updates
    expect(w.add("a", 5)).toBe(true);
    expect(take(w, 2)).toEqual([
      { key: "a", windowStart: 0, windowEnd: 1000, count: 3, revision: 2 },
      { key: "c", windowStart: 0, windowEnd: 1000, count: 1, revision: 1 },
      { key: "a", windowStart: 0, windowEnd: 1000, count: 4, revision: 3 },
    ]);
    w.advanceWatermark(1499);
    expect(w.openWindows).toBe(0);
    expect(w.add("a", 6)).toBe(false);
    expect(isLate(6, 1499, 1000, 500)).toBe(true);
    expect(isLate(6, 1498, 1000, 500)).toBe(false);
  });

  test("window state - a window first seen within the lateness fires with the next flush", () => {
    const w = new WindowState({ sizeMs: 1000, allowedLatenessMs: 5000 });
    w.advanceWatermark(3000);
    expect(w.add("k", 100)).toBe(true);
    w.flushUpdates();
    expect(take(w, 1)).toEqual([{ key: "k", windowStart: 0, windowEnd: 1000, count: 1, revision: 1 }]);
  });

  test("window state - an aborted checkpoint's results go with the next one", () => {
    const w = new WindowState({ sizeMs: 10 });
    w.add("a", 1);
    w.advanceWatermark(9);
    const first = w.snapshot(1).results;
    expect(first).toHaveLength(1);
    w.add("b", 15);
    w.advanceWatermark(19);
    // 1 never completes
    expect(w.snapshot(2).results.map((r) => r.key)).toEqual(["a", "b"]);
    w.notifyCheckpointComplete(1); // older than the carrier: nothing forgotten
    expect(w.pendingResults).toBe(2);
    w.notifyCheckpointComplete(2);
    expect(w.pendingResults).toBe(0);
    expect(w.snapshot(3).results).toEqual([]);
  });

  /** `checkpoint`: whether that checkpoint completes (false: it is aborted, never applied). */
  type Op = { add: [string, number] } | { wm: number } | { flush: true } | { checkpoint: boolean };
  const ops = (maxTs: number) =>
    fc.array(
      fc.oneof(
        { weight: 6, arbitrary: fc.record({ add: fc.tuple(fc.constantFrom("a", "b", "c", "__proto__"), fc.nat(maxTs)) }) },
        { weight: 2, arbitrary: fc.record({ wm: fc.integer({ min: -10, max: maxTs + 100 }) }) },
        { weight: 1, arbitrary: fc.record({ flush: fc.constant(true as const) }) },
        { weight: 1, arbitrary: fc.record({ checkpoint: fc.boolean() }) },
      ) as fc.Arbitrary<Op>,
      { maxLength: 300 },
    );

  /** Runs `ops`, then a final watermark past everything; returns every result and the late events. */
  const run = (w: WindowState, list: Op[], onStep?: (w: WindowState) => void) => {
    const results: WindowResult[] = [];
    let id = 0;
    const late: [string, number][] = [];
    const onTime: [string, number][] = [];
    for (const op of list) {
      if ("add" in op) (w.add(op.add[0], op.add[1]) ? onTime : late).push(op.add);
      else if ("wm" in op) w.advanceWatermark(op.wm);
      else if ("flush" in op) w.flushUpdates();
      else if (op.checkpoint) results.push(...take(w, ++id));
      else w.snapshot(++id); // aborted: its results go with the next completed one
      onStep?.(w);
    }
    w.advanceWatermark(Number.MAX_SAFE_INTEGER);
    results.push(...take(w, ++id));
    return { results, late, onTime };
  };

  test("window state - property: last revision = on-time events, on-time + late = all, revisions 1..n, bounded state", () => {
    fc.assert(
      fc.property(ops(5000), fc.integer({ min: 1, max: 700 }), fc.nat(1500), (list, size, lateness) => {
        const w = new WindowState({ sizeMs: size, allowedLatenessMs: lateness });
        const { results, late, onTime } = run(w, list, (s) => {
          // bounded: nothing open whose cleanup time the watermark reached
          for (const start of s.windowStarts()) expect(start + size - 1 + lateness).toBeGreaterThan(s.watermark);
        });
        // brute force: replay to judge lateness independently
        let mark = -Infinity;
        const expectOnTime = new Map<string, number>();
        let expectLate = 0;
        for (const op of list) {
          if ("wm" in op) mark = Math.max(mark, op.wm);
          if (!("add" in op)) continue;
          const [key, ts] = op.add;
          if (isLate(ts, mark, size, lateness)) expectLate++;
          else {
            const id = `${key}|${windowStartOf(ts, size)}`;
            expectOnTime.set(id, (expectOnTime.get(id) ?? 0) + 1);
          }
        }
        expect(late.length).toBe(expectLate);
        expect(late.length + onTime.length).toBe(list.filter((o) => "add" in o).length);
        const byWindow = new Map<string, WindowResult[]>();
        for (const r of results) {
          const id = `${r.key}|${r.windowStart}`;
          expect(r.windowEnd).toBe(r.windowStart + size);
          byWindow.set(id, [...(byWindow.get(id) ?? []), r]);
        }
        expect([...byWindow.keys()].sort()).toEqual([...expectOnTime.keys()].sort());
        for (const [id, rs] of byWindow) {
          expect(rs.map((r) => r.revision)).toEqual(rs.map((_, i) => i + 1));
          for (let i = 1; i < rs.length; i++) expect(rs[i].count).toBeGreaterThan(rs[i - 1].count);
          expect(rs.at(-1)!.count).toBe(expectOnTime.get(id)!);
        }
        expect(w.openWindows).toBe(0);
      }),
      { numRuns: 400 },
    );
  });

  /** A store: applies the delta of each completed checkpoint to the rows it holds. */
  class ModelStore {
    rows = new Map<string, { key: string; start: number; count: number; revision: number; fired: number }>();
    apply(d: WindowDelta) {
      for (let i = 0; i < d.keys.length; i++) {
        this.rows.set(`${d.keys[i]}|${d.starts[i]}`, { key: d.keys[i], start: d.starts[i], count: d.counts[i], revision: d.revisions[i], fired: d.fired[i] });
      }
      for (const [id, r] of this.rows) if (d.dropped.includes(r.start)) this.rows.delete(id);
    }
    state(watermark: number): WindowSnapshot {
      const rows = [...this.rows.values()];
      return {
        watermark, keys: rows.map((r) => r.key), starts: rows.map((r) => r.start), counts: rows.map((r) => r.count),
        revisions: rows.map((r) => r.revision), fired: [...new Set(rows.filter((r) => r.fired === 1).map((r) => r.start))],
      };
    }
  }
  const sorted = (s: WindowSnapshot) => {
    const rows = s.keys.map((k, i) => [k, s.starts[i], s.counts[i], s.revisions[i]].join("|")).sort();
    return { watermark: s.watermark, rows, fired: [...s.fired].sort((x, y) => x - y) };
  };

  test("window state - property: the deltas of completed checkpoints rebuild the state, and a restore continues exactly", () => {
    fc.assert(
      fc.property(ops(3000), ops(3000), fc.integer({ min: 1, max: 500 }), fc.nat(800), (before, after, size, lateness) => {
        const a = new WindowState({ sizeMs: size, allowedLatenessMs: lateness });
        const store = new ModelStore();
        let id = 0;
        for (const op of before) {
          if ("add" in op) a.add(op.add[0], op.add[1]);
          else if ("wm" in op) a.advanceWatermark(op.wm);
          else if ("flush" in op) a.flushUpdates();
          else {
            const { delta } = a.snapshot(++id);
            if (op.checkpoint) {
              store.apply(delta);
              a.notifyCheckpointComplete(id);
            }
          }
        }
        const { delta } = a.snapshot(++id);
        store.apply(delta);
        a.notifyCheckpointComplete(id);
        // fired windows hold only keys that fired with them, so "fired" of an empty window is moot
        const full = a.fullState();
        expect(sorted(store.state(a.watermark)).rows).toEqual(sorted(full).rows);
        const b = new WindowState({ sizeMs: size, allowedLatenessMs: lateness });
        b.restore(structuredClone(store.state(a.watermark)));
        expect(sorted(b.fullState()).rows).toEqual(sorted(full).rows);
        expect(run(b, after)).toEqual(run(a, after));
        expect(a.trackedEntries).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});
