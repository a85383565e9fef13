/**
 * @module
 * The `/status` document: job state, per-split progress, record counters and checkpoints.
 */
import { publicConfig } from "../config.ts";
import type { Job } from "../job.ts";

/** The parts of a {@link Job} the status server reads. */
export type JobView = Pick<
  Job,
  | "config" | "state" | "stateReason" | "natsConnected" | "restarts" | "startedAt" | "committed" | "metrics"
  | "checkpointHistory" | "coordinator" | "triggerCheckpoint" | "streamInfo"
>;

/** Builds the `/status` JSON. */
export async function jobStatus(job: JobView, version: string): Promise<Record<string, unknown>> {
  const info = await job.streamInfo();
  const totals = job.metrics.totals();
  const history = job.checkpointHistory;
  const latest = history.find((r) => r.status === "COMPLETED");
  const inProgress = history.find((r) => r.status === "IN_PROGRESS");
  const splits = job.config.subjects.map((split) => {
    const m = job.metrics.splits[split];
    const committed = job.committed.positions[split] ?? 0;
    return {
      split,
      committedPosition: committed,
      deliveredSequence: m?.delivered ?? committed,
      emittedPosition: m?.position ?? committed,
      lag: m?.pending ?? null,
      streamLastSequence: info?.state.last_seq ?? null,
    };
  });
  return {
    state: job.state,
    stateReason: job.stateReason ?? null,
    version,
    startedAt: new Date(job.startedAt).toISOString(),
    uptimeSeconds: Math.round((Date.now() - job.startedAt) / 1000),
    nats: { connected: job.natsConnected },
    config: publicConfig(job.config),
    splits,
    records: {
      in: totals.recordsIn,
      out: totals.recordsOut,
      counted: totals.counted,
      deadLettered: totals.deadLetteredTotal,
      deadLetteredByReason: totals.deadLettered,
    },
    keys: job.metrics.keys,
    restarts: job.restarts,
    checkpoints: {
      completed: job.metrics.checkpointsCompleted,
      failed: job.metrics.checkpointsFailed,
      inProgress: inProgress?.id ?? null,
      latestCommittedId: job.committed.checkpointId,
      latestCompleted: latest
        ? {
          id: latest.id,
          triggerTime: new Date(latest.triggerTime).toISOString(),
          durationMs: latest.durationMs,
          alignmentMs: latest.alignmentMs,
          rows: latest.rows,
          bytes: latest.bytes,
        }
        : null,
    },
  };
}
