import { expect, test } from "bun:test";
import {
  coversStream, describeLimits, idleClaim, judgeProbe, nextProbeDelay, PROBE_MAX_MS, PROBE_MIN_MS, probeStride, removedReason, splitActivity, checkUnverified, needsBacklog,
} from "./front_guard.ts";

test("front guard - a split covers the stream when every stream subject is within it", () => {
  expect(coversStream("pv.>", ["pv.>"])).toBe(true);
  expect(coversStream("pv.>", ["pv.a", "pv.b.*"])).toBe(true);
  expect(coversStream(">", ["a", "b.>"])).toBe(true);
  expect(coversStream("pv.*", ["pv.*"])).toBe(true);
  expect(coversStream("pv.*", ["pv.>"])).toBe(false); // pv.a.b is the stream's, not the split's
  expect(coversStream("pv.0", ["pv.>"])).toBe(false);
  expect(coversStream("pv.>", ["pv.>", "other"])).toBe(false);
  expect(coversStream("pv.>", [])).toBe(false); // sourced or mirrored: unknown subjects
  expect(coversStream("pv.>", undefined)).toBe(false);
});

test("front guard - an idle claim needs nothing pending and nothing in flight", () => {
  const facts = { numPending: 0, deliveredCseq: 7, deliveredSseq: 900 };
  expect(idleClaim(facts, 7, 1000)).toBe(1000); // no event of the split stored up to the last sequence read before
  expect(idleClaim(facts, 7, 800)).toBe(900); // the consumer itself passed 900 without an event
  expect(idleClaim(facts, 6, 1000)).toBe(0); // one delivered but not handled yet: in flight
  expect(idleClaim({ ...facts, numPending: 1 }, 7, 1000)).toBe(0);
});

test("front guard - verified while the front has not passed the verified position", () => {
  const base = { verified: 100, read: 250, claim: 0, active: true };
  expect(judgeProbe({ ...base, first: 1 })).toEqual({ kind: "verified", verified: 250 });
  expect(judgeProbe({ ...base, first: 101 })).toEqual({ kind: "verified", verified: 250 }); // the next one still stored
  expect(judgeProbe({ ...base, claim: 400, first: 50 })).toEqual({ kind: "verified", verified: 400 });
  // never backwards
  expect(judgeProbe({ ...base, read: 90, first: 50 })).toEqual({ kind: "verified", verified: 100 });
});

test("front guard - the front past the verified position: a loss for an active split, nothing for an idle one", () => {
  const base = { verified: 100, read: 250, claim: 0 };
  expect(judgeProbe({ ...base, first: 102, active: true })).toEqual({ kind: "lost", from: 101, to: 101 });
  expect(judgeProbe({ ...base, first: 5000, active: true })).toEqual({ kind: "lost", from: 101, to: 4999 });
  // a keeping-up reader is active too: only probes often enough keep it verified (see nextProbeDelay)
  expect(judgeProbe({ ...base, first: 200, active: true }).kind).toBe("lost");
  expect(judgeProbe({ ...base, first: 5000, active: false })).toEqual({ kind: "idle", verified: 4999 });
  expect(judgeProbe({ ...base, claim: 6000, first: 5000, active: false })).toEqual({ kind: "idle", verified: 6000 });
});

test("front guard - a split that has read nothing (position 0) never loses what the stream no longer holds", () => {
  expect(judgeProbe({ verified: 0, read: 0, claim: 0, first: 5000, active: true })).toEqual({ kind: "verified", verified: 4999 });
  expect(judgeProbe({ verified: 4999, read: 0, claim: 0, first: 9000, active: true })).toEqual({ kind: "verified", verified: 8999 });
});

test("front guard - probes come sooner as the front nears the verified position", () => {
  expect(nextProbeDelay(1000, 0)).toBe(PROBE_MAX_MS); // a front that does not move
  expect(nextProbeDelay(1000, 1)).toBe(500); // 1 sequence per ms: there in 1000 ms, probe in half that
  expect(nextProbeDelay(1_000_000, 1)).toBe(PROBE_MAX_MS);
  expect(nextProbeDelay(100, 10)).toBe(PROBE_MIN_MS);
  expect(nextProbeDelay(-5, 1)).toBe(PROBE_MIN_MS); // an idle split's verified position behind the front
  expect(nextProbeDelay(1000, Number.NaN)).toBe(PROBE_MAX_MS);
});

test("front guard - a reader asks for a probe after a quarter of the stream's length", () => {
  expect(probeStride(1, 2000)).toBe(500);
  expect(probeStride(3001, 5000)).toBe(500);
  expect(probeStride(10, 11)).toBe(1);
  expect(probeStride(6, 5)).toBe(1); // empty stream
});

test("front guard - the reason names the split, the range, the limits and both ways on", () => {
  expect(describeLimits({ max_msgs: 2000, max_bytes: -1, max_age: 0 })).toBe("max_msgs 2000");
  expect(describeLimits({ max_msgs: -1, max_bytes: 1 << 20, max_age: 5e9, max_msgs_per_subject: 10 }))
    .toBe("max_bytes 1048576, max_age 5000 ms, max_msgs_per_subject 10");
  expect(describeLimits({ max_msgs: -1, max_bytes: -1, max_age: 0 })).toBe("no limits (a purge)");
  const maybe = removedReason({
    stream: "PV", split: "pv.1", from: 101, to: 4999, where: "it now starts at sequence 5000", limits: "max_msgs 2000", exact: false,
  });
  expect(maybe).toContain("split pv.1: events of the split between sequences 101 and 4999 may have been removed from stream PV");
  expect(maybe).toContain("it now starts at sequence 5000; max_msgs 2000");
  expect(maybe).toContain("Refusing to skip them silently");
  expect(maybe).toContain("UPDATE positions SET seq = <first - 1> WHERE stream = 'PV' AND subject = 'pv.1'");
  expect(maybe).toContain("new PVFLOW_DB_URL");
  const exact = removedReason({ stream: "PV", split: "pv.>", from: 7, to: 9, where: "w", limits: "l", exact: true });
  expect(exact).toStartWith("split pv.>: events 7 to 9 were removed from stream PV before pvflow read them (w; l)");
});

test("front guard - a split is active between probes when events of it were waiting, unread", () => {
  const prev = { pendingSeen: 10, transitGaps: 0, consumer: "c1", handledCseq: 500, numPending: 0 };
  const same = { ...prev, numPending: undefined };
  expect(splitActivity(prev, same)).toEqual({ active: false, numPending: 0 }); // idle: nothing delivered, nothing pending
  expect(splitActivity(prev, { ...same, numPending: 0 })).toEqual({ active: false, numPending: 0 });
  // delivered events whose replies said more were pending after them
  expect(splitActivity(prev, { ...same, handledCseq: 600, pendingSeen: 11 }).active).toBe(true);
  // delivered, none with more pending: caught up
  expect(splitActivity(prev, { ...same, handledCseq: 600 })).toEqual({ active: false, numPending: 0 });
  expect(splitActivity(prev, { ...same, transitGaps: 1 }).active).toBe(true);
  expect(splitActivity(prev, { ...same, numPending: 3 })).toEqual({ active: true, numPending: 3 });
  // a backlog the last probe saw: still there (or gone unread) while nothing was delivered since
  const backlog = { ...prev, numPending: 40 };
  expect(splitActivity(backlog, same)).toEqual({ active: true, numPending: 40 });
  expect(splitActivity(backlog, { ...same, numPending: 0 })).toEqual({ active: true, numPending: 0 });
  // ... but once it delivers, the replies tell: an old count is not carried on
  expect(splitActivity(backlog, { ...same, handledCseq: 540 })).toEqual({ active: false, numPending: 0 });
  expect(splitActivity(backlog, { ...same, consumer: "c2", handledCseq: 0 })).toEqual({ active: false, numPending: 0 });
});

test("front guard - a checkpoint's unverified positions: committed when the front has not passed them, else the reason", () => {
  const u = (split: string, verified: number, position: number, active: boolean) => ({ split, verified, position, active, limits: "max_msgs 2000", limited: true });
  const splits = [u("pv.0", 100, 900, true), u("pv.3", 50, 60, false)];
  expect(checkUnverified("PV", splits, 101)).toBeUndefined(); // nothing after either verified position removed
  expect(checkUnverified("PV", splits, 2000)).toStartWith("split pv.0: events of the split between sequences 101 and 1999 may have been removed from stream PV");
  // the idle split alone: not a loss
  expect(checkUnverified("PV", [splits[1]], 2000)).toBeUndefined();
  expect(checkUnverified("PV", [], 2000)).toBeUndefined();
});

test("front guard - the backlog is asked only when the front passed the verified position of a split that showed none", () => {
  expect(needsBacklog({ verified: 100, position: 900, active: false }, 2000)).toBe(true);
  expect(needsBacklog({ verified: 100, position: 900, active: true }, 2000)).toBe(false); // a loss already
  expect(needsBacklog({ verified: 100, position: 900, active: false }, 101)).toBe(false); // verified
  expect(needsBacklog({ verified: 0, position: 0, active: false }, 2000)).toBe(false); // read nothing yet
});
