/**
 * @module
 * Unit tests for {@link KeyedCounter}: counting, restore, and the incremental-snapshot contract —
 * a snapshot holds the absolute counts of exactly the keys changed since the last COMPLETED
 * checkpoint, so a checkpoint that never completes loses nothing.
 */
import { describe, expect, test } from "bun:test";
import type { KeyCounts } from "../types.ts";
import { KeyedCounter } from "./count.ts";

/** A snapshot as a sorted `{key: count}` object, for order-independent comparison. */
function asObject(s: KeyCounts): Record<string, number> {
  expect(s.keys.length).toBe(s.counts.length);
  expect(new Set(s.keys).size).toBe(s.keys.length); // no key twice
  const o: Record<string, number> = {};
  for (const k of [...s.keys].sort()) o[k] = s.counts[s.keys.indexOf(k)];
  return o;
}

describe("keyed counter", () => {
  test("keyed counter - counts one per key occurrence", () => {
    const c = new KeyedCounter();
    expect(c.size).toBe(0);
    expect(c.get("a")).toBe(0);
    c.add(["a", "b", "a"]);
    c.add([]);
    c.add(["a", "c"]);
    expect(c.get("a")).toBe(3);
    expect(c.get("b")).toBe(1);
    expect(c.get("c")).toBe(1);
    expect(c.get("zzz")).toBe(0);
    expect(c.size).toBe(3);
  });

  test("keyed counter - restore loads counts, and restored keys are not changed", () => {
    const c = new KeyedCounter();
    c.restore({ keys: ["a", "b"], counts: [10, 20] });
    expect(c.get("a")).toBe(10);
    expect(c.get("b")).toBe(20);
    expect(c.size).toBe(2);
    expect(asObject(c.snapshot(1))).toEqual({});
    c.add(["a"]);
    // counting continues from the restored value; the snapshot carries the absolute count
    expect(asObject(c.snapshot(2))).toEqual({ a: 11 });
  });

  test("keyed counter - snapshot returns exactly the keys changed since the last completed checkpoint, with absolute counts", () => {
    const c = new KeyedCounter();
    c.add(["a", "a", "b"]);
    expect(asObject(c.snapshot(1))).toEqual({ a: 2, b: 1 });
    c.notifyCheckpointComplete(1);
    c.add(["b", "c"]);
    expect(asObject(c.snapshot(2))).toEqual({ b: 2, c: 1 }); // not a: unchanged since 1
  });

  test("keyed counter - after notifyCheckpointComplete(n) the next snapshot excludes keys only changed before n", () => {
    const c = new KeyedCounter();
    c.add(["a"]);
    c.snapshot(1);
    c.add(["b"]);
    c.snapshot(2);
    c.notifyCheckpointComplete(2);
    expect(asObject(c.snapshot(3))).toEqual({});
    c.add(["c"]);
    expect(asObject(c.snapshot(4))).toEqual({ c: 1 });
  });

  test("keyed counter - a checkpoint that is not completed is carried by the next snapshot (union)", () => {
    const c = new KeyedCounter();
    c.add(["a", "b"]);
    c.snapshot(1);
    c.notifyCheckpointComplete(1);
    c.add(["a", "c"]);
    expect(asObject(c.snapshot(2))).toEqual({ a: 2, c: 1 });
    // checkpoint 2 is aborted: no notifyCheckpointComplete(2)
    c.add(["d", "a"]);
    expect(asObject(c.snapshot(3))).toEqual({ a: 3, c: 1, d: 1 });
    // 3 fails too: 4 carries 2's and 3's keys, with current absolute counts
    c.add(["c"]);
    expect(asObject(c.snapshot(4))).toEqual({ a: 3, c: 2, d: 1 });
    c.notifyCheckpointComplete(4);
    expect(asObject(c.snapshot(5))).toEqual({});
  });

  test("keyed counter - completing a later checkpoint also clears older unconfirmed ones", () => {
    const c = new KeyedCounter();
    c.add(["a"]);
    c.snapshot(1);
    c.add(["b"]);
    c.snapshot(2);
    c.add(["c"]);
    c.snapshot(3);
    c.notifyCheckpointComplete(2); // 1 and 2 are durable, 3 is not yet
    expect(asObject(c.snapshot(4))).toEqual({ c: 1 });
    c.notifyCheckpointComplete(4);
    expect(asObject(c.snapshot(5))).toEqual({});
  });

  test("keyed counter - completing an older checkpoint keeps newer unconfirmed keys", () => {
    const c = new KeyedCounter();
    c.add(["a"]);
    c.snapshot(1);
    c.add(["b"]);
    c.snapshot(2);
    c.notifyCheckpointComplete(1);
    c.add(["c"]);
    expect(asObject(c.snapshot(3))).toEqual({ b: 1, c: 1 });
  });

  test("keyed counter - keys changed between a snapshot and its completion stay changed", () => {
    const c = new KeyedCounter();
    c.add(["a"]);
    c.snapshot(1);
    c.add(["a", "b"]); // after barrier 1, before 1 completes
    c.notifyCheckpointComplete(1);
    expect(asObject(c.snapshot(2))).toEqual({ a: 2, b: 1 });
  });
});
