/**
 * NATS goes away mid-stream and comes back (same store dir and port): pvflow reports the outage,
 * reconnects, and the committed counts end exact.
 */
import { expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary } from "./support/binary.ts";
import { committedCounts } from "./support/committed.ts";
import { openStream, publishRange, SPLITS, total } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { PvflowProcess, waitFor } from "./support/pvflow_process.ts";
import { allCounts } from "./support/counts.ts";

test("nats outage - reported in readyz and status, then counts end exact after reconnect", async () => {
  const binary = await ensureBinary();
  const dir = await mkdtemp(join(tmpdir(), "pvflow-outage-"));
  await using nats = await NatsServer.start();
  const db = join(dir, "pv.db");
  const expected = new Map<string, number>();
  {
    const { nc, js } = await openStream(nats.url);
    await publishRange(js, 0, 20_000, expected);
    await nc.close();
  }
  await using pv = await PvflowProcess.start({
    binary,
    env: {
      NATS_URL: nats.url, PVFLOW_SUBJECTS: SPLITS.join(","), PVFLOW_PARALLELISM: "2",
      PVFLOW_CHECKPOINT_INTERVAL_MS: "200", PVFLOW_DB_URL: `file:${db}`, PVFLOW_RESTART_BACKOFF_MS: "200",
    },
  });
  try {
    await waitFor(async () => total(await allCounts(pv)) >= 20_000, 30_000, () => pv.log);
    await nats.stop();
    await waitFor(async () => (await pv.json("/readyz")).status === 503, 15_000, () => pv.log);
    const status = (await pv.json("/status")).body;
    expect(status.nats.connected).toBe(false);
    await nats.restart();
    const { nc, js } = await openStream(nats.url);
    await publishRange(js, 20_000, 40_000, expected);
    await nc.close();
    await waitFor(async () => total(await allCounts(pv)) >= 40_000, 60_000, () => pv.log);
    await waitFor(async () => (await pv.json("/readyz")).status === 200, 15_000, () => pv.log);
    expect(await pv.kill("SIGTERM")).toBe(0);
    expect(await committedCounts(db)).toEqual(expected);
    if (process.env.SHOW_LOG) console.log(pv.log);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 120_000);
