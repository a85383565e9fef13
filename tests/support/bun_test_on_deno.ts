/**
 * @module
 * What `bun:test` means under Deno: deno.json's import map points `bun:test` here, so one copy of
 * each test file runs under `bun test` and `deno test`. `test`/`describe` register `Deno.test`s
 * (named "describe > test", as Bun prints them); `beforeAll`/`afterAll` run around the first and
 * the last test of their scope, `beforeEach`/`afterEach` around each. `expect` is
 * {@link ./deno_expect.ts}. A per-test timeout argument is accepted and ignored (Deno has none).
 * Deno's op and resource sanitizers are off: Bun has none, and the tests close what they open
 * in `afterAll`, which a sanitizer would see as a leak of the tests before it.
 */
export { expect } from "./deno_expect.ts";

type Hook = () => unknown;
type TestFn = () => unknown;

interface DenoTestDefinition {
  name: string;
  fn: () => Promise<void>;
  ignore?: boolean;
  sanitizeOps?: boolean;
  sanitizeResources?: boolean;
}
const Deno = (globalThis as unknown as { Deno?: { test(t: DenoTestDefinition): void } }).Deno;
if (!Deno) throw new Error("tests/support/bun_test_on_deno.ts stands in for bun:test under Deno only");

interface Scope {
  name?: string;
  parent?: Scope;
  beforeAll: Hook[];
  afterAll: Hook[];
  beforeEach: Hook[];
  afterEach: Hook[];
  /** Tests registered in this scope and below, and how many of them have finished. */
  tests: number;
  finished: number;
  /** Set once beforeAll ran; holds its error, which every test of the scope then fails with. */
  setup?: { error?: unknown };
}

const newScope = (name?: string, parent?: Scope): Scope =>
  ({ name, parent, beforeAll: [], afterAll: [], beforeEach: [], afterEach: [], tests: 0, finished: 0 });
let current = newScope();

/** The scope and its ancestors, outermost first. */
function chain(s: Scope): Scope[] {
  const out: Scope[] = [];
  for (let x: Scope | undefined = s; x; x = x.parent) out.unshift(x);
  return out;
}

async function run(scope: Scope, fn: TestFn): Promise<void> {
  const scopes = chain(scope);
  try {
    for (const s of scopes) {
      if (!s.setup) {
        s.setup = {};
        try {
          for (const h of s.beforeAll) await h();
        } catch (error) {
          s.setup.error = error;
        }
      }
      if (s.setup.error !== undefined) throw s.setup.error;
    }
    try {
      for (const s of scopes) for (const h of s.beforeEach) await h();
      await fn();
    } finally {
      for (const s of [...scopes].reverse()) for (const h of s.afterEach) await h();
    }
  } finally {
    // The last test of a scope runs its afterAll hooks, innermost scope first.
    for (const s of [...scopes].reverse()) {
      if (++s.finished === s.tests) for (const h of s.afterAll) await h();
    }
  }
}

function register(name: string, fn: TestFn, ignore = false): void {
  const scope = current;
  const names = chain(scope).map((s) => s.name).filter((n) => n !== undefined);
  if (!ignore) for (const s of chain(scope)) s.tests++;
  Deno!.test({
    name: [...names, name].join(" > "),
    fn: () => run(scope, fn),
    ignore,
    sanitizeOps: false,
    sanitizeResources: false,
  });
}

type TestApi = ((name: string, fn: TestFn, timeout?: unknown) => void) & {
  skip: (name: string, fn: TestFn, timeout?: unknown) => void;
  skipIf: (condition: unknown) => (name: string, fn: TestFn, timeout?: unknown) => void;
  if: (condition: unknown) => (name: string, fn: TestFn, timeout?: unknown) => void;
  todo: (name: string, fn?: TestFn) => void;
};

/** `test(name, fn, timeout?)` and its `skip`, `skipIf`, `if`, `todo`. */
export const test: TestApi = Object.assign((name: string, fn: TestFn) => register(name, fn), {
  skip: (name: string, fn: TestFn) => register(name, fn, true),
  skipIf: (condition: unknown) => (name: string, fn: TestFn) => register(name, fn, !!condition),
  if: (condition: unknown) => (name: string, fn: TestFn) => register(name, fn, !condition),
  todo: (name: string, fn?: TestFn) => register(name, fn ?? (() => {}), true),
});
export const it = test;

/** `describe(name, fn)`: a named scope for tests and hooks; `fn` runs at once, synchronously. */
export function describe(name: string, fn: () => void): void {
  const parent = current;
  current = newScope(name, parent);
  try {
    const r = fn() as unknown;
    if (r instanceof Promise) throw new Error(`describe("${name}"): an async describe callback is not supported`);
  } finally {
    current = parent;
  }
}

export const beforeAll = (h: Hook): void => void current.beforeAll.push(h);
export const afterAll = (h: Hook): void => void current.afterAll.push(h);
export const beforeEach = (h: Hook): void => void current.beforeEach.push(h);
export const afterEach = (h: Hook): void => void current.afterEach.push(h);
