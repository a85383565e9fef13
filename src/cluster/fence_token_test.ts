/** @module Unit tests of the fencing tokens: a later attempt, and any newer lease, always fence the older out. */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { attemptFence, tokenParts } from "./fence_token.ts";

test("fence token - greater for a later attempt under the same lease, and for any attempt under a newer lease", () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 2 ** 32 }), fc.integer({ min: 1, max: 2 ** 32 }), fc.nat({ max: 2 ** 20 - 2 }), fc.nat({ max: 2 ** 20 - 1 }),
    (e1, e2, a1, a2) => {
      const t = (epoch: number, attempt: number) => attemptFence({ s: epoch }, attempt).s;
      expect(Number.isSafeInteger(t(e1, a1))).toBe(true);
      expect(t(e1, a1 + 1)).toBeGreaterThan(t(e1, a1));
      if (e2 > e1) expect(t(e2, a2)).toBeGreaterThan(t(e1, a1));
    },
  ), { numRuns: 5000 });
  expect(attemptFence({ "pv.0": 3, "pv.1": 7 }, 2)).toEqual({ "pv.0": 3 * 2 ** 20 + 2, "pv.1": 7 * 2 ** 20 + 2 });
});

test("fence token - its parts read back: the lease epoch and the attempt number", () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 32 }), fc.nat({ max: 2 ** 20 - 1 }), (epoch, attempt) => {
    expect(tokenParts(attemptFence({ s: epoch }, attempt).s)).toEqual({ epoch, attempt });
  }), { numRuns: 2000 });
});
