/**
 * A paused process (SIGSTOP, a VM freeze, a GC pause) longer than the consumers' inactivity
 * threshold: the server deletes every consumer meanwhile. After SIGCONT the sources must notice
 * (missed heartbeats, consumer not found), recreate their consumers at position + 1 in place, and
 * the committed counts must be exact.
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
withTempDirAndBinary("pvflow-paused-", (d, b) => { dir = d; binary = b; });

test("paused process - SIGSTOP past the consumers' inactivity threshold, then SIGCONT: exact counts", async () => {
  await using nats = await NatsServer.start();
  const db = join(dir, "paused.db");
  const { nc, js } = await openStream(nats.url);
  const expected = new Map<string, number>();
  await using pv = await PvflowProcess.start({
    binary,
    env: pipelineEnv(nats.url, db, { PVFLOW_CONSUMER_INACTIVE_MS: "2000" }),
  });
  try {
    await pv.waitReady();
    await publishRange(js, 0, 20_000, expected);
    await waitFor(async () => total(await committedCounts(db)) >= 20_000, 30_000, () => pv.log);
    pv.proc.kill("SIGSTOP");
    await publishRange(js, 20_000, 40_000, expected); // arrives while pvflow is frozen
    await Bun.sleep(5000); // > 2 s inactivity threshold: the server deletes the consumers
    const consumers = await (await import("@nats-io/jetstream")).jetstreamManager(nc)
      .then((jsm) => jsm.consumers.list("PV").next());
    expect(consumers.filter((c) => c.name.startsWith("pvf"))).toEqual([]);
    pv.proc.kill("SIGCONT");
    await publishRange(js, 40_000, 50_000, expected);
    await waitFor(async () => total(await committedCounts(db)) >= 50_000, 60_000, () => pv.log);
    // Subtask metrics reach /status every 500 ms: wait for the restarts to show.
    await waitFor(async () => ((await pv.json("/status")).body.splits as { consumerRestarts: number }[])
      .every((s) => s.consumerRestarts >= 1), 5000, () => pv.log);
    expect((await pv.json("/status")).body.restarts).toBe(0); // recreated in place, no job restart
    expect(await pv.kill("SIGTERM")).toBe(0);
    expect(await committedCounts(db)).toEqual(expected);
  } finally {
    await nc.close();
  }
}, 120_000);
