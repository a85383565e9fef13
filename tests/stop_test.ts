/**
 * Graceful stop against a commit that hangs (a libSQL server SIGSTOPped: it accepts connections
 * and never answers): SIGTERM while a checkpoint is in flight still ends with a FINAL checkpoint
 * once the one in flight lands, so nothing is re-read; and when nothing lands,
 * PVFLOW_SHUTDOWN_TIMEOUT_MS bounds the whole stop (exit 1 with a log line).
 */
import { expect, test } from "bun:test";
import { ensureBinary } from "./support/binary.ts";
import { committedCountsAt } from "./support/committed.ts";
import { openStream, publishRange, SPLITS, total } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { PvflowProcess, waitFor } from "./support/pvflow_process.ts";
import { Sqld } from "./support/sqld.ts";

/** pvflow on sqld with 5,000 events committed; then sqld is frozen and a checkpoint hangs in its commit. */
async function hungCommit(extraEnv: Record<string, string> = {}) {
  const binary = await ensureBinary();
  const nats = await NatsServer.start();
  const sqld = await Sqld.start();
  const { nc, js } = await openStream(nats.url);
  const expected = new Map<string, number>();
  await publishRange(js, 0, 5_000, expected);
  const pv = await PvflowProcess.start({
    binary,
    env: {
      NATS_URL: nats.url, PVFLOW_SUBJECTS: SPLITS.join(","), PVFLOW_PARALLELISM: "2", PVFLOW_SOURCE_PARALLELISM: "2",
      // Checkpoints by hand only (POST /checkpoints): a periodic one right after the hung one
      // would commit the later events too and hide a stop that takes no final checkpoint.
      PVFLOW_DB_URL: sqld.url, PVFLOW_CHECKPOINT_INTERVAL_MS: "600000", ...extraEnv,
    },
  });
  await pv.waitReady();
  await waitFor(async () => (await pv.json("/status")).body.records.counted >= 5_000, 30_000, () => pv.log);
  await pv.json("/checkpoints", { method: "POST" });
  await waitFor(async () => total((await pv.json("/counts")).body.counts) >= 5_000, 30_000, () => pv.log);
  process.kill(sqld.pid, "SIGSTOP");
  const inFlight = (await pv.json("/checkpoints", { method: "POST" })).body.id as number;
  // every subtask acknowledged (the barrier is behind us): the commit is what hangs
  await waitFor(async () => (await pv.json(`/checkpoints/${inFlight}`)).body.syncMs !== undefined, 10_000, () => pv.log);
  const resume = () => process.kill(sqld.pid, "SIGCONT");
  return {
    nats, sqld, nc, js, expected, pv, inFlight, resume,
    async [Symbol.asyncDispose]() {
      resume();
      await pv[Symbol.asyncDispose]();
      await nc.close();
      await sqld[Symbol.asyncDispose]();
      await nats[Symbol.asyncDispose]();
    },
  };
}

test("stop - SIGTERM while a checkpoint is in flight: the final checkpoint follows it, nothing is left to re-read", async () => {
  await using t = await hungCommit();
  // Events after the in-flight checkpoint's barrier: only a final checkpoint commits them.
  await publishRange(t.js, 5_000, 8_000, t.expected);
  await waitFor(async () => (await t.pv.json("/status")).body.records.counted >= 8_000, 30_000, () => t.pv.log);
  // /status reads no store while a completed checkpoint is in its history
  expect((await t.pv.json("/status")).body.checkpoints.inProgress).toBe(t.inFlight); // still hanging
  t.pv.proc.kill("SIGTERM");
  await Bun.sleep(500); // the stop is under way, the commit still hangs
  t.resume();
  expect(await t.pv.proc.exited).toBe(0);
  expect(await committedCountsAt(t.sqld.url)).toEqual(t.expected); // every event read was committed
  expect(t.pv.log).toContain(`checkpoint ${t.inFlight} is in flight; the final checkpoint follows it`);
  const final = /final checkpoint (\d+) completed/.exec(t.pv.log);
  expect(Number(final?.[1])).toBeGreaterThan(t.inFlight);
}, 120_000);

test("stop - PVFLOW_SHUTDOWN_TIMEOUT_MS bounds the whole stop when a commit never returns", async () => {
  await using t = await hungCommit({ PVFLOW_SHUTDOWN_TIMEOUT_MS: "2000" });
  const t0 = Date.now();
  t.pv.proc.kill("SIGTERM");
  const code = await Promise.race([t.pv.proc.exited, Bun.sleep(10_000).then(() => "still running")]);
  const took = Date.now() - t0;
  expect(code).toBe(1);
  expect(took).toBeGreaterThanOrEqual(1900);
  expect(took).toBeLessThan(4000);
  expect(t.pv.log).toContain("stop did not finish within PVFLOW_SHUTDOWN_TIMEOUT_MS (2000 ms): exiting now");
  // the committed state is the last completed checkpoint's, intact
  t.resume();
  expect(total(await committedCountsAt(t.sqld.url))).toBe(5_000);
}, 120_000);
