/**
 * @module
 * Unit tests for {@link KeyedCounter}: counting, restore, and the incremental-snapshot contract —
 * a snapshot holds the absolute counts of exactly the keys changed since the last COMPLETED
 * checkpoint, so a checkpoint that never completes loses nothing.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
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

  test("keyed counter - restoring and counting many keys (past every growth of its arrays) keeps every count", () => {
    const c = new KeyedCounter();
    const n = 20_000;
    c.restore({ keys: Array.from({ length: n }, (_, i) => `r${i}`), counts: Array.from({ length: n }, (_, i) => i + 1) });
    for (let i = 0; i < n; i++) expect(c.get(`r${i}`)).toBe(i + 1);
    c.add(Array.from({ length: n }, (_, i) => `a${i}`));
    c.add(["r0", "a0"]);
    for (let i = 0; i < n; i++) expect(c.get(`a${i}`)).toBe(i === 0 ? 2 : 1);
    expect(c.get("r0")).toBe(2);
    expect(c.size).toBe(2 * n);
    const s = c.snapshot(1);
    expect(s.keys.length).toBe(n + 1); // every a-key, and r0
    expect(s.counts.reduce((a, b) => a + b, 0)).toBe(n + 1 + 2);
  });

  test("keyed counter - a snapshot lists its keys in sorted order, each with its own count", () => {
    const c = new KeyedCounter();
    c.add(["m", "b", "z", "b", "a", "é", "B"]);
    const s = c.snapshot(1);
    expect(s.keys).toEqual(["B", "a", "b", "m", "z", "é"]);
    expect(s.counts).toEqual([1, 1, 2, 1, 1, 1]);
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
    // 3's snapshot folded 1's and 2's keys in (bounded bookkeeping): they are carried once more, harmlessly
    expect(asObject(c.snapshot(4))).toEqual({ a: 1, b: 1, c: 1 });
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
    expect(asObject(c.snapshot(3))).toMatchObject({ b: 1, c: 1 }); // (a too: folded into 2's snapshot)
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

describe("keyed counter - bounded under failing checkpoints", () => {
  test("keyed counter - a thousand aborted checkpoints keep the bookkeeping within twice the distinct keys", () => {
    const c = new KeyedCounter();
    for (let id = 1; id <= 1000; id++) {
      c.add([`k${id % 50}`, `k${(id * 7) % 50}`]);
      c.snapshot(id);
      if (id % 2 === 0) c.notifyCheckpointAborted(id); // half are told, half are silently dropped
      expect(c.trackedKeys).toBeLessThanOrEqual(2 * c.size);
    }
    expect(c.size).toBe(50);
    c.add(["k0"]);
    expect(Object.keys(asObject(c.snapshot(1001))).length).toBe(50); // nothing lost: every key since checkpoint 0
    c.notifyCheckpointComplete(1001);
    expect(c.trackedKeys).toBe(0);
  });

  test("keyed counter - an abort after a newer snapshot changes nothing; a late completion of an older one keeps newer keys", () => {
    const c = new KeyedCounter();
    c.add(["a"]);
    c.snapshot(1);
    c.add(["b"]);
    c.snapshot(2); // checkpoint 1 ended before 2 was triggered, but its abort arrives only now
    c.notifyCheckpointAborted(1);
    c.notifyCheckpointComplete(1); // (or its completion)
    expect(asObject(c.snapshot(3))).toEqual({ a: 1, b: 1 });
  });

  /**
   * A model of how the job drives the counter: checkpoint n is decided (committed or aborted) by
   * the coordinator before n+1 is triggered; a subtask may miss a checkpoint (no snapshot); the
   * complete/abort messages reach the counter late, in order, possibly after newer snapshots.
   * A commit writes the snapshot's rows over the store: the store must then equal the counts
   * at that snapshot exactly (no changed key missed), and the bookkeeping stays bounded.
   */
  test("keyed counter - randomised add/snapshot/complete/abort sequences against a model", () => {
    type Op =
      | { op: "add"; keys: number[] }
      | { op: "snapshot"; skip: number }
      | { op: "decide"; commit: boolean }
      | { op: "deliver" };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ op: fc.constant("add" as const), keys: fc.array(fc.nat(30), { maxLength: 8 }) }),
      fc.record({ op: fc.constant("snapshot" as const), skip: fc.nat(2) }),
      fc.record({ op: fc.constant("decide" as const), commit: fc.boolean() }),
      fc.record({ op: fc.constant("deliver" as const) }),
    );
    fc.assert(fc.property(fc.array(opArb, { maxLength: 200 }), fc.array(fc.nat(30), { maxLength: 10 }), (ops, restoredKeys) => {
      const c = new KeyedCounter();
      const model = new Map<string, number>();
      for (const k of restoredKeys) model.set(`k${k}`, (model.get(`k${k}`) ?? 0) + 1);
      c.restore({ keys: [...model.keys()], counts: [...model.values()] });
      const store = new Map(model); // the restored state is the committed state
      let nextId = 1;
      let latest: { id: number; rows: KeyCounts; at: Map<string, number> } | undefined;
      let decided = true;
      const inbox: Array<{ commit: boolean; id: number }> = [];
      for (const o of ops) {
        if (o.op === "add") {
          const keys = o.keys.map((k) => `k${k}`);
          c.add(keys);
          for (const k of keys) model.set(k, (model.get(k) ?? 0) + 1);
        } else if (o.op === "snapshot") {
          if (!decided) continue; // the coordinator has one checkpoint at a time
          nextId += o.skip; // checkpoints this subtask never snapshotted (aborted before its barrier)
          const id = nextId++;
          latest = { id, rows: c.snapshot(id), at: new Map(model) };
          decided = false;
        } else if (o.op === "decide") {
          if (decided || !latest) continue;
          decided = true;
          if (o.commit) {
            for (let i = 0; i < latest.rows.keys.length; i++) store.set(latest.rows.keys[i], latest.rows.counts[i]);
            expect(store).toEqual(latest.at); // the commit carried every key changed since the last one
          }
          inbox.push({ commit: o.commit, id: latest.id });
        } else {
          const m = inbox.shift();
          if (m?.commit) c.notifyCheckpointComplete(m.id);
          else if (m) c.notifyCheckpointAborted(m.id);
        }
        expect(c.trackedKeys).toBeLessThanOrEqual(2 * c.size);
        for (const [k, v] of model) expect(c.get(k)).toBe(v);
      }
    }), { numRuns: 500 });
  });
});
