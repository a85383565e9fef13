/**
 * A restart during a libSQL outage: the restore cannot read the checkpoint store, and the job
 * waits ("waiting for libSQL: ...") instead of spending its restart attempts — an outage far
 * longer than PVFLOW_RESTART_ATTEMPTS × backoff leaves it waiting, not FAILED, and once the
 * server is back it restores and counts exactly.
 */
import { expect, test } from "bun:test";
import { committedCountsAt } from "./support/committed.ts";
import { openStream, publishRange, total } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { pipelineEnv, PvflowProcess, waitFor } from "./support/pvflow_process.ts";
import { Sqld } from "./support/sqld.ts";
import { withTempDirAndBinary } from "./support/suite.ts";

let binary = "";
withTempDirAndBinary("pvflow-restart-outage-", (_, b) => (binary = b));

test("restart outage - a libSQL outage longer than attempts × backoff is waited out, never FAILED; counts exact after", async () => {
  await using nats = await NatsServer.start();
  await using sqld = await Sqld.start();
  const { nc, js } = await openStream(nats.url);
  const expected = new Map<string, number>();
  await publishRange(js, 0, 2_000, expected);
  await using pv = await PvflowProcess.start({
    binary,
    env: pipelineEnv(nats.url, "unused", {
      PVFLOW_DB_URL: sqld.url,
      // One count subtask, so the injected fault fires at a known total (once: the first attempt).
      PVFLOW_PARALLELISM: "1", PVFLOW_FAULT_COUNT_THROW_AT: "3000", PVFLOW_FAULT_ATTEMPTS: "1",
      PVFLOW_RESTART_ATTEMPTS: "2", PVFLOW_RESTART_BACKOFF_MS: "100", PVFLOW_RESTART_BACKOFF_MAX_MS: "200",
    }),
  });
  await waitFor(async () => total((await pv.json("/counts")).body.counts) >= 2_000, 30_000, () => pv.log);

  await sqld.stop();
  await publishRange(js, 2_000, 5_000, expected); // the count subtask fails at 3,000: a restart
  await waitFor(() => pv.log.includes("waiting for libSQL: "), 30_000, () => pv.log);
  await Bun.sleep(3_000); // 2 attempts × ≤ 200 ms backoff, many times over
  const waiting = (await pv.json("/status")).body;
  expect(waiting.state).toBe("RESTORING");
  expect(waiting.stateReason).toMatch(/^waiting for libSQL: /);
  expect(waiting.restarts).toBe(1);
  expect((await pv.json("/healthz")).status).toBe(200);

  await sqld.restart();
  await pv.waitReady();
  await waitFor(async () => total((await pv.json("/counts")).body.counts) >= 5_000, 30_000, () => pv.log);
  expect(await pv.kill("SIGTERM")).toBe(0);
  expect(await committedCountsAt(sqld.url)).toEqual(expected);
  await nc.close();
}, 120_000);
