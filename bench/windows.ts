/**
 * @module
 * `bun bench/windows.ts`: throughput with event-time windows off vs on, the SAME binary in the
 * same run, alternating, on one prefilled stream (1M events 1 ms of event time apart, 10k keys,
 * exactly-once, 2 × 2; windows of PVFLOW_WINDOW_MS, default 60 s, results stored, not published).
 * Prints one JSON line per mode and the ratio on / off.
 *
 * Knobs: BENCH_N (1000000), BENCH_REPS (3), BENCH_WINDOW_MS (60000).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary } from "../tests/support/binary.ts";
import { NatsServer } from "../tests/support/nats_server.ts";
import { prefill, splits } from "./prefill.ts";
import { runPvflow, type RunResult } from "./pvflow_run.ts";
import { ratio, stat } from "./stats.ts";

const N = Number(process.env.BENCH_N ?? 1_000_000);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const WINDOW_MS = process.env.BENCH_WINDOW_MS ?? "60000";
const binary = await ensureBinary();
const dir = await mkdtemp(join(tmpdir(), "pvflow-bench-windows-"));
await using nats = await NatsServer.start();
await prefill(nats.url, "PV", "pv", N, 10_000);
const modes = { off: {}, on: { PVFLOW_WINDOW_MS: WINDOW_MS } } as const;
const runs: Record<keyof typeof modes, RunResult[]> = { off: [], on: [] };
for (let r = 0; r < REPS; r++) {
  for (const mode of ["off", "on"] as const) {
    runs[mode].push(await runPvflow(binary, {
      NATS_URL: nats.url, PVFLOW_SUBJECTS: splits("pv").join(","), PVFLOW_CREATE_STREAM: "false",
      PVFLOW_DB_URL: `file:${join(dir, `${mode}_${r}.db`)}`, PVFLOW_PARALLELISM: "2", PVFLOW_SOURCE_PARALLELISM: "2",
      ...modes[mode],
    }, N));
  }
}
const fig = (mode: keyof typeof modes) => ({
  counted_events_s: stat(runs[mode].map((x) => x.countedPerSec)),
  committed_events_s: stat(runs[mode].map((x) => x.committedPerSec)),
  checkpoint_p99_ms: stat(runs[mode].map((x) => x.checkpointMs.p99)),
  rows_per_checkpoint: stat(runs[mode].map((x) => x.rowsPerCheckpoint)),
  peak_rss_mb: stat(runs[mode].map((x) => x.peakRssMb)),
});
const off = fig("off");
const on = fig("on");
console.log(JSON.stringify({ scenario: "windows_exactly_once_2x2", windows: "off", n: N, ...off }));
console.log(JSON.stringify({ scenario: "windows_exactly_once_2x2", windows: `${WINDOW_MS} ms`, n: N, ...on }));
console.log(JSON.stringify({
  ratios: {
    counted_on_vs_off: ratio(on.counted_events_s, off.counted_events_s),
    committed_on_vs_off: ratio(on.committed_events_s, off.committed_events_s),
  },
}));
await rm(dir, { recursive: true, force: true });
