/**
 * @module
 * Consumer names: one instance and cluster instances never take each other's consumers for their
 * own leftovers, nor do two cluster instances; a restarted instance (same id) finds its own.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { consumerPrefix, instanceTag, isOwnConsumer } from "./consumer_names.ts";

const name = (subtask: number, tag: string | undefined, suffix: string) => `${consumerPrefix(subtask, tag)}_${suffix}`;
const suffix = fc.stringMatching(/^[0-9a-f]{6}$/);

describe("consumer names", () => {
  test("consumer names - the one instance's form is unchanged, and its own", () => {
    expect(name(0, undefined, "a1b2c3")).toBe("pvf0_a1b2c3");
    expect(isOwnConsumer("pvf12_a1b2c3", undefined)).toBe(true);
    expect(isOwnConsumer("pvf1_a1b2c", undefined)).toBe(false);
    expect(isOwnConsumer("other_a1b2c3", undefined)).toBe(false);
  });

  test("consumer names - the tag is 8 hex digits, the same for the same id (a restart finds its leftovers)", () => {
    expect(instanceTag(undefined)).toBeUndefined();
    fc.assert(fc.property(fc.string({ minLength: 1 }), fc.nat(64), suffix, (id, subtask, sfx) => {
      const tag = instanceTag(id)!;
      expect(tag).toMatch(/^[0-9a-f]{8}$/);
      expect(instanceTag(id)).toBe(tag);
      expect(isOwnConsumer(name(subtask, tag, sfx), tag)).toBe(true);
    }));
  });

  test("consumer names - another instance's consumers are never its own, in either mode", () => {
    fc.assert(fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), fc.nat(64), suffix, (a, b, subtask, sfx) => {
      fc.pre(instanceTag(a) !== instanceTag(b));
      const [ta, tb] = [instanceTag(a), instanceTag(b)];
      expect(isOwnConsumer(name(subtask, tb, sfx), ta)).toBe(false);
      expect(isOwnConsumer(name(subtask, ta, sfx), undefined)).toBe(false); // one instance spares cluster ones
      expect(isOwnConsumer(name(subtask, undefined, sfx), ta)).toBe(false); // and the other way round
    }));
  });

  test("consumer names - ids that differ in one byte get different tags", () => {
    const tags = new Set(["a", "b", "c", "host-1", "host-2", "host-10", "h\u00e9"].map(instanceTag));
    expect(tags.size).toBe(7);
  });
});
