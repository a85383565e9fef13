/**
 * @module
 * Property tests of the split assignment: every split owned once by a live member, balanced,
 * deterministic, idempotent, and sticky — its moves are the fewest any balanced assignment allows
 * (checked by brute force on small inputs) and never more than a from-scratch round robin.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { assignSplits, movedSplits, type Owners } from "./assignment.ts";

interface Case { members: string[]; splits: string[]; current: Map<string, string | undefined> }

/** Live members m0..m5 (some), splits s00..; owners are live, departed (g0, g1) or none. */
function caseArb(maxSplits: number, maxMembers: number): fc.Arbitrary<Case> {
  return fc.record({
    members: fc.uniqueArray(fc.integer({ min: 0, max: 5 }).map((i) => `m${i}`), { minLength: 1, maxLength: maxMembers }),
    n: fc.integer({ min: 0, max: maxSplits }),
    seed: fc.array(fc.integer({ min: 0, max: 8 }), { minLength: maxSplits, maxLength: maxSplits }),
  }).map(({ members, n, seed }) => {
    const splits = Array.from({ length: n }, (_, i) => `s${String(i).padStart(2, "0")}`);
    const pool = [...members, "g0", "g1", undefined];
    const current = new Map(splits.map((s, i) => [s, pool[seed[i] % pool.length]]));
    return { members, splits, current };
  });
}

function counts(members: string[], target: Map<string, string>): number[] {
  return members.map((m) => [...target.values()].filter((o) => o === m).length);
}

/** The fewest moves of any balanced assignment, by enumerating all of them. */
function bruteForceMinMoves({ members, splits, current }: Case): number {
  const live = new Set(members);
  let best = Infinity;
  const total = members.length ** splits.length;
  for (let code = 0; code < total; code++) {
    const target = new Map<string, string>();
    let c = code;
    for (const s of splits) {
      target.set(s, members[c % members.length]);
      c = Math.floor(c / members.length);
    }
    const k = counts(members, target);
    if (Math.max(...k) - Math.min(...k) > 1) continue;
    const moves = splits.filter((s) => live.has(current.get(s)!) && current.get(s) !== target.get(s)).length;
    best = Math.min(best, moves);
  }
  return best;
}

describe("assignment", () => {
  test("assignment - every split owned exactly once, by a live member", () => {
    fc.assert(fc.property(caseArb(30, 6), ({ members, splits, current }) => {
      const target = assignSplits(members, splits, current);
      expect([...target.keys()].sort()).toEqual([...splits].sort());
      for (const owner of target.values()) expect(members).toContain(owner);
    }), { numRuns: 2000 });
  });

  test("assignment - balanced: owned counts differ by at most 1", () => {
    fc.assert(fc.property(caseArb(30, 6), ({ members, splits, current }) => {
      const k = counts(members, assignSplits(members, splits, current));
      expect(Math.max(...k) - Math.min(...k)).toBeLessThanOrEqual(1);
    }), { numRuns: 2000 });
  });

  test("assignment - deterministic: input order and duplicates do not matter", () => {
    fc.assert(fc.property(caseArb(30, 6), fc.integer(), ({ members, splits, current }, seed) => {
      const shuffle = <T>(xs: T[]) => xs.map((x, i) => [((i + 1) * (seed | 1)) % 97, x] as const).sort((a, b) => a[0] - b[0]).map(([, x]) => x);
      const a = assignSplits(members, splits, current);
      const b = assignSplits(shuffle([...members, ...members]), shuffle([...splits, ...splits]), new Map(shuffle([...current])));
      expect([...b].sort()).toEqual([...a].sort());
    }), { numRuns: 2000 });
  });

  test("assignment - idempotent: a balanced assignment moves nothing", () => {
    fc.assert(fc.property(caseArb(30, 6), ({ members, splits, current }) => {
      const target = assignSplits(members, splits, current);
      const again = assignSplits(members, splits, target);
      expect(movedSplits(members, target, again)).toEqual([]);
      expect([...again].sort()).toEqual([...target].sort());
    }), { numRuns: 2000 });
  });

  test("assignment - sticky: a member within its fair share keeps all of its splits", () => {
    fc.assert(fc.property(caseArb(30, 6), ({ members, splits, current }) => {
      const target = assignSplits(members, splits, current);
      const floor = Math.floor(splits.length / members.length);
      for (const m of members) {
        const mine = splits.filter((s) => current.get(s) === m);
        if (mine.length <= floor) for (const s of mine) expect(target.get(s)).toBe(m);
      }
    }), { numRuns: 2000 });
  });

  test("assignment - sticky: the fewest moves of any balanced assignment (brute force)", () => {
    fc.assert(fc.property(caseArb(7, 3), (c) => {
      const moved = movedSplits(c.members, c.current, assignSplits(c.members, c.splits, c.current));
      expect(moved.length).toBe(bruteForceMinMoves(c));
    }), { numRuns: 1500 });
  });

  test("assignment - sticky: never more moves than a from-scratch round robin", () => {
    fc.assert(fc.property(caseArb(30, 6), ({ members, splits, current }) => {
      const sortedMembers = [...members].sort();
      const scratch = new Map(splits.map((s, i) => [s, sortedMembers[i % sortedMembers.length]]));
      const sticky = assignSplits(members, splits, current);
      expect(movedSplits(members, current, sticky).length).toBeLessThanOrEqual(movedSplits(members, current, scratch).length);
    }), { numRuns: 2000 });
  });

  test("assignment - a member joining takes only its share; one leaving frees only its splits", () => {
    const splits = Array.from({ length: 12 }, (_, i) => `pv.${i}`);
    const three = assignSplits(["a", "b", "c"], splits, new Map());
    expect(counts(["a", "b", "c"], three)).toEqual([4, 4, 4]);
    const four = assignSplits(["a", "b", "c", "d"], splits, three);
    expect(movedSplits(["a", "b", "c", "d"], three, four).length).toBe(3);
    expect(counts(["a", "b", "c", "d"], four)).toEqual([3, 3, 3, 3]);
    const owners: Owners = four;
    const left = assignSplits(["a", "c", "d"], splits, owners);
    expect(movedSplits(["a", "c", "d"], owners, left)).toEqual([]);
    for (const [s, m] of four) if (m !== "b") expect(left.get(s)).toBe(m);
  });

  test("assignment - no members: nothing assigned", () => {
    expect(assignSplits([], ["pv.0"], new Map([["pv.0", "a"]])).size).toBe(0);
  });
});
