/**
 * @module
 * One run of the pvflow binary over a prefilled stream: time to ready, throughput until every
 * event is counted and until every event is committed, checkpoint costs, and peak RSS.
 */
import { readFile } from "node:fs/promises";
import { PvflowProcess } from "../tests/support/pvflow_process.ts";
import { percentile } from "./stats.ts";

/** What one run measured. */
export interface RunResult {
  /** Process start → `/readyz` 200 (restore included). */
  readyMs: number;
  /** Events/s from ready until all `n` counted. */
  countedPerSec: number;
  /** Events/s from ready until all `n` committed by a checkpoint. */
  committedPerSec: number;
  checkpointMs: { p50: number; p99: number };
  alignmentMs: { p50: number; p99: number };
  rowsPerCheckpoint: number;
  bytesPerCheckpoint: number;
  checkpoints: number;
  peakRssMb: number;
  /** CPU time (user + system, all threads) the process used from start until all committed, in seconds. */
  cpuSeconds: number;
}

/** Runs `binary` with `env` until `n` events are committed (or `timeoutMs`). */
export async function runPvflow(
  binary: string,
  env: Record<string, string>,
  n: number,
  options: { waitCommitted?: boolean; timeoutMs?: number } = {},
): Promise<RunResult> {
  const { waitCommitted = true, timeoutMs = 300_000 } = options;
  const t0 = performance.now();
  await using pv = await PvflowProcess.start({ binary, env });
  await pv.waitReady(timeoutMs);
  const ready = performance.now();
  const deadline = ready + timeoutMs;
  let counted = 0;
  let committed = 0;
  while (!committed) {
    if (performance.now() > deadline) throw new Error(`pvflow did not commit ${n} events in time:\n${pv.log.slice(-2000)}`);
    const s = (await pv.json("/status")).body;
    if (!counted && s.records.counted >= n) counted = performance.now();
    if (counted && !waitCommitted) break;
    const all = s.splits.reduce((a: number, x: { committedPosition: number }) => Math.max(a, x.committedPosition), 0);
    if (counted && all >= n - 3 && s.splits.every((x: { committedPosition: number; deliveredSequence: number }) =>
      x.committedPosition === x.deliveredSequence)) committed = performance.now();
    else await Bun.sleep(50);
  }
  const cps = ((await pv.json("/checkpoints")).body.checkpoints as Array<Record<string, number | string>>)
    .filter((c) => c.status === "COMPLETED" && Number(c.rows) > 0);
  const peakRssMb = await peakRss(pv.proc.pid);
  const cpuSeconds = await cpuTime(pv.proc.pid);
  await pv.kill("SIGTERM");
  const durations = cps.map((c) => Number(c.durationMs));
  const alignments = cps.map((c) => Number(c.alignmentMs));
  return {
    readyMs: ready - t0,
    countedPerSec: (n / (counted - ready)) * 1000,
    committedPerSec: committed ? (n / (committed - ready)) * 1000 : NaN,
    checkpointMs: { p50: percentile(durations, 50), p99: percentile(durations, 99) },
    alignmentMs: { p50: percentile(alignments, 50), p99: percentile(alignments, 99) },
    rowsPerCheckpoint: percentile(cps.map((c) => Number(c.rows)), 50),
    bytesPerCheckpoint: percentile(cps.map((c) => Number(c.bytes)), 50),
    checkpoints: cps.length,
    peakRssMb,
    cpuSeconds,
  };
}

/** Peak resident set size (VmHWM) of `pid`, in MiB. */
export async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  return Math.round(kb / 1024);
}

/** CPU time (user + system, all threads) of `pid` so far, in seconds (Linux clock ticks of 1/100 s). */
export async function cpuTime(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}
