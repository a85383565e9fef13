/**
 * One writer per database: a second pvflow binary started on the same database file takes it
 * over; the first one's commits are refused from then on, it goes FAILED with the reason (and
 * `/healthz` answers 503), and the counts the second one commits are exact.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { committedCounts } from "./support/committed.ts";
import { openStream, publishRange, total } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { pipelineEnv, PvflowProcess, waitFor } from "./support/pvflow_process.ts";
import { withTempDirAndBinary } from "./support/suite.ts";

let dir = "";
let binary = "";
withTempDirAndBinary("pvflow-fence-", (d, b) => ((dir = d), (binary = b)));

test("fence - a second process on the same database takes over; the first goes FAILED with the reason, counts exact", async () => {
  await using nats = await NatsServer.start();
  const { nc, js } = await openStream(nats.url);
  const file = join(dir, "pv.db");
  const env = pipelineEnv(nats.url, file);
  const expected = new Map<string, number>();
  await publishRange(js, 0, 5_000, expected);
  await using first = await PvflowProcess.start({ binary, env });
  await waitFor(async () => total((await first.json("/counts")).body.counts) >= 5_000, 30_000, () => first.log);

  await using second = await PvflowProcess.start({ binary, env });
  await publishRange(js, 5_000, 10_000, expected); // both read these; only the owner may commit them
  await waitFor(async () => (await first.json("/status")).body.state === "FAILED", 30_000, () => first.log);
  const status = (await first.json("/status")).body;
  expect(status.stateReason).toMatch(/another pvflow process took over the database file:.*pv\.db \(pid \d+ on .*epoch 2\); this process holds epoch 1 and stops committing/);
  const health = await first.json("/healthz");
  expect(health.status).toBe(503);
  expect(health.body).toEqual({ status: "failed", state: "FAILED", reason: status.stateReason });
  expect(first.log).toContain("FAILED: fenced: another pvflow process took over the database");

  await waitFor(async () => total((await second.json("/counts")).body.counts) >= 10_000, 30_000, () => second.log);
  expect((await second.json("/status")).body.state).toBe("RUNNING");
  expect((await second.json("/healthz")).status).toBe(200);
  expect(await second.kill("SIGTERM")).toBe(0);
  expect(await committedCounts(file)).toEqual(expected);
  expect(await first.kill("SIGTERM")).toBe(1); // FAILED
  expect(await committedCounts(file)).toEqual(expected); // and it wrote nothing on its way out
  await nc.close();
}, 120_000);
