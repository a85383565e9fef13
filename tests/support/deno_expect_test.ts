/**
 * @module
 * Tests for {@link ./deno_expect.ts}, the `expect` that stands in for `bun:test`'s under Deno:
 * each matcher passes on a match and throws on a mismatch, `.not` inverts, `.rejects` and
 * `.resolves` await. Checked with `node:assert`, so it means the same under both runners; and
 * under Bun each case also goes through Bun's own `expect`, so the stand-in cannot drift from it.
 */
import { expect as runners, test } from "bun:test";
import assert from "node:assert";
import { expect as shim } from "./deno_expect.ts";

type Expect = typeof shim;

/** `run` passes and `fail` throws: the stand-in's error names the matcher; Bun's `expect` agrees. */
function both(name: string, run: (e: Expect) => unknown, fail: (e: Expect) => unknown): void {
  run(shim);
  assert.throws(() => fail(shim), (e: unknown) => e instanceof assert.AssertionError && e.message.includes(name), `${name} should fail`);
  const real = runners as unknown as Expect;
  if (real === shim) return; // under Deno, bun:test's expect is the stand-in itself
  run(real);
  assert.throws(() => fail(real), `${name} should fail under Bun's expect too`);
}

test("deno expect - every matcher passes on a match and throws on a mismatch", () => {
  both("toBe", (e) => e(NaN).toBe(NaN), (e) => e({}).toBe({}));
  both("toEqual", (e) => e({ a: [1, { b: 2 }], c: undefined }).toEqual({ a: [1, { b: 2 }] }), (e) => e({ a: [1, 2] }).toEqual({ a: [1, 3] }));
  both("toEqual", (e) => e(new Map([["k", [1]]])).toEqual(new Map([["k", [1]]])), (e) => e(new Map([["k", 1]])).toEqual(new Map([["k", 2]])));
  both("toEqual", (e) => e(new Set([1, 2])).toEqual(new Set([2, 1])), (e) => e(new Set([1])).toEqual(new Set([1, 2])));
  both("toEqual", (e) => e(new Uint8Array([1, 2])).toEqual(new Uint8Array([1, 2])), (e) => e(new Uint8Array([1])).toEqual(new Uint8Array([2])));
  both("toEqual", (e) => e([1, 2]).toEqual([1, 2]), (e) => e([1, 2]).toEqual({ 0: 1, 1: 2 }));
  both("toMatchObject", (e) => e({ a: 1, b: { c: 2, d: 3 } }).toMatchObject({ b: { c: 2 } }), (e) => e({ a: 1 }).toMatchObject({ a: 1, b: undefined }));
  both("toMatchObject", (e) => e([{ a: 1, x: 0 }]).toMatchObject([{ a: 1 }]), (e) => e([{ a: 1 }, { a: 2 }]).toMatchObject([{ a: 1 }]));
  both("toContain", (e) => e("abc").toContain("b"), (e) => e([1, 2]).toContain(3));
  both("toMatch", (e) => e("pv.0").toMatch(/^pv\.\d$/), (e) => e("pv.x").toMatch(/^pv\.\d$/));
  both("toStartWith", (e) => e("abc").toStartWith("ab"), (e) => e("abc").toStartWith("b"));
  both("toEndWith", (e) => e("abc").toEndWith("bc"), (e) => e("abc").toEndWith("b"));
  both("toHaveLength", (e) => e([1, 2]).toHaveLength(2), (e) => e("abc").toHaveLength(2));
  both("toBeInstanceOf", (e) => e(new RangeError("x")).toBeInstanceOf(Error), (e) => e(new Error("x")).toBeInstanceOf(RangeError));
  both("toBeNull", (e) => e(null).toBeNull(), (e) => e(undefined).toBeNull());
  both("toBeUndefined", (e) => e(undefined).toBeUndefined(), (e) => e(null).toBeUndefined());
  both("toBeString", (e) => e("").toBeString(), (e) => e(1).toBeString());
  both("toBeGreaterThan", (e) => e(2).toBeGreaterThan(1), (e) => e(1).toBeGreaterThan(1));
  both("toBeGreaterThanOrEqual", (e) => e(1).toBeGreaterThanOrEqual(1), (e) => e(0).toBeGreaterThanOrEqual(1));
  both("toBeLessThan", (e) => e(1).toBeLessThan(2), (e) => e(2).toBeLessThan(2));
  both("toBeLessThanOrEqual", (e) => e(2).toBeLessThanOrEqual(2), (e) => e(3).toBeLessThanOrEqual(2));
  both("toBeCloseTo", (e) => e(0.0190000004).toBeCloseTo(0.019, 6), (e) => e(0.0191).toBeCloseTo(0.019, 6));
  both("toThrow", (e) => e(() => { throw new RangeError("bad channel 0"); }).toThrow(/channel 0/), (e) => e(() => {}).toThrow());
  both("toThrow", (e) => e(() => { throw new RangeError("x"); }).toThrow(RangeError), (e) => e(() => { throw new TypeError("x"); }).toThrow(RangeError));
  both("toThrow", (e) => e(() => { throw new Error("got a"); }).toThrow("got a"), (e) => e(() => { throw new Error("got a"); }).toThrow("got b"));
});

test("deno expect - .not inverts, and an unknown matcher throws instead of passing", () => {
  both(".not.toBe", (e) => e(1).not.toBe(2), (e) => e(1).not.toBe(1));
  both(".not.toThrow", (e) => e(() => { throw new Error("no secret"); }).not.toThrow(/pw/), (e) => e(() => { throw new Error("pw"); }).not.toThrow(/pw/));
  assert.throws(() => (shim(1) as unknown as { toBeFrobnicated(): void }).toBeFrobnicated(), /toBeFrobnicated is not implemented/);
});

test("deno expect - .rejects and .resolves await the promise first", async () => {
  await shim(Promise.reject(new Error("took over"))).rejects.toThrow(/took over/);
  await assert.rejects(() => shim(Promise.resolve(1)).rejects.toThrow(), /the promise resolved to 1/);
  await assert.rejects(() => shim(Promise.reject(new Error("a"))).rejects.toThrow(/b/), assert.AssertionError);
  await shim(Promise.resolve(2)).resolves.toBe(2);
  await assert.rejects(() => shim(Promise.resolve(2)).resolves.toBe(3), assert.AssertionError);
  await assert.rejects(() => shim(Promise.reject(new Error("x"))).resolves.toBe(3), /the promise rejected/);
});
