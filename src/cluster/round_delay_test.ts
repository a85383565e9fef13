/**
 * @module
 * The round delay: never later than the renew interval (a quarter of it when pending), never
 * earlier than the margin; brought forward to just after another member's earliest expiry, with
 * the clock skew (this member's own heartbeat age) taken out.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { EXPIRY_MARGIN_MS, nextRoundDelay } from "./round_delay.ts";

const TTL = 6000;
const RENEW = 2000;

describe("round delay", () => {
  test("round delay - live members only: every renew interval, a quarter of it when pending", () => {
    // Live members renewed within the last renew interval: their entries expire later than that.
    expect(nextRoundDelay({ ttlMs: TTL, renewEveryMs: RENEW, pending: false, selfAgeMs: 3, othersAgeMs: [0, 1500, 1999] })).toBe(RENEW);
    expect(nextRoundDelay({ ttlMs: TTL, renewEveryMs: RENEW, pending: true, selfAgeMs: 3, othersAgeMs: [1999] })).toBe(RENEW / 4);
    expect(nextRoundDelay({ ttlMs: TTL, renewEveryMs: RENEW, pending: false, selfAgeMs: undefined, othersAgeMs: [] })).toBe(RENEW);
  });

  test("round delay - a dead member's entries: the round runs just after the earliest expires", () => {
    // Killed 4.5 s ago: its heartbeat expires in 1.5 s, one lease a little later.
    expect(nextRoundDelay({ ttlMs: TTL, renewEveryMs: RENEW, pending: false, selfAgeMs: 0, othersAgeMs: [4500, 4490, 800] }))
      .toBe(1500 + EXPIRY_MARGIN_MS);
    // Pending, and the lease still held expires in 200 ms: sooner than the pending retry.
    expect(nextRoundDelay({ ttlMs: TTL, renewEveryMs: RENEW, pending: true, selfAgeMs: 0, othersAgeMs: [5800] }))
      .toBe(200 + EXPIRY_MARGIN_MS);
  });

  test("round delay - a clock skew is taken out by this member's own heartbeat age", () => {
    // This machine's clock 3 s ahead of the server's: every age reads 3 s too old.
    const skew = 3000;
    expect(nextRoundDelay({ ttlMs: TTL, renewEveryMs: RENEW, pending: false, selfAgeMs: skew + 2, othersAgeMs: [skew + 1900] })).toBe(RENEW);
    expect(nextRoundDelay({ ttlMs: TTL, renewEveryMs: RENEW, pending: false, selfAgeMs: skew, othersAgeMs: [skew + 5000] }))
      .toBe(1000 + EXPIRY_MARGIN_MS);
    // 3 s behind: ages read 3 s young (the self age is clamped at 0 by the store, so it reads 0).
    expect(nextRoundDelay({ ttlMs: TTL, renewEveryMs: RENEW, pending: false, selfAgeMs: 0, othersAgeMs: [0] })).toBe(RENEW);
  });

  test("round delay - bounds: between the margin and the renew interval, an expired entry ignored", () => {
    fc.assert(fc.property(
      fc.boolean(), fc.option(fc.integer({ min: 0, max: 20_000 }), { nil: undefined }), fc.array(fc.integer({ min: 0, max: 30_000 })),
      (pending, selfAgeMs, othersAgeMs) => {
        const d = nextRoundDelay({ ttlMs: TTL, renewEveryMs: RENEW, pending, selfAgeMs, othersAgeMs });
        expect(d).toBeLessThanOrEqual(pending ? RENEW / 4 : RENEW);
        expect(d).toBeGreaterThan(EXPIRY_MARGIN_MS);
        const left = othersAgeMs.map((a) => TTL - (a - (selfAgeMs ?? 0))).filter((l) => l > 0);
        if (left.length > 0 && Math.min(...left) + EXPIRY_MARGIN_MS < d) throw new Error(`later than an expiry: ${d}`);
      },
    ), { numRuns: 2000 });
  });
});
