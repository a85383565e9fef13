/**
 * @module
 * Unit tests for the log formats: JSON lines start with time, level, msg, keep the fields, are
 * always one line and cannot have their reserved keys overwritten; text lines are as they were;
 * levels and fields read from the job's lines; the console captured in JSON format only.
 */
import { describe, expect, test } from "bun:test";
import { fieldsOf, formatLogLine, levelOf, Logger } from "./log.ts";

const NOW = new Date("2026-12-01T10:20:30.456Z");

describe("log", () => {
  test("log - json: one object per line with time, level, msg first, then the fields", () => {
    const line = formatLogLine("json", "warn", "split pv.1: gap; recreating", { split: "pv.1", n: 3, ok: false, none: null }, NOW);
    expect(Object.keys(JSON.parse(line))).toEqual(["time", "level", "msg", "split", "n", "ok", "none"]);
    expect(JSON.parse(line)).toEqual({ time: "2026-12-01T10:20:30.456Z", level: "warn", msg: "split pv.1: gap; recreating", split: "pv.1", n: 3, ok: false, none: null });
  });

  test("log - json: a message with newlines, quotes, NUL or a lone surrogate is still one parseable line", () => {
    const msg = 'a\nb\r\n"c"\u0000 \ud800 \u2028';
    const line = formatLogLine("json", "error", msg, {}, NOW);
    expect(line).not.toMatch(/[\n\r]/);
    expect(JSON.parse(line).msg).toBe(msg);
  });

  test("log - json: fields cannot overwrite time, level or msg", () => {
    const o = JSON.parse(formatLogLine("json", "info", "real", { time: "x", level: "error", msg: "fake", k: 1 }, NOW));
    expect(o).toEqual({ time: NOW.toISOString(), level: "info", msg: "real", k: 1 });
  });

  test("log - text: '<time> pvflow: <msg>', fields dropped (the message says it)", () => {
    expect(formatLogLine("text", "error", "checkpoint 3 FAILED: x", { checkpointId: 3 }, NOW)).toBe("2026-12-01T10:20:30.456Z pvflow: checkpoint 3 FAILED: x");
  });

  test("log - the job's lines: levels", () => {
    expect(levelOf("checkpoint 7 FAILED: commit: database is locked")).toBe("error");
    expect(levelOf("RESTARTING: source subtask 0 failed: boom")).toBe("error");
    expect(levelOf("count subtask 1 crashed: x")).toBe("error");
    expect(levelOf("waiting for NATS (connection refused); retrying in 500 ms")).toBe("warn");
    expect(levelOf("source 0: split pv.2: consumer gap; recreating its consumer at sequence 18")).toBe("warn");
    expect(levelOf("cannot create dead-letter stream PV_DLQ: x")).toBe("warn");
    expect(levelOf("RUNNING")).toBe("info");
    expect(levelOf("final checkpoint 12 completed")).toBe("info");
  });

  test("log - the job's lines: fields", () => {
    expect(fieldsOf("checkpoint 7 FAILED: timeout")).toEqual({ checkpointId: 7 });
    expect(fieldsOf("FAILED: stream PV was recreated")).toEqual({ state: "FAILED" });
    expect(fieldsOf("RUNNING")).toEqual({ state: "RUNNING" });
    expect(fieldsOf("source 1: split pv.3: consumer gap; recreating")).toEqual({ split: "pv.3", subtask: "source 1" });
    expect(fieldsOf("RESTARTING: count subtask 0 failed: x")).toEqual({ state: "RESTARTING", subtask: "count 0" });
    expect(fieldsOf("created stream PV (pv.>)")).toEqual({});
  });

  test("log - fatal: text as 'pvflow: <msg>' without a time; json an error object", () => {
    const out: string[] = [];
    new Logger("text", (l) => out.push(l)).fatal("PVFLOW_X must be y");
    new Logger("json", (l) => out.push(l)).fatal("PVFLOW_X must be y", { variable: "PVFLOW_X" });
    expect(out[0]).toBe("pvflow: PVFLOW_X must be y");
    expect(JSON.parse(out[1])).toMatchObject({ level: "error", msg: "PVFLOW_X must be y", variable: "PVFLOW_X" });
  });

  test("log - captureConsole routes console output through the JSON log, and leaves it alone in text", () => {
    const out: string[] = [];
    const target = { log: () => {}, info: () => {}, warn: () => {}, error: () => {} } as Pick<Console, "log" | "info" | "warn" | "error">;
    const original = target.error;
    new Logger("text", (l) => out.push(l)).captureConsole(target);
    expect(target.error).toBe(original);
    new Logger("json", (l) => out.push(l)).captureConsole(target);
    target.error("status server: GET /x:", new Error("boom"));
    target.log({ a: 1 });
    target.warn("careful");
    expect(out.map((l) => JSON.parse(l)).map(({ level, msg }) => ({ level, msg }))).toEqual([
      { level: "error", msg: "status server: GET /x: boom" },
      { level: "info", msg: "{ a: 1 }" },
      { level: "warn", msg: "careful" },
    ]);
  });
});
