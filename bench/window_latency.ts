/**
 * @module
 * `bun bench/window_latency.ts`: window result latency — an event published → its window's result
 * received on `PVFLOW_OUTPUT_SUBJECT` — with a live publisher (BENCH_RATE events/s of event time
 * `Date.now()` over 4 splits and 100 keys, 1 s windows, out-of-orderness 200 ms), per checkpoint
 * interval (1000 ms, the default, and 200 ms). Prints one JSON line per configuration.
 *
 * For each (key, window) it keeps the publish time of the window's LAST event, and for each result
 * with `revision` 1 (core subscription on the output subject, which an `OUT` stream also captures,
 * so results take the stored-once path) it reports `receive − last event published` and
 * `receive − windowEnd`. What that latency consists of, in order:
 * 1. out-of-orderness: a window fires when the watermark reaches end − 1, and the watermark trails
 *    the max event time by PVFLOW_OUT_OF_ORDERNESS_MS, on EVERY split (the minimum): so an event of
 *    time ≥ end − 1 + 200 must have been read on all four splits;
 * 2. the watermark interval: sources emit watermarks every 200 ms (0–200 ms more);
 * 3. the next checkpoint: results are committed in a checkpoint's transaction, so a fired result
 *    waits for the next trigger (0 – PVFLOW_CHECKPOINT_INTERVAL_MS) plus that checkpoint's
 *    alignment and commit (its duration);
 * 4. the outbox: after COMMIT the results are published (and acked by the OUT stream).
 * Reading (fetch batches), the channels and NATS delivery add a little to each.
 * Absolute figures on a shared machine: they move with whatever else runs there. With the
 * checkpoint interval equal to the window size, step 3 is the same for every window of a run (the
 * trigger keeps its phase against the window ends), anywhere in 0–1000 ms depending on when the
 * process started: hence BENCH_REPS runs per configuration, one line each, and a line per
 * configuration pooling them.
 *
 * Knobs: BENCH_RATE (5000), BENCH_SECONDS (20), BENCH_INTERVALS ("1000,200"), BENCH_REPS (3).
 */
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary } from "../tests/support/binary.ts";
import { NatsServer } from "../tests/support/nats_server.ts";
import { PvflowProcess } from "../tests/support/pvflow_process.ts";
import { splits } from "./prefill.ts";
import { percentile } from "./stats.ts";

const RATE = Number(process.env.BENCH_RATE ?? 5000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const INTERVALS = (process.env.BENCH_INTERVALS ?? "1000,200").split(",").map(Number);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const WINDOW_MS = 1000;
const OOO_MS = 200;
const KEYS = 100;
const OUTPUT = "pvout";
/** After the last publish, how long results of the windows that must fire may take to arrive. */
const DRAIN_MS = 10_000;

const binary = await ensureBinary();
const dir = await mkdtemp(join(tmpdir(), "pvflow-bench-winlat-"));
await using nats = await NatsServer.start();
const nc = await connect({ servers: nats.url });
const jsm = await jetstreamManager(nc);
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Latency figures of `xs` (ms). */
const fig = (xs: number[]) => ({ p50: percentile(xs, 50), p90: percentile(xs, 90), p99: percentile(xs, 99), max: Math.max(...xs) });

/** What one run measured (ms). */
interface Run {
  sinceLast: number[];
  sinceEnd: number[];
}

for (const interval of INTERVALS) {
  const runs: Run[] = [];
  for (let rep = 0; rep < REPS; rep++) runs.push(await measure(interval, rep));
  const pooled = (f: (r: Run) => number[]) => runs.flatMap(f);
  console.log(JSON.stringify({
    scenario: "window_result_latency", checkpoint_interval_ms: interval, runs: REPS, results: pooled((r) => r.sinceLast).length,
    latency_since_last_event_ms: fig(pooled((r) => r.sinceLast)), latency_since_window_end_ms: fig(pooled((r) => r.sinceEnd)),
    run_p50s_since_window_end_ms: runs.map((r) => percentile(r.sinceEnd, 50)),
  }));
}
await nc.close();
await rm(dir, { recursive: true, force: true });

/** One run: a fresh stream, database and process; prints its line. */
async function measure(interval: number, rep: number): Promise<Run> {
  for (const name of ["PV", "OUT"]) await jsm.streams.delete(name).catch(() => {});
  await jsm.streams.add({ name: "PV", subjects: ["pv.>"] });
  await jsm.streams.add({ name: "OUT", subjects: [OUTPUT] });
  await using pv = await PvflowProcess.start({
    binary,
    env: {
      NATS_URL: nats.url, PVFLOW_SUBJECTS: splits("pv").join(","), PVFLOW_CREATE_STREAM: "false",
      PVFLOW_DB_URL: `file:${join(dir, `winlat_${interval}_${rep}.db`)}`, PVFLOW_PARALLELISM: "2", PVFLOW_SOURCE_PARALLELISM: "2",
      PVFLOW_CHECKPOINT_INTERVAL_MS: String(interval), PVFLOW_WINDOW_MS: String(WINDOW_MS),
      PVFLOW_OUT_OF_ORDERNESS_MS: String(OOO_MS), PVFLOW_OUTPUT_SUBJECT: OUTPUT,
    },
  });
  await pv.waitReady(30_000);

  /** `key|windowStart` → publish time (ms) of the window's last event. */
  const lastPublished = new Map<string, number>();
  const sinceLast: number[] = [];
  const sinceEnd: number[] = [];
  let laterRevisions = 0;
  let unmatched = 0;
  const received = new Set<string>();
  const sub = nc.subscribe(OUTPUT, {
    callback: (_err, m) => {
      const now = Date.now();
      const r = JSON.parse(dec.decode(m.data)) as { key: string; windowStart: number; windowEnd: number; revision: number };
      if (r.revision !== 1) { laterRevisions++; return; }
      const id = `${r.key}|${r.windowStart}`;
      const last = lastPublished.get(id);
      if (last === undefined) { unmatched++; return; }
      received.add(id);
      sinceLast.push(now - last);
      sinceEnd.push(now - r.windowEnd);
    },
  });
  await nc.flush();

  // A paced publisher: every 5 ms, the events due by now; each one's event time is its publish time.
  const subjects = splits("pv");
  const t0 = Date.now();
  let sent = 0;
  while (Date.now() - t0 < SECONDS * 1000) {
    const due = Math.floor(((Date.now() - t0) * RATE) / 1000);
    for (; sent < due; sent++) {
      const k = (Math.imul(sent, 2654435761) >>> 0) % KEYS;
      const ts = Date.now();
      nc.publish(subjects[sent & 3], enc.encode(`{"site":"s${k}","ts":${ts}}`));
      lastPublished.set(`s${k}|${ts - (ts % WINDOW_MS)}`, ts);
    }
    await Bun.sleep(5);
  }
  await nc.flush();
  const lastTs = Date.now();
  // The windows that must fire: their end − 1 + out-of-orderness is below every split's max event time.
  const mustFire = [...lastPublished.keys()].filter((id) => Number(id.split("|")[1]) + WINDOW_MS - 1 + OOO_MS < lastTs - 50);
  const drainEnd = Date.now() + DRAIN_MS;
  while (mustFire.some((id) => !received.has(id)) && Date.now() < drainEnd) await Bun.sleep(100);
  sub.unsubscribe();
  const cps = ((await pv.json("/checkpoints")).body.checkpoints as Array<Record<string, number | string>>)
    .filter((c) => c.status === "COMPLETED").map((c) => Number(c.durationMs));
  await pv.kill("SIGTERM");
  console.log(JSON.stringify({
    scenario: "window_result_latency", checkpoint_interval_ms: interval, rep, window_ms: WINDOW_MS, out_of_orderness_ms: OOO_MS,
    rate_events_s: RATE, seconds: SECONDS, keys: KEYS, events: sent,
    results: sinceLast.length, windows_expected: mustFire.length, windows_missing: mustFire.filter((id) => !received.has(id)).length,
    later_revisions: laterRevisions, unmatched,
    latency_since_last_event_ms: fig(sinceLast), latency_since_window_end_ms: fig(sinceEnd),
    checkpoint_duration_ms: { p50: Math.round(percentile(cps, 50)), p99: Math.round(percentile(cps, 99)), n: cps.length },
  }));
  return { sinceLast, sinceEnd };
}
