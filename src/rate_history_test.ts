/**
 * @module
 * Tests for {@link RateHistory}: ring buffer order and capacity, rates over the window, counters
 * that go back, per-subtask and per-split rates.
 */
import { describe, expect, test } from "bun:test";
import { RateHistory, rateBetween, type Totals } from "./rate_history.ts";

/** Totals where every counter is `n` (per-subtask: n and 2n). */
function totals(n: number, delivered: Record<string, number> = {}): Totals {
  return {
    recordsIn: n, counted: n, committed: n, deadLettered: n / 10,
    subtasks: [{ counted: n, keys: 3 }, { counted: 2 * n, keys: 4 }], delivered,
  };
}

describe("rate history", () => {
  test("rate history - keeps the newest samples in order, up to its capacity", () => {
    const h = new RateHistory({ capacity: 3 });
    for (let i = 1; i <= 5; i++) h.add(i * 1000, totals(i));
    expect(h.samples().map((s) => s.t)).toEqual([3000, 4000, 5000]);
    expect(h.newest()?.t).toBe(5000);
    h.add(5000, totals(99)); // not later: ignored
    expect(h.newest()?.recordsIn).toBe(5);
  });

  test("rate history - a sample is a copy: later changes to the totals passed do not alter it", () => {
    const h = new RateHistory();
    const t = totals(10, { "pv.0": 5 });
    h.add(1000, t);
    t.subtasks[0].counted = 999;
    t.delivered["pv.0"] = 999;
    expect(h.samples()[0].subtasks[0].counted).toBe(10);
    expect(h.samples()[0].delivered["pv.0"]).toBe(5);
  });

  test("rate history - each point is the rate over at least the window ending at its sample", () => {
    const h = new RateHistory({ windowMs: 2000 });
    // 100 events/s for 4 s, then 1000/s.
    const at = [0, 1000, 2000, 3000, 4000, 5000, 6000];
    const n = [0, 100, 200, 300, 400, 1400, 2400];
    at.forEach((t, i) => h.add(t, totals(n[i])));
    const p = h.points();
    expect(p.map((x) => x.t)).toEqual(at.slice(1));
    // t=1000: only 1 s of history (the oldest sample); from t=2000 on, a 2 s window.
    expect(p.map((x) => x.recordsIn)).toEqual([100, 100, 100, 100, 550, 1000]);
    expect(p[5].committed).toBe(1000);
    expect(p[5].deadLettered).toBe(100);
    expect(p[5].subtasks).toEqual([1000, 2000]);
    expect(h.current()).toEqual(p[5]);
  });

  test("rate history - no rate without two samples", () => {
    const h = new RateHistory();
    expect(h.current().recordsIn).toBe(0);
    h.add(1000, totals(50));
    expect(h.points()).toEqual([]);
    expect(h.current()).toMatchObject({ t: 1000, recordsIn: 0, counted: 0, subtasks: [0, 0] });
  });

  test("rate history - a counter that went back (a process restart) is a rate of 0, not negative", () => {
    const r = rateBetween({ t: 0, ...totals(500) }, { t: 1000, ...totals(100) });
    expect(r).toMatchObject({ recordsIn: 0, counted: 0, committed: 0, deadLettered: 0, subtasks: [0, 0] });
  });

  test("rate history - per split: the read rate shared by how far each split's sequence advanced", () => {
    const a = { t: 0, ...totals(0, { "pv.0": 10, "pv.1": 10, "pv.2": 7 }) };
    const b = { t: 2000, ...totals(800, { "pv.0": 310, "pv.1": 110, "pv.2": 7 }) };
    const r = rateBetween(a, b);
    expect(r.recordsIn).toBe(400);
    expect(r.splits).toEqual({ "pv.0": 300, "pv.1": 100, "pv.2": 0 });
  });

  test("rate history - a subtask that appears later starts at rate 0", () => {
    const a = { t: 0, ...totals(0), subtasks: [{ counted: 0, keys: 0 }] };
    const b = { t: 1000, ...totals(100) };
    expect(rateBetween(a, b).subtasks).toEqual([100, 0]);
  });

  test("rate history - capacity below 2 is refused", () => {
    expect(() => new RateHistory({ capacity: 1 })).toThrow(/capacity must be at least 2, got 1/);
  });
});
