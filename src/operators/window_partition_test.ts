/**
 * @module
 * Tests for {@link windowPartition}: every (key, window) lands once, in its key's subtask.
 */
import { expect, test } from "bun:test";
import { subtaskOfKey } from "../runtime/key_group.ts";
import { windowPartition } from "./window_partition.ts";

test("window partition - each entry goes to the subtask of its key, once", () => {
  const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);
  const state = {
    watermark: -Infinity, keys, starts: keys.map((_, i) => (i % 3) * 1000), counts: keys.map((_, i) => i + 1),
    revisions: keys.map((_, i) => i % 2), fired: [0],
  };
  const parts = windowPartition(state, 128, 3);
  expect(parts.reduce((n, p) => n + p.keys.length, 0)).toBe(50);
  parts.forEach((p, s) => {
    for (let i = 0; i < p.keys.length; i++) {
      expect(subtaskOfKey(p.keys[i], 128, 3)).toBe(s);
      const j = keys.indexOf(p.keys[i]);
      expect([p.starts[i], p.counts[i], p.revisions[i]]).toEqual([state.starts[j], state.counts[j], state.revisions[j]]);
    }
    expect(p.fired).toEqual([0]);
  });
  expect(windowPartition(undefined, 128, 2).map((p) => p.keys.length)).toEqual([0, 0]);
});
