/**
 * @module
 * The metrics an operator alerts on, beside the job's counters: when the latest checkpoint
 * completed, how far each split's committed position is behind its stream, the process's memory
 * and CPU (the standard `process_*` names), and the build.
 */
import { type JobView, latestCompletedCheckpoint, type StoredCheckpoints } from "./job_status.ts";
import { MetricsText } from "./metrics_text.ts";
import { runtime, runtimeVersion } from "../platform.ts";

/** What the operational metrics are read from. */
export interface OpsMetricsDeps {
  job: JobView;
  /** Where the latest completed checkpoint is found when this process has completed none yet. */
  store?: StoredCheckpoints;
  version: string;
}

/** Epoch ms at which the latest completed checkpoint completed, or undefined when there is none. */
export async function lastCompletedAt(job: JobView, store?: StoredCheckpoints): Promise<number | undefined> {
  const r = await latestCompletedCheckpoint(job, store);
  if (!r) return undefined;
  return "completedTime" in r ? r.completedTime : r.triggerTime + (r.durationMs ?? 0);
}

/**
 * Each split's committed lag: its last stream sequence minus its committed position, in stream
 * sequences (an upper bound of its uncommitted events: other splits' events interleave); 0 when
 * every event of the split is in a completed checkpoint. Undefined while NATS cannot be asked.
 */
export async function committedLag(job: JobView): Promise<Record<string, number> | undefined> {
  const last = await job.splitLastSequences?.();
  if (!last) return undefined;
  return Object.fromEntries((job.splits ?? job.config.subjects).map((s) =>
    [s, Math.max(0, (last[s] ?? 0) - (job.committed.positions[s] ?? 0))]));
}

/** The operational metric families as Prometheus text. */
export async function opsMetricsText(deps: OpsMetricsDeps): Promise<string> {
  const { job } = deps;
  const [completedAt, lag] = await Promise.all([lastCompletedAt(job, deps.store), committedLag(job)]);
  const cpu = process.cpuUsage();
  return new MetricsText()
    .gauge("pvflow_last_checkpoint_completed_timestamp_seconds",
      "Unix time at which the latest completed checkpoint completed (also one of an earlier process); 0 before any.",
      completedAt === undefined ? 0 : completedAt / 1000)
    .gauge("pvflow_split_committed_lag",
      "Stream sequences between a split's last event and its committed position (0: all of it is in a completed checkpoint); absent while NATS is unreachable.",
      lag ? Object.entries(lag).map(([split, n]) => [{ split }, n]) : [])
    .gauge("pvflow_build_info", "The running build: 1, with its version and the runtime (bun, or deno from source) and its version as labels.",
      [[{ version: deps.version, runtime, runtime_version: runtimeVersion }, 1]])
    .gauge("process_resident_memory_bytes", "Resident memory of the process (all threads), in bytes.", process.memoryUsage.rss())
    .counter("process_cpu_seconds_total", "User and system CPU time of the process (all threads), in seconds.", (cpu.user + cpu.system) / 1e6)
    .gauge("process_start_time_seconds", "Unix time at which the process started.", Math.round(Date.now() / 1000 - process.uptime()))
    .toString();
}
