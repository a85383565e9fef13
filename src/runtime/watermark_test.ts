/**
 * @module
 * Tests for the watermark trackers: scripted examples (out-of-orderness, an idle split, a whole
 * idle source, restore) and fast-check properties against a brute-force model.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ChannelWatermarks, NO_WATERMARK, SplitWatermarks } from "./watermark.ts";

describe("split watermarks", () => {
  test("split watermarks - the minimum over splits of max time minus the bound, never going back", () => {
    const w = new SplitWatermarks([NO_WATERMARK, NO_WATERMARK], 5000, 0, 0);
    expect(w.advance(0)).toBeUndefined(); // nothing seen
    w.observe(0, 100_000, 1);
    expect(w.advance(1)).toBeUndefined(); // split 1 has seen nothing: holds back
    w.observe(1, 50_000, 2);
    expect(w.advance(2)).toBe(45_000);
    w.observe(1, 40_000, 3); // out of order: max stays
    expect(w.advance(3)).toBeUndefined();
    w.observe(1, 120_000, 4);
    expect(w.advance(4)).toBe(95_000);
    expect(w.current).toBe(95_000);
    expect(w.maxTimes()).toEqual([100_000, 120_000]);
  });

  test("split watermarks - an idle split does not hold the others back; all idle: the maximum", () => {
    const w = new SplitWatermarks([NO_WATERMARK, NO_WATERMARK], 0, 1000, 0);
    w.observe(0, 10_000, 10);
    expect(w.advance(500)).toBeUndefined(); // split 1 not idle yet
    expect(w.advance(1000)).toBe(10_000); // split 1 idle since start
    w.observe(0, 20_000, 1500);
    expect(w.advance(1600)).toBe(20_000);
    expect(w.advance(5000)).toBeUndefined(); // both idle: max, unchanged
    w.observe(1, 5_000, 5001); // the idle split wakes up behind: the watermark does not go back
    expect(w.advance(5002)).toBeUndefined();
    expect(w.current).toBe(20_000);
    w.observe(1, 30_000, 5003);
    w.observe(0, 40_000, 5003);
    expect(w.advance(5004)).toBe(30_000);
  });

  test("split watermarks - restored max times give the watermark back at once", () => {
    const w = new SplitWatermarks([70_000, 60_000], 5000, 0, 0);
    expect(w.advance(0)).toBe(55_000);
  });

  test("split watermarks - property: equals the model, is monotone, never passes a busy split", () => {
    const op = fc.oneof(
      fc.record({ split: fc.nat(2), ts: fc.nat(1_000_000), dt: fc.nat(400) }),
      fc.record({ dt: fc.nat(400) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), fc.nat(3000), fc.integer({ min: 0, max: 1000 }), (ops, ooo, idle) => {
        const w = new SplitWatermarks([NO_WATERMARK, NO_WATERMARK, NO_WATERMARK], ooo, idle, 0);
        const max = [NO_WATERMARK, NO_WATERMARK, NO_WATERMARK];
        const last = [0, 0, 0];
        let now = 0;
        let model = NO_WATERMARK;
        for (const o of ops) {
          now += o.dt;
          if ("split" in o) {
            w.observe(o.split, o.ts, now);
            max[o.split] = Math.max(max[o.split], o.ts);
            last[o.split] = now;
            continue;
          }
          const before = w.current;
          const out = w.advance(now);
          const active = [0, 1, 2].filter((s) => idle === 0 || now - last[s] < idle);
          const cand = active.length > 0 ? Math.min(...active.map((s) => max[s] - ooo)) : Math.max(...max.map((m) => m - ooo));
          model = Math.max(model, cand);
          expect(w.current).toBe(model);
          expect(out).toBe(model > before ? model : undefined);
          for (const s of active) if (w.current > before) expect(w.current).toBeLessThanOrEqual(max[s] - ooo);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("channel watermarks", () => {
  test("channel watermarks - the minimum over open channels; a closed channel no longer holds back", () => {
    const w = new ChannelWatermarks(3);
    expect(w.update(0, 100)).toBeUndefined();
    expect(w.update(1, 50)).toBeUndefined();
    expect(w.update(2, 70)).toBe(50);
    expect(w.update(1, 40)).toBeUndefined(); // a channel's watermark never goes back
    expect(w.update(1, 200)).toBe(70);
    expect(w.close(2)).toBe(100);
    expect(w.close(0)).toBe(200);
    expect(w.close(1)).toBeUndefined(); // all closed: stays
    expect(w.current).toBe(200);
  });

  test("channel watermarks - property: the running maximum of the minimum over open channels", () => {
    const op = fc.oneof(fc.record({ c: fc.nat(3), wm: fc.integer({ min: -100, max: 1000 }) }), fc.record({ close: fc.nat(3) }));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 100 }), (ops) => {
        const w = new ChannelWatermarks(4);
        const per = [NO_WATERMARK, NO_WATERMARK, NO_WATERMARK, NO_WATERMARK];
        const closed = [false, false, false, false];
        let model = NO_WATERMARK;
        for (const o of ops) {
          const before = w.current;
          let out: number | undefined;
          if ("close" in o) {
            closed[o.close] = true;
            out = w.close(o.close);
          } else {
            per[o.c] = Math.max(per[o.c], o.wm);
            out = w.update(o.c, o.wm);
          }
          const open = per.filter((_, c) => !closed[c]);
          if (open.length > 0) model = Math.max(model, Math.min(...open));
          expect(w.current).toBe(model);
          expect(out).toBe(model > before ? model : undefined);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
