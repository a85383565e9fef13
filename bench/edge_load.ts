/**
 * @module
 * Footprint measurements of one pvflow process, as an edge engine is measured (eKuiper publishes
 * CPU and memory at a fixed message rate): its idle RSS after start, and its CPU share of one core
 * and RSS while a publisher sends a fixed rate of events that it counts exactly once.
 */
import { readFile } from "node:fs/promises";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { PvflowProcess } from "../tests/support/pvflow_process.ts";
import { cpuTime } from "./pvflow_run.ts";
import { percentile } from "./stats.ts";

/** Resident memory of a process, in MiB: all of it, its private (anonymous) part, its file-backed part. */
export interface Rss {
  rssMb: number;
  anonMb: number;
  fileMb: number;
}

/** The process's current {@link Rss} (from `/proc/<pid>/status`). */
export async function rssOf(pid: number): Promise<Rss> {
  const s = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN);
  const mb = (x: number) => Math.round((x / 1024) * 10) / 10;
  return { rssMb: mb(kb("VmRSS")), anonMb: mb(kb("RssAnon")), fileMb: mb(kb("RssFile") + kb("RssShmem")) };
}

/** RSS `settleMs` after `/readyz` first answers 200, with nothing to read. */
export async function idleRss(binary: string, env: Record<string, string>, settleMs: number): Promise<Rss> {
  await using pv = await PvflowProcess.start({ binary, env });
  await pv.waitReady();
  await Bun.sleep(settleMs);
  const r = await rssOf(pv.proc.pid);
  await pv.kill("SIGTERM");
  return r;
}

/** What {@link fixedRate} measured over its steady window. */
export interface FixedRateResult {
  publishedPerSec: number;
  /** CPU seconds of pvflow (all threads) per wall second: 1 = one core busy. */
  cpuShare: number;
  rssMedianMb: number;
  rssMaxMb: number;
  anonMedianMb: number;
  /** Every published event committed, exactly (sum of the counts = events published). */
  exact: boolean;
}

/**
 * Publishes `rate` events/s (10,000 keys, JetStream-acknowledged) for `seconds` into a fresh
 * stream `stream` on `<stream>.0..3` while pvflow (`env` on top) counts them; measures from
 * `warmupS` until the end of publishing, then waits until all are committed.
 */
export async function fixedRate(
  binary: string, natsUrl: string, stream: string, dbUrl: string, env: Record<string, string>,
  rate: number, seconds: number, warmupS: number,
): Promise<FixedRateResult> {
  const prefix = stream.toLowerCase();
  const subjects = [0, 1, 2, 3].map((i) => `${prefix}.${i}`);
  const nc = await connect({ servers: natsUrl });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(stream).catch(() => {});
  await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`] });
  const js = jetstream(nc);
  await using pv = await PvflowProcess.start({
    binary,
    env: { NATS_URL: natsUrl, PVFLOW_STREAM: stream, PVFLOW_SUBJECTS: subjects.join(","), PVFLOW_DB_URL: dbUrl, PVFLOW_CREATE_STREAM: "false", ...env },
  });
  await pv.waitReady();
  const pid = pv.proc.pid;
  const enc = new TextEncoder();
  const rss: Rss[] = [];
  const t0 = performance.now();
  let sent = 0;
  let window: { t: number; cpu: number; sent: number } | undefined;
  let nextSample = 0;
  while (performance.now() - t0 < seconds * 1000) {
    const now = performance.now() - t0;
    if (!window && now >= warmupS * 1000) window = { t: performance.now(), cpu: await cpuTime(pid), sent };
    if (window && now >= nextSample) {
      rss.push(await rssOf(pid));
      nextSample = now + 500;
    }
    const due = Math.floor((now / 1000) * rate);
    const acks: Promise<unknown>[] = [];
    for (; sent < due; sent++) {
      const k = (Math.imul(sent, 2654435761) >>> 0) % 10_000;
      acks.push(js.publish(subjects[sent & 3], enc.encode(`{"site":"s${k}","user":"u${sent % 9973}","ts":${Date.now()}}`)));
    }
    await Promise.all(acks);
    await Bun.sleep(5);
  }
  const end = { t: performance.now(), cpu: await cpuTime(pid), sent };
  // Until committed: every published event is in the counts, exactly once.
  let committed = 0;
  for (let i = 0; i < 600 && committed < sent; i++) {
    committed = (await pv.json("/status")).body.records.committed;
    if (committed < sent) await Bun.sleep(100);
  }
  await pv.kill("SIGTERM");
  await nc.close();
  const w = window!;
  const wall = (end.t - w.t) / 1000;
  const med = (xs: number[]) => percentile(xs, 50);
  return {
    publishedPerSec: Math.round((end.sent - w.sent) / wall),
    cpuShare: Math.round(((end.cpu - w.cpu) / wall) * 1000) / 1000,
    rssMedianMb: med(rss.map((r) => r.rssMb)),
    rssMaxMb: Math.max(...rss.map((r) => r.rssMb)),
    anonMedianMb: med(rss.map((r) => r.anonMb)),
    exact: committed === sent,
  };
}
