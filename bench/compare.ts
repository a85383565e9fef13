/**
 * @module
 * `bun bench/compare.ts <previous-binary>`: the previous release's binary and the current one in
 * the SAME run, alternating, on one prefilled stream (1M events, 10k keys, exactly-once, 2 × 2),
 * so a change can be shown not to slow pvflow down (absolute numbers drift between runs; ratios
 * within one run hold). Prints one JSON line per binary and the ratios current / previous.
 *
 * Knobs: BENCH_N (1000000), BENCH_REPS (3).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ensureBinary } from "../tests/support/binary.ts";
import { NatsServer } from "../tests/support/nats_server.ts";
import { prefill, splits } from "./prefill.ts";
import { runPvflow, type RunResult } from "./pvflow_run.ts";
import { ratio, stat } from "./stats.ts";

const previous = process.argv[2];
if (!previous) {
  console.error("usage: bun bench/compare.ts <previous pvflow binary>");
  process.exit(2);
}
const N = Number(process.env.BENCH_N ?? 1_000_000);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const binaries = { previous: resolve(previous), current: await ensureBinary() };
const dir = await mkdtemp(join(tmpdir(), "pvflow-compare-"));
await using nats = await NatsServer.start();
await prefill(nats.url, "PV", "pv", N, 10_000);
const runs: Record<keyof typeof binaries, RunResult[]> = { previous: [], current: [] };
for (let r = 0; r < REPS; r++) {
  for (const which of ["previous", "current"] as const) {
    runs[which].push(await runPvflow(binaries[which], {
      NATS_URL: nats.url, PVFLOW_SUBJECTS: splits("pv").join(","), PVFLOW_CREATE_STREAM: "false",
      PVFLOW_DB_URL: `file:${join(dir, `${which}_${r}.db`)}`, PVFLOW_PARALLELISM: "2", PVFLOW_SOURCE_PARALLELISM: "2",
    }, N));
  }
}
const fig = (which: keyof typeof binaries) => ({
  counted_events_s: stat(runs[which].map((x) => x.countedPerSec)),
  committed_events_s: stat(runs[which].map((x) => x.committedPerSec)),
  checkpoint_p99_ms: stat(runs[which].map((x) => x.checkpointMs.p99)),
  peak_rss_mb: stat(runs[which].map((x) => x.peakRssMb)),
});
const prev = fig("previous");
const cur = fig("current");
console.log(JSON.stringify({ scenario: "exactly_once_2x2", binary: "previous", ...prev }));
console.log(JSON.stringify({ scenario: "exactly_once_2x2", binary: "current", ...cur }));
console.log(JSON.stringify({
  ratios: {
    counted_current_vs_previous: ratio(cur.counted_events_s, prev.counted_events_s),
    committed_current_vs_previous: ratio(cur.committed_events_s, prev.committed_events_s),
  },
}));
await rm(dir, { recursive: true, force: true });
