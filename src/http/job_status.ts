/**
 * @module
 * The `/status` document: job state, per-split progress, record counters and checkpoints.
 */
import type { StoredCheckpoint } from "../checkpoint/store.ts";
import { publicConfig } from "../config.ts";
import type { Job } from "../job.ts";
import type { ClusterStatus } from "../cluster/cluster_member.ts";
import type { RateHistory, Totals } from "../rate_history.ts";

/** The parts of a {@link Job} the status server reads. */
export type JobView = Pick<
  Job,
  | "config" | "state" | "stateReason" | "natsConnected" | "restarts" | "startedAt" | "committed" | "committedRecords" | "metrics"
  | "checkpointHistory" | "latestCompleted" | "coordinator" | "triggerCheckpoint" | "streamInfo" | "stalledSplits"
> & {
  /** Each split's last stream sequence; without it `streamLastSequence` is null. */
  splitLastSequences?(): Promise<Record<string, number> | undefined>;
  /** With windows on: the outbox publisher (its count of published results). */
  windowOutbox?: { published: number };
  /** The splits this process reads (cluster mode: the owned ones). @default config.subjects */
  splits?: string[];
  /** Cluster mode: the `cluster` section. */
  cluster?: { status(): ClusterStatus };
};

/** Where `/status` finds the latest completed checkpoint when this process has completed none yet. */
export interface StoredCheckpoints {
  listCheckpoints(limit: number): Promise<StoredCheckpoint[]>;
}

/** The job's totals now, as a {@link RateHistory} samples them. */
export function jobTotals(job: JobView): Totals {
  const t = job.metrics.totals();
  const delivered: Record<string, number> = {};
  for (const split of job.config.subjects) delivered[split] = job.metrics.splits[split]?.delivered ?? 0;
  return {
    recordsIn: t.recordsIn,
    counted: t.counted,
    committed: job.committedRecords,
    deadLettered: t.deadLetteredTotal,
    subtasks: job.metrics.countSubtasks().map(({ counted, keys }) => ({ counted, keys })),
    delivered,
  };
}

/** `/status/history`: the rate at each sample of the last few minutes, oldest first. */
export function rateHistoryJson(history: RateHistory, sampleIntervalMs: number): Record<string, unknown> {
  return { sampleIntervalMs, windowMs: history.windowMs, capacity: history.capacity, points: history.points() };
}

/**
 * Builds the `/status` JSON. With `rateHistory`, `rates` is the newest rate of it (events per second
 * over its window), else null.
 */
export async function jobStatus(
  job: JobView, version: string, store?: StoredCheckpoints, rateHistory?: RateHistory,
): Promise<Record<string, unknown>> {
  const [lastSeqs, info] = await Promise.all([job.splitLastSequences?.(), job.streamInfo()]);
  const totals = job.metrics.totals();
  const history = job.checkpointHistory;
  const latest = await latestCompletedCheckpoint(job, store);
  const inProgress = job.coordinator?.inProgress ?? history.find((r) => r.status === "IN_PROGRESS");
  const failure = history.find((r) => r.status === "FAILED");
  const stalled = job.stalledSplits();
  const splits = (job.splits ?? job.config.subjects).map((split) => {
    const m = job.metrics.splits[split];
    const stall = stalled.find((s) => s.split === split);
    const committed = job.committed.positions[split] ?? 0;
    return {
      split,
      committedPosition: committed,
      // Subtask metrics arrive every 500 ms, checkpoints more often: never show them behind.
      deliveredSequence: Math.max(m?.delivered ?? 0, committed),
      emittedPosition: Math.max(m?.position ?? 0, committed),
      streamLastSequence: lastSeqs?.[split] ?? null,
      lag: m?.pending ?? null,
      consumerRestarts: job.metrics.consumerRestarts(split),
      waiting: m?.waiting ?? null,
      stalledForMs: stall?.forMs ?? null,
    };
  });
  return {
    state: job.state,
    stateReason: job.stateReason ?? null,
    version,
    startedAt: new Date(job.startedAt).toISOString(),
    uptimeSeconds: Math.round((Date.now() - job.startedAt) / 1000),
    nats: { connected: job.natsConnected },
    stalled: stalled.map((s) => s.split),
    stream: { name: job.config.stream, lastSequence: info?.state.last_seq ?? null, messages: info?.state.messages ?? null },
    config: publicConfig(job.config),
    splits,
    records: {
      in: totals.recordsIn,
      out: totals.recordsOut,
      counted: totals.counted,
      deadLettered: totals.deadLetteredTotal,
      deadLetteredByReason: totals.deadLettered,
      // The sum of the committed counts: what the latest completed checkpoint covers.
      committed: job.committedRecords,
    },
    rates: rateHistory ? rateHistory.current() : null,
    countSubtasks: job.metrics.countSubtasks(),
    ...(job.cluster ? { cluster: job.cluster.status() } : {}),
    ...(job.config.windows ? { windows: { ...job.metrics.windows(), published: job.windowOutbox?.published ?? 0 } } : {}),
    keys: job.metrics.keys,
    restarts: job.restarts,
    checkpoints: {
      completed: job.metrics.checkpointsCompleted,
      failed: job.metrics.checkpointsFailed,
      inProgress: inProgress?.id ?? null,
      latestCommittedId: job.committed.checkpointId,
      // Failed since the last completed one: a checkpoint store in trouble shows here.
      consecutiveFailed: consecutiveFailed(history),
      latestFailure: failure ? { id: failure.id, triggerTime: new Date(failure.triggerTime).toISOString(), reason: failure.failureReason ?? null } : null,
      latestCompleted: latest
        ? {
          id: latest.id,
          triggerTime: new Date(latest.triggerTime).toISOString(),
          durationMs: latest.durationMs ?? null,
          alignmentMs: latest.alignmentMs ?? null,
          rows: latest.rows ?? null,
          bytes: latest.bytes ?? null,
        }
        : null,
    },
  };
}

/** FAILED checkpoints newer than the newest COMPLETED one (history is newest first). */
function consecutiveFailed(history: readonly { status: string }[]): number {
  let n = 0;
  for (const r of history) {
    if (r.status === "COMPLETED") break;
    if (r.status === "FAILED") n++;
  }
  return n;
}

/** How long `/status` waits for the store when this process has completed no checkpoint yet. */
const STORE_READ_TIMEOUT_MS = 1000;

/**
 * The latest completed checkpoint: this process's, else the store's (before this process has
 * completed one). For `/status` and `/metrics` alike.
 */
export async function latestCompletedCheckpoint(
  job: JobView, store?: StoredCheckpoints,
): Promise<JobView["latestCompleted"] | StoredCheckpoint | undefined> {
  return job.latestCompleted ?? (store && (await storedLatest(store)));
}

/** The store's latest completed checkpoint; none while the store fails or hangs (`/status` still answers). */
function storedLatest(store: StoredCheckpoints): Promise<StoredCheckpoint | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), STORE_READ_TIMEOUT_MS);
    store.listCheckpoints(1).then((r) => r[0], () => undefined).then((r) => {
      clearTimeout(timer);
      resolve(r);
    });
  });
}
