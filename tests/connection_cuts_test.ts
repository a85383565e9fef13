/**
 * Dropped TCP connections: pvflow reaches NATS through a proxy that cuts every connection over and
 * over while 200,000 events arrive (nats-server and its consumers stay up). With `ack_policy: none`
 * what was in flight at each cut is gone; the sources must notice (consumer sequence gaps,
 * reconnects), recreate their consumers at position + 1, and the committed counts must be exact.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { committedCounts } from "./support/committed.ts";
import { openStream, publishRange, total } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { pipelineEnv, PvflowProcess, waitFor } from "./support/pvflow_process.ts";
import { withTempDirAndBinary } from "./support/suite.ts";
import { TcpProxy } from "./support/tcp_proxy.ts";

let dir = "";
let binary = "";
withTempDirAndBinary("pvflow-cuts-", (d, b) => { dir = d; binary = b; });

test("connection cuts - every connection cut 8 times mid-stream: no event lost, none counted twice", async () => {
  await using nats = await NatsServer.start();
  await using proxy = await TcpProxy.start(nats.port);
  const db = join(dir, "cuts.db");
  const { nc, js } = await openStream(nats.url); // the publisher is not behind the proxy
  const expected = new Map<string, number>();
  const N = 200_000;
  await using pv = await PvflowProcess.start({
    binary,
    env: pipelineEnv(proxy.url(), db, { PVFLOW_RESTART_BACKOFF_MS: "100" }),
  });
  try {
    await pv.waitReady();
    const publishing = (async () => {
      for (let i = 0; i < N; i += 10_000) await publishRange(js, i, i + 10_000, expected, { keys: 500 });
    })();
    // Cut while events flow: wait until pvflow has read more since the last cut, then cut.
    let read = 0;
    while (proxy.cuts < 8) {
      await waitFor(async () => {
        const splits = (await pv.json("/status")).body.splits as { deliveredSequence: number }[];
        const now = splits.reduce((n, s) => n + (s.deliveredSequence ?? 0), 0);
        if (now <= read) return false;
        read = now;
        return true;
      }, 30_000, () => pv.log);
      await Bun.sleep(150);
      proxy.cut();
    }
    await publishing;
    expect(total(expected)).toBe(N);
    await waitFor(async () => total(await committedCounts(db)) >= N, 60_000, () => pv.log);
    const status = (await pv.json("/status")).body;
    const recreated = (status.splits as { consumerRestarts?: number }[]).reduce((n, s) => n + (s.consumerRestarts ?? 0), 0);
    expect(proxy.accepted).toBeGreaterThan(8); // the cuts really forced reconnects
    expect(recreated).toBeGreaterThan(0);
    expect(await pv.kill("SIGTERM")).toBe(0);
    expect(await committedCounts(db)).toEqual(expected);
  } finally {
    await nc.close();
  }
}, 180_000);
