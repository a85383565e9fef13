/**
 * @module
 * Live: a publisher at a fixed rate while pvflow keeps up; the latency of each event from its
 * publish until a completed checkpoint covers it (its split's committed position reaches it).
 */
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { PvflowProcess } from "../tests/support/pvflow_process.ts";
import { splits } from "./prefill.ts";
import { percentile } from "./stats.ts";

/** p50/p99 publish → committed latency (ms) and the publish rate achieved. */
export async function liveLatency(
  binary: string, natsUrl: string, dbFile: string, rate: number, seconds: number,
): Promise<{ p50: number; p99: number; publishedPerSec: number }> {
  const subjects = splits("live");
  const nc = await connect({ servers: natsUrl });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete("LIVE").catch(() => {});
  await jsm.streams.add({ name: "LIVE", subjects: ["live.>"] });
  const js = jetstream(nc);
  await using pv = await PvflowProcess.start({
    binary,
    env: {
      NATS_URL: natsUrl, PVFLOW_STREAM: "LIVE", PVFLOW_SUBJECTS: subjects.join(","), PVFLOW_DB_URL: `file:${dbFile}`,
      PVFLOW_PARALLELISM: "2", PVFLOW_SOURCE_PARALLELISM: "2", PVFLOW_CHECKPOINT_INTERVAL_MS: "1000",
      PVFLOW_CREATE_STREAM: "false",
    },
  });
  await pv.waitReady();
  // Per split, (sequence, publish time) in ack order: one connection gets its acks in publish
  // order, which is sequence order.
  const published = subjects.map(() => ({ seqs: [] as number[], times: [] as number[], next: 0 }));
  const latencies: number[] = [];
  let publishing = true;
  const poller = (async () => {
    while (publishing || published.some((p) => p.next < p.seqs.length)) {
      const s = (await pv.json("/status")).body as { splits: { split: string; committedPosition: number }[] };
      const now = performance.now();
      s.splits.forEach((x, i) => {
        const p = published[i];
        while (p.next < p.seqs.length && p.seqs[p.next] <= x.committedPosition) latencies.push(now - p.times[p.next++]);
      });
      await Bun.sleep(20);
    }
  })();
  const enc = new TextEncoder();
  const t0 = performance.now();
  let sent = 0;
  const tickMs = 10;
  while (performance.now() - t0 < seconds * 1000) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    const acks: Promise<void>[] = [];
    for (; sent < due; sent++) {
      const split = sent & 3;
      const at = performance.now();
      const data = enc.encode(`{"site":"s${sent % 1000}","user":"u${sent}","ts":${Date.now()}}`);
      acks.push(js.publish(subjects[split], data).then((ack) => {
        published[split].seqs.push(ack.seq);
        published[split].times.push(at);
      }));
    }
    await Promise.all(acks);
    await Bun.sleep(tickMs);
  }
  const publishedPerSec = (sent / (performance.now() - t0)) * 1000;
  publishing = false;
  await poller;
  await pv.kill("SIGTERM");
  await nc.close();
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), publishedPerSec };
}
