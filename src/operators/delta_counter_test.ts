/**
 * @module
 * Unit tests of {@link DeltaCounter}: every event is handed over in exactly one completed
 * snapshot, whatever the order of snapshots, completions and aborts (checked against a model with
 * random schedules).
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { DeltaCounter } from "./delta_counter.ts";

function asRecord(s: { keys: string[]; counts: number[] }): Record<string, number> {
  return Object.fromEntries(s.keys.map((k, i) => [k, s.counts[i]]));
}

describe("delta counter", () => {
  test("delta counter - a snapshot is in key order (the commit's one sweep of the counts table)", () => {
    const c = new DeltaCounter();
    c.add(["m", "b", "z", "a", "b", "é", "A"]);
    const snap = c.snapshot(1);
    expect(snap.keys).toEqual(["A", "a", "b", "m", "z", "é"]);
    expect(snap.counts).toEqual([1, 1, 2, 1, 1, 1]);
  });

  test("delta counter - a snapshot hands over the deltas since the last one", () => {
    const c = new DeltaCounter();
    c.add(["a", "b", "a"]);
    expect(asRecord(c.snapshot(1))).toEqual({ a: 2, b: 1 });
    c.notifyCheckpointComplete(1);
    c.add(["a"]);
    expect(asRecord(c.snapshot(2))).toEqual({ a: 1 });
    expect(asRecord(c.snapshot(3))).toEqual({});
  });

  test("delta counter - an aborted snapshot's deltas are carried by the next one, also when it ends late", () => {
    const c = new DeltaCounter();
    c.add(["a", "a"]);
    c.snapshot(1);
    c.add(["b"]);
    c.notifyCheckpointAborted(1);
    expect(asRecord(c.snapshot(2))).toEqual({ a: 2, b: 1 });
    c.add(["a"]);
    const third = c.snapshot(3);
    c.notifyCheckpointAborted(2); // the abort of 2 arrives after barrier 3: carried by 4
    expect(asRecord(third)).toEqual({ a: 1 });
    expect(asRecord(c.snapshot(4))).toEqual({ a: 2, b: 1 });
    expect(c.trackedKeys).toBe(3); // 3 and 4 in flight
    c.notifyCheckpointComplete(3);
    c.notifyCheckpointComplete(4);
    expect(c.trackedKeys).toBe(0);
  });

  test("delta counter - restoring counts is refused", () => {
    expect(() => new DeltaCounter().restore({ keys: ["a"], counts: [1] })).toThrow(/restores no counts/);
  });

  test("delta counter - property: the completed snapshots sum to exactly the events counted before them", () => {
    type Step = { kind: "add"; keys: string[] } | { kind: "snapshot" } | { kind: "end"; ok: boolean; pick: number };
    const step = fc.oneof(
      fc.record({ kind: fc.constant("add" as const), keys: fc.array(fc.constantFrom("a", "b", "c", "d"), { maxLength: 5 }) }),
      fc.record({ kind: fc.constant("snapshot" as const) }),
      fc.record({ kind: fc.constant("end" as const), ok: fc.boolean(), pick: fc.nat() }),
    );
    fc.assert(fc.property(fc.array(step, { maxLength: 60 }), (steps: Step[]) => {
      const c = new DeltaCounter();
      const added: Record<string, number> = {};
      const committed: Record<string, number> = {};
      const open = new Map<number, Record<string, number>>();
      let id = 0;
      for (const s of steps) {
        if (s.kind === "add") {
          c.add(s.keys);
          for (const k of s.keys) added[k] = (added[k] ?? 0) + 1;
        } else if (s.kind === "snapshot") {
          open.set(++id, asRecord(c.snapshot(id)));
        } else if (open.size > 0) {
          const ids = [...open.keys()];
          const which = ids[s.pick % ids.length];
          if (s.ok) {
            for (const [k, n] of Object.entries(open.get(which)!)) committed[k] = (committed[k] ?? 0) + n;
            c.notifyCheckpointComplete(which);
          } else c.notifyCheckpointAborted(which);
          open.delete(which);
        }
      }
      // End every open snapshot as aborted, then one final completed snapshot takes the rest.
      for (const which of open.keys()) c.notifyCheckpointAborted(which);
      for (const [k, n] of Object.entries(asRecord(c.snapshot(++id)))) committed[k] = (committed[k] ?? 0) + n;
      expect(committed).toEqual(added);
    }), { numRuns: 2000 });
  });
});
