/**
 * Dropped TCP connections: pvflow reaches NATS through a proxy that cuts every connection over and
 * over while at least 200,000 events arrive (nats-server and its consumers stay up). With `ack_policy: none`
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
    // At least N events, and on until the 8th cut: the cuts must fall while events flow.
    let published = 0;
    const publishing = (async () => {
      for (; published < N || proxy.cuts < 8; published += 10_000) {
        await publishRange(js, published, published + 10_000, expected, { keys: 500 });
      }
    })();
    // Cut while events flow, each time after pvflow's sources came back from the previous cut
    // (their consumers recreated) and read more: a metrics report or a checkpoint of events read
    // BEFORE a cut must not trigger the next one while the sources are still reconnecting.
    type Split = { deliveredSequence: number; consumerRestarts: number };
    const splits = async () => (await pv.json("/status")).body.splits as Split[];
    let restartsAtCut: number[] = [];
    while (proxy.cuts < 8) {
      let base: number | undefined;
      await waitFor(async () => {
        const now = await splits();
        // every split's consumer recreated since the last cut
        if (now.some((s, i) => s.consumerRestarts <= (restartsAtCut[i] ?? -1))) return false;
        const read = now.reduce((n, s) => n + s.deliveredSequence, 0);
        base ??= read;
        return read > base;
      }, 30_000, () => pv.log);
      await Bun.sleep(150);
      restartsAtCut = (await splits()).map((s) => s.consumerRestarts);
      proxy.cut();
    }
    await publishing;
    expect(total(expected)).toBe(published);
    expect(published).toBeGreaterThanOrEqual(N);
    await waitFor(async () => total(await committedCounts(db)) >= published, 60_000, () => pv.log);
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
