/**
 * @module
 * The order of `bun:test`'s hooks, as the unit tests rely on it — under `bun test` this checks Bun,
 * under `deno test` the stand-in {@link ./bun_test_on_deno.ts}: both must give the same order.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";

const log: string[] = [];
beforeAll(() => void log.push("beforeAll"));
beforeEach(() => void log.push("beforeEach"));
afterEach(() => void log.push("afterEach"));

describe("hooks", () => {
  beforeAll(async () => {
    await new Promise((r) => setTimeout(r, 5)); // an async hook is awaited before the test
    log.push("inner beforeAll");
  });
  beforeEach(() => void log.push("inner beforeEach"));
  afterEach(() => void log.push("inner afterEach"));
  afterAll(() => void log.push("inner afterAll"));
  test("one", () => void log.push("one"));
  describe("nested", () => {
    afterAll(() => void log.push("nested afterAll"));
    test("two", () => void log.push("two"));
  });
});

test("test hooks - beforeAll/afterAll around their scope, beforeEach/afterEach around each test, outer first in, inner first out", () => {
  expect(log).toEqual([
    "beforeAll",
    "inner beforeAll", "beforeEach", "inner beforeEach", "one", "inner afterEach", "afterEach",
    "beforeEach", "inner beforeEach", "two", "inner afterEach", "afterEach", "nested afterAll", "inner afterAll",
    "beforeEach", // this test's own
  ]);
});
