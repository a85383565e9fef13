import { expect, test } from "bun:test";
import type { StreamInfo } from "@nats-io/jetstream";
import { loadConfig } from "./config.ts";
import {
  checkPositions, checkSplitsInStream, ConfigRefusedError, FatalJobError, purgedPastPosition,
} from "./job_streams.ts";

const info = (lastSeq: number, created = "2026-01-01T00:00:00Z", firstSeq = 1) =>
  ({ created, state: { first_seq: firstSeq, last_seq: lastSeq } }) as unknown as StreamInfo;
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

test("job streams - purgedPastPosition: the stream's first sequence is past position + 1", () => {
  expect(purgedPastPosition(0, 500)).toBe(false); // nothing read yet: start at the first event there is
  expect(purgedPastPosition(10, 1)).toBe(false);
  expect(purgedPastPosition(10, 11)).toBe(false); // the next event is the first one: nothing lost
  expect(purgedPastPosition(10, 12)).toBe(true); // event 11 is gone
  expect(purgedPastPosition(100, 101)).toBe(false); // everything read was purged, nothing after it
});

test("job streams - a position whose next events were purged is fatal, naming the split, the position and the first sequence", () => {
  const config = loadConfig({ PVFLOW_SUBJECTS: "pv.0,pv.1" });
  const created = "2026-01-01T00:00:00Z";
  expect(() => checkPositions(config, restored({ "pv.0": 10, "pv.1": 40 }, created), info(50, created, 11))).not.toThrow();
  let err: unknown;
  try {
    checkPositions(config, restored({ "pv.0": 40, "pv.1": 10 }, created), info(50, created, 21));
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(FatalJobError);
  expect(err).not.toBeInstanceOf(ConfigRefusedError);
  const message = (err as Error).message;
  expect(message).toStartWith("split pv.1 resumes after sequence 10, but stream PV now starts at sequence 21: events 11 to 20 were removed");
  expect(message).toContain("new PVFLOW_DB_URL");
  expect(message).not.toContain("\n");
});

test("job streams - every split must be a subset of one of the stream's subjects", () => {
  const ok: Array<[string, string[]]> = [
    ["pv.>", ["pv.>"]], ["pv.0,pv.1", ["pv.>"]], ["pv.*", ["pv.*"]], ["pv.a.b", ["x.>", "pv.*.b"]], ["a,b", ["a", "b"]],
  ];
  for (const [subjects, stream] of ok) {
    expect(() => checkSplitsInStream(loadConfig({ PVFLOW_SUBJECTS: subjects, PVFLOW_DLQ_SUBJECT: "dlq" }), stream)).not.toThrow();
  }
  // A stream without subjects of its own (sourced, mirrored) is not checked.
  expect(() => checkSplitsInStream(loadConfig({ PVFLOW_SUBJECTS: "x.1" }), undefined)).not.toThrow();
  expect(() => checkSplitsInStream(loadConfig({ PVFLOW_SUBJECTS: "x.1" }), [])).not.toThrow();
  const refused: Array<[string, string[], string]> = [
    ["pv.0,x.1", ["pv.>"], "x.1"], ["pv.>", ["pv.*"], "pv.>"], ["pv.*", ["pv.0", "pv.1"], "pv.*"], ["pv", ["pv.>"], "pv"],
  ];
  for (const [subjects, stream, split] of refused) {
    let err: unknown;
    try {
      checkSplitsInStream(loadConfig({ PVFLOW_SUBJECTS: subjects, PVFLOW_DLQ_SUBJECT: "dlq" }), stream);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigRefusedError);
    expect(err).toBeInstanceOf(FatalJobError); // the job goes FAILED at once
    expect((err as Error).message).toBe(
      `PVFLOW_SUBJECTS must be subjects within the subjects of stream PV (${stream.join(", ")}), got ${JSON.stringify(split)}`,
    );
  }
});
