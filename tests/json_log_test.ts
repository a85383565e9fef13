/**
 * End-to-end: `PVFLOW_LOG_FORMAT=json` makes every line the binary writes, on stdout and stderr,
 * one JSON object with time, level and msg — through startup, processing, malformed events, a
 * worker failure and the restart it causes (errors), a stop — and none contains the admin token.
 * A bad variable is one JSON line.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { openStream, publishRange } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { withTempDirAndBinary } from "./support/suite.ts";
import { pipelineEnv, PvflowProcess, waitFor } from "./support/pvflow_process.ts";

const ADMIN = "json-log-admin-token-3f9";

let dir: string;
let binary: string;
withTempDirAndBinary("pvflow-json-log-", (d, b) => {
  dir = d;
  binary = b;
});

/** Every line of `log` as an object; fails naming the first line that is not a JSON log object. */
function parseLines(log: string): Array<Record<string, unknown>> {
  const lines = log.split("\n");
  expect(lines.pop()).toBe(""); // ends with a newline: no partial line
  return lines.map((line) => {
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line);
    } catch {
      throw new Error(`not a JSON line: ${JSON.stringify(line)}`);
    }
    expect(`${typeof o.time} ${typeof o.msg} ${["info", "warn", "error"].includes(o.level as string)}`).toBe("string string true");
    expect(new Date(o.time as string).toISOString()).toBe(o.time as string);
    return o;
  });
}

test("json log - every line on stdout and stderr is a JSON object, through a worker failure, a restart and a stop", async () => {
  await using nats = await NatsServer.start();
  const { nc, js } = await openStream(nats.url);
  await publishRange(js, 0, 2_000, new Map());
  await js.publish("pv.1", "not json"); // a dead letter
  const pv = await PvflowProcess.start({
    binary, env: pipelineEnv(nats.url, join(dir, "json.db"), {
      PVFLOW_LOG_FORMAT: "json", PVFLOW_ADMIN_TOKEN: ADMIN, PVFLOW_FAULT_COUNT_THROW_AT: "300", PVFLOW_RESTART_BACKOFF_MS: "50",
    }),
  });
  await waitFor(async () => (await pv.json("/status")).body.restarts >= 1 && (await pv.json("/status")).body.state === "RUNNING",
    30_000, () => pv.log);
  await nc.close();
  expect(await pv.kill("SIGTERM")).toBe(0);

  const lines = parseLines(pv.log);
  expect(pv.log).not.toContain(ADMIN);
  const start = lines.find((l) => (l.msg as string).startsWith("status server on "));
  expect(start).toMatchObject({ level: "info", url: pv.url });
  expect(lines.find((l) => l.msg === "RUNNING")).toMatchObject({ level: "info", state: "RUNNING" });
  expect(lines.find((l) => l.msg === "SIGTERM: stopping (final checkpoint; send again to exit at once)")).toMatchObject({ signal: "SIGTERM" });
  expect(lines.at(-1)).toMatchObject({ msg: "STOPPED", state: "STOPPED" });
  expect(lines.find((l) => (l.msg as string).startsWith("pvflow "))).toMatchObject({ level: "info", mode: "exactly_once" });
  // The worker failure is an error naming its subtask and the state it caused.
  expect(lines.find((l) => (l.msg as string).startsWith("RESTARTING: "))).toMatchObject({ level: "error", state: "RESTARTING", subtask: "count 0" });
}, 90_000);

test("json log - a bad variable is one JSON line naming it, exit 2", async () => {
  const p = Bun.spawn([binary], { env: { PATH: process.env.PATH, PVFLOW_LOG_FORMAT: "json", PVFLOW_CHECKPOINT_MODE: "twice" }, stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  expect(code).toBe(2);
  expect(out).toBe("");
  const [line] = parseLines(err);
  expect(err.split("\n").length).toBe(2);
  expect(line).toMatchObject({
    level: "error", variable: "PVFLOW_CHECKPOINT_MODE", msg: 'PVFLOW_CHECKPOINT_MODE must be one of exactly_once, at_least_once, got "twice"',
  });
});
