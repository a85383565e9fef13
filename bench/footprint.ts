/**
 * @module
 * `bun bench/footprint.ts`: the figures of issue 16 (an edge-sized footprint) for the current
 * binary AND a baseline binary (BENCH_BEFORE, a commit built from this repository's history;
 * default main before this work landed), alternating in ONE run on one nats-server, with
 * the raw JetStream ceiling measured in the same run. Prints one JSON object per measurement
 * (every figure `{median, min, max, runs}` over BENCH_REPS), then the figures, their ratios
 * current / before, and the issue's goals. Never part of the tests.
 *
 * - `full_speed_10k_keys`: 3M prefilled events (BENCH_FULL_N), 10k keys, default configuration (parallelism =
 *   CPU count): counted and committed events/s, checkpoint p99, peak RSS (VmHWM), CPU seconds.
 * - `ceiling`: raw no-ack consume of the same stream (`baselines.ts`), once before each repetition of
 *   `full_speed_10k_keys` (interleaved: the raw rate drifts, see below).
 * - `idle_1x1`: RSS of the smallest configuration (1 source, 1 count subtask) 3 s after ready.
 * - `full_speed_1M_keys`: the same with 1M distinct keys, 2 × 2: committed / counted, checkpoint
 *   p99, peak RSS.
 * - `edge_<config>`: a publisher at BENCH_EDGE_RATE (10,000) events/s for BENCH_EDGE_SECONDS (30),
 *   exactly-once, 10k keys: pvflow's CPU share of one core and its RSS (after a 5 s warm-up).
 *
 * Knobs: BENCH_N (1000000; the 1M-key runs), BENCH_FULL_N (3000000; the 10k-key runs and the ceiling), BENCH_REPS (3), BENCH_BEFORE (commit), BENCH_ONLY (comma list of the
 * names above), BENCH_EDGE_RATE, BENCH_EDGE_SECONDS.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { ensureBinary } from "../tests/support/binary.ts";
import { NatsServer } from "../tests/support/nats_server.ts";
import { releaseBinary } from "../tests/support/release_binary.ts";
import { ceiling } from "./baselines.ts";
import { fixedRate, idleRss } from "./edge_load.ts";
import { prefill, splits } from "./prefill.ts";
import { runPvflow, type RunResult } from "./pvflow_run.ts";
import { ratio, stat, type Stat } from "./stats.ts";

/** main before issue 16's work landed (cluster mode and the front guard included). */
const START = "9ad0830df25e5f83a2ca35c08bcaa122a3dcc3ed";
const N = Number(process.env.BENCH_N ?? 1_000_000);
/**
 * Events of the 10k-key full-speed runs and their ceiling: pvflow reports its counts every 500 ms,
 * so a run of 1M events (3-4 s) could only end at a few instants (1M / 3.5 s = 286k/s, / 4 s =
 * 250k/s, ...): throughput was quantized by ±7-14%. 3M events make it ±2-4%.
 */
const FULL_N = Number(process.env.BENCH_FULL_N ?? 3_000_000);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const BEFORE = process.env.BENCH_BEFORE ?? START;
const ONLY = process.env.BENCH_ONLY?.split(",");
const EDGE_RATE = Number(process.env.BENCH_EDGE_RATE ?? 10_000);
const EDGE_SECONDS = Number(process.env.BENCH_EDGE_SECONDS ?? 30);
const want = (name: string) => !ONLY || ONLY.some((o) => name.startsWith(o));

const binaries = { before: await releaseBinary(BEFORE), current: await ensureBinary() };
type Which = keyof typeof binaries;
const WHICH: Which[] = ["before", "current"];
const dir = await mkdtemp(join(tmpdir(), "pvflow-footprint-"));
await using nats = await NatsServer.start();
const results: Record<string, Record<string, Stat>> = {};
let dbs = 0;
const db = () => `file:${join(dir, `${dbs++}.db`)}`;

function print(name: string, figures: Record<string, Stat>, extra: Record<string, unknown> = {}): void {
  results[name] = figures;
  console.log(JSON.stringify({ scenario: name, ...extra, ...figures }));
}

/**
 * Runs `fn` REPS times per binary, alternating before/current, and prints one line per binary;
 * `eachRep` first in every repetition (a baseline measured between the runs it is compared with).
 */
async function alternating<T>(name: string, fn: (binary: string, rep: number) => Promise<T>, figures: (runs: T[]) => Record<string, Stat>, extra: Record<string, unknown> = {}, eachRep?: () => Promise<void>): Promise<void> {
  if (!want(name)) return;
  const runs: Record<Which, T[]> = { before: [], current: [] };
  for (let r = 0; r < REPS; r++) {
    await eachRep?.();
    for (const w of WHICH) runs[w].push(await fn(binaries[w], r));
  }
  for (const w of WHICH) print(`${name}:${w}`, figures(runs[w]), { binary: w, ...extra });
}

const pipelineFigures = (runs: RunResult[]) => ({
  counted_events_s: stat(runs.map((x) => x.countedPerSec)),
  committed_events_s: stat(runs.map((x) => x.committedPerSec)),
  committed_vs_counted: stat(runs.map((x) => x.committedPerSec / x.countedPerSec)),
  checkpoint_p50_ms: stat(runs.map((x) => x.checkpointMs.p50)),
  checkpoint_p99_ms: stat(runs.map((x) => x.checkpointMs.p99)),
  rows_per_checkpoint: stat(runs.map((x) => x.rowsPerCheckpoint)),
  peak_rss_mb: stat(runs.map((x) => x.peakRssMb)),
  cpu_seconds: stat(runs.map((x) => x.cpuSeconds)),
});
const streamEnv = (extra: Record<string, string> = {}) => ({
  NATS_URL: nats.url, PVFLOW_SUBJECTS: splits("pv").join(","), PVFLOW_CREATE_STREAM: "false", ...extra,
});
/** Creates `name` on `<name lowercased>.>`, empty. */
async function emptyStream(name: string): Promise<void> {
  const nc = await connect({ servers: nats.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(name).catch(() => {});
  await jsm.streams.add({ name, subjects: [`${name.toLowerCase()}.>`] });
  await nc.close();
}
const twoByTwo = { PVFLOW_PARALLELISM: "2", PVFLOW_SOURCE_PARALLELISM: "2" };

// --- 10,000 distinct keys at full speed, and the ceiling of the same stream -----------------
if (want("ceiling") || want("full_speed_10k_keys")) await prefill(nats.url, "PV", "pv", FULL_N, 10_000);
// The ceiling is measured before each repetition of the pvflow runs, not three times at once
// first: the raw rate drifts (two runs of this bench on one VM, minutes apart: 491k and 607k
// events/s), so each ceiling is read beside the runs it is compared with.
const ceilings: number[] = [];
const measureCeiling = async () => { if (want("ceiling")) ceilings.push(await ceiling(nats.url, "PV", FULL_N)); };
if (want("full_speed_10k_keys")) {
  await alternating("full_speed_10k_keys", (b) => runPvflow(b, streamEnv({ PVFLOW_DB_URL: db() }), FULL_N), pipelineFigures, { n: FULL_N, config: "default" }, measureCeiling);
} else {
  for (let r = 0; r < REPS; r++) await measureCeiling();
}
if (want("ceiling")) print("ceiling", { events_s: stat(ceilings) }, { n: FULL_N, measured: "before each repetition of full_speed_10k_keys" });

// --- idle, smallest configuration: an empty stream ------------------------------------------
if (want("idle_1x1")) await emptyStream("IDLE");
const idleEnv = () => ({
  NATS_URL: nats.url, PVFLOW_STREAM: "IDLE", PVFLOW_SUBJECTS: "idle.0", PVFLOW_CREATE_STREAM: "false", PVFLOW_DB_URL: db(),
  PVFLOW_PARALLELISM: "1", PVFLOW_SOURCE_PARALLELISM: "1",
});
await alternating("idle_1x1", (b) => idleRss(b, idleEnv(), 3000), (runs) => ({
  rss_mb: stat(runs.map((x) => x.rssMb)), anon_mb: stat(runs.map((x) => x.anonMb)), file_mb: stat(runs.map((x) => x.fileMb)),
}), { settle_ms: 3000 });

// --- fixed rate, as an edge engine is measured ----------------------------------------------
for (const [config, env] of [["default", {}], ["1x1", { PVFLOW_PARALLELISM: "1", PVFLOW_SOURCE_PARALLELISM: "1" }]] as const) {
  await alternating(`edge_${config}`, (b) => fixedRate(b, nats.url, "EDGE", db(), env, EDGE_RATE, EDGE_SECONDS, 5), (runs) => {
    if (!runs.every((x) => x.exact)) throw new Error(`edge_${config}: a run did not commit every published event exactly`);
    return {
      published_events_s: stat(runs.map((x) => x.publishedPerSec)),
      cpu_share_of_one_core: stat(runs.map((x) => x.cpuShare)),
      rss_median_mb: stat(runs.map((x) => x.rssMedianMb)),
      rss_max_mb: stat(runs.map((x) => x.rssMaxMb)),
      anon_median_mb: stat(runs.map((x) => x.anonMedianMb)),
    };
  }, { target_rate: EDGE_RATE, seconds: EDGE_SECONDS, warmup_s: 5, exactly_once: true });
}

// --- 1,000,000 distinct keys ----------------------------------------------------------------
if (want("full_speed_1M_keys")) {
  await prefill(nats.url, "PV", "pv", N, 1_000_000);
  await alternating("full_speed_1M_keys", (b) => runPvflow(b, streamEnv({ PVFLOW_DB_URL: db(), ...twoByTwo }), N), pipelineFigures, { n: N, config: "2x2" });
}

// --- the issue's figures --------------------------------------------------------------------
const fig = (name: string, f: string) => results[name]?.[f]?.median ?? null;
const vs = (a: string, fa: string, b: string, fb: string) =>
  results[a]?.[fa] && results[b]?.[fb] ? ratio(results[a][fa], results[b][fb]) : null;
const both = (name: string, f: string) => ({
  before: fig(`${name}:before`, f), current: fig(`${name}:current`, f), current_vs_before: vs(`${name}:current`, f, `${name}:before`, f),
});
console.log(JSON.stringify({
  scenario: "summary",
  binaries: { before: BEFORE, current: "working tree" },
  peak_rss_mb_10k_keys: both("full_speed_10k_keys", "peak_rss_mb"),
  idle_rss_mb_1x1: both("idle_1x1", "rss_mb"),
  idle_anon_mb_1x1: both("idle_1x1", "anon_mb"),
  exactly_once_vs_ceiling: {
    before: vs("full_speed_10k_keys:before", "counted_events_s", "ceiling", "events_s"),
    current: vs("full_speed_10k_keys:current", "counted_events_s", "ceiling", "events_s"),
  },
  committed_vs_ceiling: {
    before: vs("full_speed_10k_keys:before", "committed_events_s", "ceiling", "events_s"),
    current: vs("full_speed_10k_keys:current", "committed_events_s", "ceiling", "events_s"),
  },
  counted_current_vs_before_10k_keys: vs("full_speed_10k_keys:current", "counted_events_s", "full_speed_10k_keys:before", "counted_events_s"),
  cpu_seconds_current_vs_before_10k_keys: vs("full_speed_10k_keys:current", "cpu_seconds", "full_speed_10k_keys:before", "cpu_seconds"),
  checkpoint_p99_ms_10k_keys: both("full_speed_10k_keys", "checkpoint_p99_ms"),
  committed_vs_counted_1M_keys: both("full_speed_1M_keys", "committed_vs_counted"),
  checkpoint_p99_ms_1M_keys: both("full_speed_1M_keys", "checkpoint_p99_ms"),
  peak_rss_mb_1M_keys: both("full_speed_1M_keys", "peak_rss_mb"),
  edge_default: { cpu_share: both("edge_default", "cpu_share_of_one_core"), rss_median_mb: both("edge_default", "rss_median_mb") },
  edge_1x1: { cpu_share: both("edge_1x1", "cpu_share_of_one_core"), rss_median_mb: both("edge_1x1", "rss_median_mb") },
  goals: {
    peak_rss_mb_10k_keys: "<= 128", idle_rss_mb_1x1: "<= 64", exactly_once_vs_ceiling: ">= 0.80",
    committed_vs_counted_1M_keys: ">= 0.80", checkpoint_p99_ms_1M_keys: "<= 1000", peak_rss_mb_1M_keys: "<= 300",
    checkpoint_p99_ms_10k_keys: "<= 100 in every run",
  },
}));
await rm(dir, { recursive: true, force: true });
