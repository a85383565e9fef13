/**
 * @module
 * Unit tests for the key → key group → subtask assignment: the ranges of all subtasks partition
 * the key groups contiguously, {@link subtaskOfKeyGroup} agrees with {@link keyGroupRange}, and
 * {@link hashKey} is FNV-1a 32-bit (pinned against an independent reference), deterministic and
 * spreads keys evenly.
 */
import { describe, expect, test } from "bun:test";
import { hashKey, keyGroupOf, keyGroupRange, partitionByKeyGroup, subtaskOfKey, subtaskOfKeyGroup } from "./key_group.ts";

/** (maxParallelism, parallelism) pairs: divisible, non-divisible, equal, and parallelism 1. */
const PAIRS: [number, number][] = [
  [1, 1],
  [4, 1],
  [4, 2],
  [4, 4],
  [7, 3],
  [10, 3],
  [10, 7],
  [10, 10],
  [128, 1],
  [128, 3],
  [128, 5],
  [128, 7],
  [128, 128],
  [4096, 13],
  [32768, 100],
];

/**
 * Reference FNV-1a 32-bit over the bytes of an ASCII string, with BigInt arithmetic (offset basis
 * 2166136261, prime 16777619), independent of the module's Math.imul implementation.
 */
function fnv1aAscii(s: string): number {
  let h = 2166136261n;
  for (const ch of s) {
    const byte = ch.codePointAt(0)!;
    if (byte > 0x7f) throw new Error("reference is for ASCII only");
    h ^= BigInt(byte);
    h = (h * 16777619n) % 2n ** 32n;
  }
  return Number(h);
}

describe("key group - ranges", () => {
  test("key group - ranges of all subtasks partition [0, maxParallelism) contiguously", () => {
    for (const [maxP, p] of PAIRS) {
      let next = 0;
      for (let s = 0; s < p; s++) {
        const [start, end] = keyGroupRange(s, maxP, p);
        expect({ maxP, p, s, start }).toEqual({ maxP, p, s, start: next });
        expect(end).toBeGreaterThanOrEqual(start); // parallelism <= maxParallelism: never empty
        next = end + 1;
      }
      expect({ maxP, p, end: next }).toEqual({ maxP, p, end: maxP });
    }
  });

  test("key group - range sizes differ by at most one", () => {
    for (const [maxP, p] of PAIRS) {
      const sizes = Array.from({ length: p }, (_, s) => {
        const [start, end] = keyGroupRange(s, maxP, p);
        return end - start + 1;
      });
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
  });

  test("key group - parallelism equal to maxParallelism gives one key group per subtask", () => {
    for (const n of [1, 4, 10, 128]) {
      for (let s = 0; s < n; s++) {
        expect(keyGroupRange(s, n, n)).toEqual([s, s]);
        expect(subtaskOfKeyGroup(s, n, n)).toBe(s);
      }
    }
  });

  test("key group - known ranges for a non-divisible split", () => {
    // 10 key groups over 3 subtasks, as Flink's computeKeyGroupRangeForOperatorIndex
    expect([0, 1, 2].map((s) => keyGroupRange(s, 10, 3))).toEqual([
      [0, 3],
      [4, 6],
      [7, 9],
    ]);
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((g) => subtaskOfKeyGroup(g, 10, 3))).toEqual([0, 0, 0, 0, 1, 1, 1, 2, 2, 2]);
  });

  test("key group - subtaskOfKeyGroup agrees with keyGroupRange for every key group", () => {
    for (const [maxP, p] of PAIRS) {
      for (let s = 0; s < p; s++) {
        const [start, end] = keyGroupRange(s, maxP, p);
        for (let g = start; g <= end; g++) {
          const owner = subtaskOfKeyGroup(g, maxP, p);
          if (owner !== s) expect({ maxP, p, g, owner }).toEqual({ maxP, p, g, owner: s });
        }
      }
    }
  });
});

describe("key group - hashKey", () => {
  test("key group - hashKey matches FNV-1a 32-bit test vectors", () => {
    // published FNV-1a 32-bit vectors
    expect(hashKey("")).toBe(0x811c9dc5);
    expect(hashKey("a")).toBe(0xe40c292c);
    expect(hashKey("foobar")).toBe(0xbf9cf968);
  });

  test("key group - hashKey of site1 is pinned to the reference FNV-1a", () => {
    const expected = fnv1aAscii("site1");
    expect(expected).toBe(0xf9ba71ed); // also computed with Python: FNV-1a 32 of b"site1"
    expect(hashKey("site1")).toBe(expected);
    for (const key of ["", "a", "foobar", "site1", "/index.html", "site-9999", "Z~!@#$%^&*()"]) {
      expect(hashKey(key)).toBe(fnv1aAscii(key));
    }
  });

  test("key group - hashKey is deterministic and an unsigned 32-bit integer", () => {
    for (const key of ["site1", "", "ümlaut", "日本語", "😀", "x".repeat(1000)]) {
      const h = hashKey(key);
      expect(hashKey(key)).toBe(h);
      expect(Number.isInteger(h)).toBe(true);
      expect(h).toBeGreaterThanOrEqual(0);
      expect(h).toBeLessThan(2 ** 32);
    }
  });

  test("key group - keyGroupOf and subtaskOfKey follow hashKey", () => {
    for (let i = 0; i < 1000; i++) {
      const key = `site${i}`;
      const g = keyGroupOf(key, 128);
      expect(g).toBe(hashKey(key) % 128);
      expect(subtaskOfKey(key, 128, 3)).toBe(subtaskOfKeyGroup(g, 128, 3));
    }
  });

  test("key group - hashKey spreads 10k keys roughly evenly over 2 and 4 subtasks", () => {
    const keys = Array.from({ length: 10_000 }, (_, i) => `site${i}`);
    for (const p of [2, 4]) {
      const counts = new Array<number>(p).fill(0);
      for (const key of keys) counts[subtaskOfKey(key, 128, p)]++;
      const mean = keys.length / p;
      for (const n of counts) {
        expect(Math.abs(n - mean) / mean).toBeLessThan(0.2);
      }
    }
  });
});

test("key group - partitionByKeyGroup sends every restored key to the subtask that owns it", () => {
  const keys = Array.from({ length: 1000 }, (_, i) => `k${i}`);
  const counts = keys.map((_, i) => i + 1);
  const parts = partitionByKeyGroup({ keys, counts }, 128, 3);
  expect(parts.reduce((n, p) => n + p.keys.length, 0)).toBe(1000);
  parts.forEach((p, s) => p.keys.forEach((k, i) => {
    expect(subtaskOfKey(k, 128, 3)).toBe(s);
    expect(p.counts[i]).toBe(Number(k.slice(1)) + 1);
  }));
});
