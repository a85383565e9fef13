import { expect, test } from "bun:test";
import fc from "fast-check";
import { KeySlots } from "./key_slots.ts";

test("key slots - slots in order of first sight; find does not intern; keys read back exactly", () => {
  const t = new KeySlots();
  expect(t.find("a")).toBe(-1);
  expect(t.size).toBe(0);
  expect(t.intern("a")).toBe(0);
  expect(t.intern("bb")).toBe(1);
  expect(t.intern("a")).toBe(0);
  expect(t.find("bb")).toBe(1);
  expect(t.find("b")).toBe(-1); // a prefix is another key
  expect(t.size).toBe(2);
  expect([t.keyOf(0), t.keyOf(1)]).toEqual(["a", "bb"]);
  const odd = ["", "é", "日本", "😀", "a".repeat(1024), "\ud83d"]; // empty, non-ASCII, astral, long, lone surrogate
  for (const k of odd) expect(t.keyOf(t.intern(k))).toBe(k);
  expect(t.size).toBe(2 + odd.length);
});

test("key slots - 100k keys through many table and arena growths, each found at its own slot", () => {
  const t = new KeySlots();
  const n = 100_000;
  for (let i = 0; i < n; i++) expect(t.intern(`site-${i}`)).toBe(i);
  expect(t.size).toBe(n);
  expect(t.capacity).toBeGreaterThanOrEqual(n);
  for (let i = 0; i < n; i += 997) {
    expect(t.find(`site-${i}`)).toBe(i);
    expect(t.keyOf(i)).toBe(`site-${i}`);
  }
  expect(t.find(`site-${n}`)).toBe(-1);
});

test("key slots - randomised keys against a Map", () => {
  fc.assert(fc.property(fc.array(fc.string({ unit: "binary", maxLength: 6 }), { maxLength: 300 }), (keys) => {
    const t = new KeySlots();
    const model = new Map<string, number>();
    for (const k of keys) {
      if (!model.has(k)) model.set(k, model.size);
      expect(t.intern(k)).toBe(model.get(k)!);
    }
    expect(t.size).toBe(model.size);
    for (const [k, s] of model) {
      expect(t.find(k)).toBe(s);
      expect(t.keyOf(s)).toBe(k);
    }
  }), { numRuns: 300 });
});
