import { expect, test } from "bun:test";
import type { StreamInfo } from "@nats-io/jetstream";
import { loadConfig } from "./config.ts";
import { checkPositions, FatalJobError, subjectsOverlap } from "./job_streams.ts";

test("job streams - subjectsOverlap follows NATS wildcard rules", () => {
  const yes = [["pv.>", "pv.0"], ["pv.0", "pv.0"], ["pv.*", "pv.1"], ["pv.*.x", "pv.a.*"], [">", "a.b"], ["pv.>", "pv.*"]];
  const no = [["pv.0", "pv.1"], ["pv.>", "pv"], ["pv.*", "pv.1.2"], ["pv.0", "pv.0.1"], ["a.>", "b.>"], ["pv.*", "pv"]];
  for (const [a, b] of yes) expect([a, b, subjectsOverlap(a, b), subjectsOverlap(b, a)]).toEqual([a, b, true, true]);
  for (const [a, b] of no) expect([a, b, subjectsOverlap(a, b), subjectsOverlap(b, a)]).toEqual([a, b, false, false]);
});

const info = (lastSeq: number, created = "2026-01-01T00:00:00Z") =>
  ({ created, state: { last_seq: lastSeq } }) as unknown as StreamInfo;
const restored = (positions: Record<string, number>, streamCreated?: string) =>
  ({ checkpointId: 3, positions, streamCreated, counts: { keys: [], counts: [] } });

test("job streams - positions within the stream, of the same stream, with the same splits are accepted", () => {
  const config = loadConfig({ PVFLOW_SUBJECTS: "pv.0,pv.1" });
  expect(() => checkPositions(config, restored({ "pv.0": 10, "pv.1": 12 }, "2026-01-01T00:00:00Z"), info(12))).not.toThrow();
  // A disjoint new split is fine: it starts from the beginning of its own events.
  const more = loadConfig({ PVFLOW_SUBJECTS: "pv.0,pv.1,pv.2" });
  expect(() => checkPositions(more, restored({ "pv.0": 10, "pv.1": 12 }), info(12))).not.toThrow();
});

test("job streams - a position beyond the stream's end, another stream, or an overlapping new split is fatal", () => {
  const config = loadConfig({ PVFLOW_SUBJECTS: "pv.0,pv.1,pv.2,pv.3" });
  expect(() => checkPositions(config, restored({ "pv.0": 50 }), info(12))).toThrow(/resumes after sequence 50 but stream PV ends at 12/);
  expect(() => checkPositions(config, restored({ "pv.0": 5 }, "2025-01-01T00:00:00Z"), info(12))).toThrow(/deleted and recreated/);
  expect(() => checkPositions(config, restored({ "pv.>": 9 }), info(12))).toThrow(FatalJobError);
  expect(() => checkPositions(config, restored({ "pv.>": 9 }), info(12))).toThrow(/new split pv.0 overlaps split pv.> of the checkpoint/);
});
