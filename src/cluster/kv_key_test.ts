/** @module Round trip of lease key tokens. */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { decodeKeyToken, encodeKeyToken } from "./kv_key.ts";

test("kv key - subjects become plain tokens and round-trip", () => {
  expect(encodeKeyToken("pv.0")).toBe("pv=2E0");
  expect(encodeKeyToken("pv.>")).toBe("pv=2E=3E");
  fc.assert(fc.property(fc.string({ minLength: 1, unit: "grapheme" }), (s) => {
    const token = encodeKeyToken(s);
    expect(token).toMatch(/^[A-Za-z0-9_=-]+$/);
    expect(decodeKeyToken(token)).toBe(s);
  }), { numRuns: 5000 });
});

test("kv key - distinct names give distinct tokens", () => {
  fc.assert(fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (a, b) => {
    if (a !== b) expect(encodeKeyToken(a)).not.toBe(encodeKeyToken(b));
  }), { numRuns: 5000 });
});

test("kv key - the empty name is refused", () => {
  expect(() => encodeKeyToken("")).toThrow("must not be empty");
});
