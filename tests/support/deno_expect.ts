/**
 * @module
 * `expect` with the matchers pvflow's unit tests use, as `bun:test` defines them, built on
 * `node:util` alone — so the same test files run under Deno, where `bun:test` is mapped to
 * {@link ./bun_test_on_deno.ts} (see deno.json) and neither `@std/assert` (JSR is unreachable) nor
 * npm's `expect` is installed. Semantics follow Bun/Jest: `toEqual` ignores undefined properties
 * and class types, `toMatchObject` compares a subset, `.not` inverts, `.rejects`/`.resolves`
 * await first. A matcher this file lacks throws, naming it, instead of passing silently.
 */
import { AssertionError } from "node:assert";
import { inspect } from "node:util";

type Obj = Record<PropertyKey, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null;

/** Recursive equality as Bun's `toEqual`: undefined properties and class types are ignored. */
export function equals(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (!isObj(a) || !isObj(b)) return false;
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && Object.is(a.getTime(), b.getTime());
  }
  if (a instanceof RegExp || b instanceof RegExp) return a instanceof RegExp && b instanceof RegExp && String(a) === String(b);
  if (a instanceof Map || b instanceof Map) {
    if (!(a instanceof Map && b instanceof Map) || a.size !== b.size) return false;
    for (const [k, v] of a) if (!b.has(k) || !equals(v, b.get(k))) return false;
    return true;
  }
  if (a instanceof Set || b instanceof Set) {
    if (!(a instanceof Set && b instanceof Set) || a.size !== b.size) return false;
    for (const v of a) if (!b.has(v) && ![...b].some((w) => equals(v, w))) return false;
    return true;
  }
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b) || a.constructor !== b.constructor) return false;
    const x = a as unknown as ArrayLike<unknown>, y = b as unknown as ArrayLike<unknown>;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
    return true;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && a.length !== (b as unknown as unknown[]).length) return false;
  const keys = (o: Obj) => Object.keys(o).filter((k) => o[k] !== undefined);
  const ka = keys(a), kb = new Set(keys(b));
  return ka.length === kb.size && ka.every((k) => kb.has(k) && equals(a[k], b[k]));
}

/** Bun's `toMatchObject`: every property of `subset` is in `actual` and matches, recursively. */
export function matchesObject(actual: unknown, subset: unknown): boolean {
  if (!isObj(subset) || subset instanceof Date || subset instanceof RegExp || subset instanceof Map || subset instanceof Set) {
    return equals(actual, subset);
  }
  if (!isObj(actual)) return false;
  if (Array.isArray(subset)) {
    return Array.isArray(actual) && actual.length === subset.length && subset.every((s, i) => matchesObject(actual[i], s));
  }
  return Object.keys(subset).every((k) => k in actual && matchesObject(actual[k], subset[k]));
}

const show = (v: unknown) => inspect(v, { depth: 6, breakLength: 120 });

/** What a matcher decides, and how to say it when that was not wanted. */
type Verdict = { pass: boolean; says: string };
type Matcher = (actual: unknown, ...expected: any[]) => Verdict;

function thrownBy(fn: unknown): { threw: boolean; error?: unknown } {
  if (typeof fn !== "function") throw new TypeError(`toThrow expects a function, got ${show(fn)}`);
  try {
    fn();
    return { threw: false };
  } catch (error) {
    return { threw: true, error };
  }
}

function throwMatches(error: unknown, expected: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  if (expected === undefined) return true;
  if (typeof expected === "string") return message.includes(expected);
  if (expected instanceof RegExp) return expected.test(message);
  if (typeof expected === "function") return error instanceof expected;
  if (expected instanceof Error) return message === expected.message;
  throw new TypeError(`toThrow expects a string, RegExp, Error or class, got ${show(expected)}`);
}

const num = (v: unknown, name: string) => {
  if (typeof v !== "number" && typeof v !== "bigint") throw new TypeError(`${name} expects a number, got ${show(v)}`);
  return v;
};

const MATCHERS: Record<string, Matcher> = {
  toBe: (a, e) => ({ pass: Object.is(a, e), says: `${show(a)} to be ${show(e)}` }),
  toEqual: (a, e) => ({ pass: equals(a, e), says: `${show(a)} to equal ${show(e)}` }),
  toStrictEqual: (a, e) => ({ pass: equals(a, e) && Object.getPrototypeOf(a) === Object.getPrototypeOf(e), says: `${show(a)} to strictly equal ${show(e)}` }),
  toMatchObject: (a, e) => ({ pass: matchesObject(a, e), says: `${show(a)} to match object ${show(e)}` }),
  toContain: (a, e) => ({
    pass: typeof a === "string" ? typeof e === "string" && a.includes(e) : [...(a as Iterable<unknown>)].some((x) => Object.is(x, e)),
    says: `${show(a)} to contain ${show(e)}`,
  }),
  toMatch: (a, e: RegExp | string) => {
    if (typeof a !== "string") throw new TypeError(`toMatch expects a string, got ${show(a)}`);
    return { pass: typeof e === "string" ? a.includes(e) : e.test(a), says: `${show(a)} to match ${show(e)}` };
  },
  toStartWith: (a, e: string) => ({ pass: typeof a === "string" && a.startsWith(e), says: `${show(a)} to start with ${show(e)}` }),
  toEndWith: (a, e: string) => ({ pass: typeof a === "string" && a.endsWith(e), says: `${show(a)} to end with ${show(e)}` }),
  toHaveLength: (a, n: number) => ({ pass: (a as { length?: unknown })?.length === n, says: `${show(a)} to have length ${n}` }),
  toBeInstanceOf: (a, c: new (...args: never[]) => unknown) => ({ pass: a instanceof c, says: `${show(a)} to be an instance of ${c.name}` }),
  toBeNull: (a) => ({ pass: a === null, says: `${show(a)} to be null` }),
  toBeUndefined: (a) => ({ pass: a === undefined, says: `${show(a)} to be undefined` }),
  toBeDefined: (a) => ({ pass: a !== undefined, says: `${show(a)} to be defined` }),
  toBeTruthy: (a) => ({ pass: !!a, says: `${show(a)} to be truthy` }),
  toBeFalsy: (a) => ({ pass: !a, says: `${show(a)} to be falsy` }),
  toBeString: (a) => ({ pass: typeof a === "string", says: `${show(a)} to be a string` }),
  toBeGreaterThan: (a, e) => ({ pass: num(a, "toBeGreaterThan") > num(e, "toBeGreaterThan"), says: `${show(a)} to be > ${show(e)}` }),
  toBeGreaterThanOrEqual: (a, e) => ({ pass: num(a, "toBeGreaterThanOrEqual") >= num(e, "toBeGreaterThanOrEqual"), says: `${show(a)} to be >= ${show(e)}` }),
  toBeLessThan: (a, e) => ({ pass: num(a, "toBeLessThan") < num(e, "toBeLessThan"), says: `${show(a)} to be < ${show(e)}` }),
  toBeLessThanOrEqual: (a, e) => ({ pass: num(a, "toBeLessThanOrEqual") <= num(e, "toBeLessThanOrEqual"), says: `${show(a)} to be <= ${show(e)}` }),
  toBeCloseTo: (a, e: number, digits = 2) => ({
    pass: Math.abs((num(a, "toBeCloseTo") as number) - e) < 10 ** -digits / 2,
    says: `${show(a)} to be close to ${e} (${digits} digits)`,
  }),
  toThrow: (fn, expected) => {
    const r = thrownBy(fn);
    const what = expected === undefined ? "" : ` ${typeof expected === "function" ? expected.name : show(expected)}`;
    const got = r.threw ? `it threw ${show(r.error instanceof Error ? r.error.message : r.error)}` : "it did not throw";
    return { pass: r.threw && throwMatches(r.error, expected), says: `the function to throw${what}; ${got}` };
  },
};

/** The matchers of one `expect(...)`, with `.not`, `.rejects` and `.resolves`. */
export type Expectation = Record<string, (...expected: any[]) => any> & {
  not: Expectation;
  rejects: Expectation;
  resolves: Expectation;
};

function build(actual: unknown, negated: boolean, mode: "sync" | "rejects" | "resolves"): Expectation {
  const check = (name: string, value: unknown, expected: unknown[]) => {
    const v = MATCHERS[name](value, ...expected);
    if (v.pass === negated) {
      throw new AssertionError({ message: `expect(received)${negated ? ".not" : ""}.${name}: expected ${negated ? "NOT " : ""}${v.says}` });
    }
  };
  return new Proxy({} as Expectation, {
    get(_, prop) {
      if (prop === "not") return build(actual, !negated, mode);
      if (prop === "rejects" || prop === "resolves") return build(actual, negated, prop);
      if (prop === "then") return undefined; // not a thenable
      const name = String(prop);
      if (!(name in MATCHERS)) throw new Error(`deno_expect: matcher ${name} is not implemented (tests/support/deno_expect.ts)`);
      return (...expected: unknown[]) => {
        if (mode === "sync") return check(name, actual, expected);
        return Promise.resolve(actual).then(
          (value) => {
            if (mode === "rejects") throw new AssertionError({ message: `expect(received).rejects.${name}: the promise resolved to ${show(value)}` });
            check(name, value, expected);
          },
          (reason) => {
            if (mode === "resolves") throw new AssertionError({ message: `expect(received).resolves.${name}: the promise rejected with ${show(reason)}` });
            // As Bun: the rejection reason is what the matcher sees (as if thrown, for toThrow).
            check(name, name === "toThrow" ? () => { throw reason; } : reason, expected);
          },
        );
      };
    },
  });
}

/** `expect(actual).<matcher>(...)`, as `bun:test`'s. */
export function expect(actual: unknown): Expectation {
  return build(actual, false, "sync");
}
