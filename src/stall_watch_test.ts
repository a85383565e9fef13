import { expect, test } from "bun:test";
import { StallWatch } from "./stall_watch.ts";

test("stall watch - a split behind whose position does not move is stalled after the timeout", () => {
  const w = new StallWatch(1000);
  w.observe("pv.0", 5, true, 0);
  w.observe("pv.0", 5, true, 999);
  expect(w.stalled(999)).toEqual([]);
  w.observe("pv.0", 5, true, 1000);
  expect(w.stalled(1000)).toEqual([{ split: "pv.0", position: 5, forMs: 1000 }]);
  // It still is when no report arrives any more (a dead reader reports nothing).
  expect(w.stalled(5000)).toEqual([{ split: "pv.0", position: 5, forMs: 5000 }]);
});

test("stall watch - a moving position, or nothing waiting, is not a stall", () => {
  const w = new StallWatch(1000);
  for (let t = 0; t <= 5000; t += 500) w.observe("pv.0", t, true, t); // moves every report
  w.observe("pv.1", 7, false, 0);
  w.observe("pv.1", 7, false, 5000); // idle: caught up
  expect(w.stalled(5000)).toEqual([]);
  expect(w.stalled(5999).map((s) => s.split)).toEqual([]);
  expect(w.stalled(6000).map((s) => s.split)).toEqual(["pv.0"]); // pv.0's last move was at 5000
  // Falling behind starts the clock then, not when the position last moved.
  w.observe("pv.1", 7, true, 5000);
  expect(w.stalled(5999)).toEqual([]);
  expect(w.stalled(6000).map((s) => s.split)).toEqual(["pv.0", "pv.1"]);
});

test("stall watch - reset forgets old progress", () => {
  const w = new StallWatch(1000);
  w.observe("pv.0", 1, true, 0);
  expect(w.stalled(2000)).toHaveLength(1);
  w.reset();
  expect(w.stalled(2000)).toEqual([]);
});
