/**
 * @module
 * `bun run bench`: pvflow against the raw JetStream ceiling, a naive consumer and the one-thread
 * rival, on a dedicated nats-server; checkpoint cost, recovery time, memory and live latency.
 * Prints one JSON object per scenario (every figure `{median, min, max, runs}` over BENCH_REPS),
 * then a summary of RATIOS against baselines measured in the same run. Never part of the tests.
 *
 * Knobs: BENCH_N (1000000 events), BENCH_REPS (3), BENCH_NAIVE_N (50000), BENCH_ONLY (comma list
 * of scenario names), BENCH_LIVE_RATE (20000/s), BENCH_LIVE_SECONDS (20). BENCH_CLUSTER=1 adds the
 * cluster scenarios of `bench/cluster.ts` (a 3-node JetStream cluster and sqld; several minutes:
 * off by default), with its knobs BENCH_CLUSTER_N and BENCH_CLUSTER_RATE. BENCH_FOOTPRINT=1 then runs
 * `bench/footprint.ts` (issue 16's memory, CPU and large-state figures against a baseline
 * binary, ~15 minutes; also `bun run bench:footprint` alone).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary } from "../tests/support/binary.ts";
import { NatsServer } from "../tests/support/nats_server.ts";
import { ceiling, naive, rival } from "./baselines.ts";
import { liveLatency } from "./live.ts";
import { prefill, splits } from "./prefill.ts";
import { runPvflow, type RunResult } from "./pvflow_run.ts";
import { clusterBench, clusterKnobs } from "./cluster.ts";
import { recoveryTime } from "./recovery.ts";
import { ratio, stat, type Stat } from "./stats.ts";

const N = Number(process.env.BENCH_N ?? 1_000_000);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const NAIVE_N = Number(process.env.BENCH_NAIVE_N ?? 50_000);
const ONLY = process.env.BENCH_ONLY?.split(",");
const want = (name: string) => !ONLY || ONLY.includes(name);

const binary = await ensureBinary();
const dir = await mkdtemp(join(tmpdir(), "pvflow-bench-"));
await using nats = await NatsServer.start();
const results: Record<string, Record<string, Stat>> = {};

function print(name: string, figures: Record<string, Stat>, extra: Record<string, unknown> = {}): void {
  results[name] = figures;
  console.log(JSON.stringify({ scenario: name, ...extra, ...figures }));
}

async function reps(fn: (rep: number) => Promise<number>): Promise<Stat> {
  const runs: number[] = [];
  for (let r = 0; r < REPS; r++) runs.push(await fn(r));
  return stat(runs);
}

/** Runs pvflow REPS times with `env`; summarises every figure. */
async function pvflowScenario(name: string, env: Record<string, string>, n: number, waitCommitted = true): Promise<void> {
  if (!want(name)) return;
  const runs: RunResult[] = [];
  for (let r = 0; r < REPS; r++) {
    runs.push(await runPvflow(binary, {
      NATS_URL: nats.url, PVFLOW_SUBJECTS: splits("pv").join(","), PVFLOW_DB_URL: `file:${join(dir, `${name}_${r}.db`)}`,
      PVFLOW_CREATE_STREAM: "false", ...env,
    }, n, { waitCommitted }));
  }
  const fig = (f: (x: RunResult) => number) => stat(runs.map(f));
  print(name, {
    counted_events_s: fig((x) => x.countedPerSec),
    ...(waitCommitted ? { committed_events_s: fig((x) => x.committedPerSec) } : {}),
    checkpoint_p50_ms: fig((x) => x.checkpointMs.p50),
    checkpoint_p99_ms: fig((x) => x.checkpointMs.p99),
    alignment_p50_ms: fig((x) => x.alignmentMs.p50),
    alignment_p99_ms: fig((x) => x.alignmentMs.p99),
    rows_per_checkpoint: fig((x) => x.rowsPerCheckpoint),
    bytes_per_checkpoint: fig((x) => x.bytesPerCheckpoint),
    peak_rss_mb: fig((x) => x.peakRssMb),
  }, { n, env });
}

const twoByTwo = { PVFLOW_PARALLELISM: "2", PVFLOW_SOURCE_PARALLELISM: "2", PVFLOW_CHECKPOINT_INTERVAL_MS: "1000" };

// --- 10,000 distinct keys -------------------------------------------------------------------
await prefill(nats.url, "PV", "pv", N, 10_000);
if (want("ceiling")) print("ceiling", { events_s: await reps(() => ceiling(nats.url, "PV", N)) }, { n: N });
for (const [name, driver] of [["naive", "libsql"], ["naive_bun_sqlite", "bun"]] as const) {
  if (!want(name)) continue;
  const events_s = await reps((r) => naive(nats.url, "PV", NAIVE_N, join(dir, `${name}_${r}.db`), driver));
  print(name, { events_s }, { n: NAIVE_N, driver });
}
if (want("rival")) {
  print("rival", { events_s: await reps((r) => rival(nats.url, "PV", "pv", N, join(dir, `rival_${r}.db`), 1000)) }, { n: N });
}
await pvflowScenario("exactly_once_2x2", twoByTwo, N);
await pvflowScenario("exactly_once_default", {}, N);
await pvflowScenario("at_least_once_2x2", { ...twoByTwo, PVFLOW_CHECKPOINT_MODE: "at_least_once" }, N);
await pvflowScenario("no_checkpoints_2x2", { ...twoByTwo, PVFLOW_CHECKPOINT_INTERVAL_MS: "86400000" }, N, false);
for (const keys of [10_000, 100_000, 1_000_000]) {
  const name = `recovery_${keys}_keys`;
  if (want(name)) print(name, { ready_ms: await reps((r) => recoveryTime(binary, nats.url, "PV", keys, join(dir, `${name}_${r}.db`))) });
}

// --- 1,000,000 distinct keys ----------------------------------------------------------------
if (want("exactly_once_2x2_1M_keys")) {
  await prefill(nats.url, "PV", "pv", N, 1_000_000);
  await pvflowScenario("exactly_once_2x2_1M_keys", twoByTwo, N);
}

// --- live ---------------------------------------------------------------------------------
if (want("live")) {
  const rate = Number(process.env.BENCH_LIVE_RATE ?? 20_000);
  const seconds = Number(process.env.BENCH_LIVE_SECONDS ?? 20);
  const runs = [];
  for (let r = 0; r < REPS; r++) runs.push(await liveLatency(binary, nats.url, join(dir, `live_${r}.db`), rate, seconds));
  print("live", {
    publish_to_committed_p50_ms: stat(runs.map((x) => x.p50)),
    publish_to_committed_p99_ms: stat(runs.map((x) => x.p99)),
    published_events_s: stat(runs.map((x) => x.publishedPerSec)),
  }, { target_rate: rate, seconds, checkpoint_interval_ms: 1000 });
}

// --- cluster mode (BENCH_CLUSTER=1) ---------------------------------------------------------
const clusterSummary = process.env.BENCH_CLUSTER === "1"
  ? await clusterBench({ binary, ...clusterKnobs(), reps: REPS, want, print })
  : undefined;

// --- ratios ------------------------------------------------------------------------------
const r = (a: string, fa: string, b: string, fb: string) =>
  results[a]?.[fa] && results[b]?.[fb] ? ratio(results[a][fa], results[b][fb]) : null;
console.log(JSON.stringify({
  scenario: "summary",
  exactly_once_vs_ceiling: r("exactly_once_2x2", "counted_events_s", "ceiling", "events_s"),
  exactly_once_committed_vs_ceiling: r("exactly_once_2x2", "committed_events_s", "ceiling", "events_s"),
  exactly_once_vs_no_checkpoints: r("exactly_once_2x2", "counted_events_s", "no_checkpoints_2x2", "counted_events_s"),
  exactly_once_vs_naive: r("exactly_once_2x2", "counted_events_s", "naive", "events_s"),
  exactly_once_vs_naive_bun_sqlite: r("exactly_once_2x2", "counted_events_s", "naive_bun_sqlite", "events_s"),
  exactly_once_vs_rival: r("exactly_once_2x2", "committed_events_s", "rival", "events_s"),
  rival_vs_ceiling: r("rival", "events_s", "ceiling", "events_s"),
  at_least_once_vs_exactly_once: r("at_least_once_2x2", "counted_events_s", "exactly_once_2x2", "counted_events_s"),
  targets: {
    exactly_once_vs_ceiling: ">= 0.8", exactly_once_vs_no_checkpoints: ">= 0.95", exactly_once_vs_naive: ">= 15",
    checkpoint_p99_ms_10k_keys: "<= 100", recovery_100k_keys_ms: "<= 1000", recovery_1M_keys_ms: "<= 3000",
    peak_rss_mb_1M_keys: "<= 300",
  },
}));
if (clusterSummary) console.log(JSON.stringify(clusterSummary));
await rm(dir, { recursive: true, force: true });
// --- issue 16's footprint figures (BENCH_FOOTPRINT=1), on their own nats-server (this one idles)
if (process.env.BENCH_FOOTPRINT === "1") await import("./footprint.ts");
