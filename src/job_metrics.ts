/**
 * @module
 * The job's counters: subtask metrics of the current attempt added to those of earlier attempts,
 * the latest progress of each split, and checkpoint statistics with Prometheus-style histograms.
 */
import type { CheckpointRecord } from "./checkpoint/coordinator.ts";
import type { DeadLetterReason, SplitMetrics, TaskMetrics } from "./types.ts";

/** Histogram bucket upper bounds, in seconds. */
export const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** A cumulative histogram (Prometheus semantics). */
export class Histogram {
  readonly bounds: number[];
  readonly buckets: number[];
  count = 0;
  sum = 0;

  constructor(bounds = SECONDS_BUCKETS) {
    this.bounds = bounds;
    this.buckets = bounds.map(() => 0);
  }

  observe(v: number): void {
    this.count++;
    this.sum += v;
    for (let i = 0; i < this.bounds.length; i++) if (v <= this.bounds[i]) this.buckets[i]++;
  }
}

/** Totals over the whole life of the process. */
export interface RecordTotals {
  recordsIn: number;
  recordsOut: number;
  counted: number;
  deadLettered: Partial<Record<DeadLetterReason, number>>;
  deadLetteredTotal: number;
}

/** Aggregates subtask metrics across attempts. */
export class JobMetrics {
  attempts = 0;
  checkpointsCompleted = 0;
  checkpointsFailed = 0;
  readonly checkpointDuration = new Histogram();
  readonly checkpointAlignment = new Histogram();
  /** Latest progress of every split (kept across attempts). */
  readonly splits: Record<string, SplitMetrics> = {};
  #current = new Map<string, TaskMetrics>();
  /** Consumer restarts of earlier attempts, per split. */
  #carriedRestarts: Record<string, number> = {};
  #carried: RecordTotals = { recordsIn: 0, recordsOut: 0, counted: 0, deadLettered: {}, deadLetteredTotal: 0 };
  /** Events counted by earlier attempts, per count subtask index. */
  #carriedCounted: number[] = [];

  beginAttempt(): void {
    this.attempts++;
    this.#current.clear();
  }

  /** Folds the finished attempt's counters into the carried totals. */
  endAttempt(): void {
    this.#carried = this.totals();
    this.#carriedCounted = this.countSubtasks().map((s) => s.counted);
    for (const [split, m] of Object.entries(this.splits)) {
      this.#carriedRestarts[split] = this.consumerRestarts(split);
      m.consumerRestarts = 0;
    }
    this.#current.clear();
  }

  /** Times `split`'s consumer was recreated in place, over all attempts. */
  consumerRestarts(split: string): number {
    return (this.#carriedRestarts[split] ?? 0) + (this.splits[split]?.consumerRestarts ?? 0);
  }

  update(m: TaskMetrics): void {
    this.#current.set(`${m.role}:${m.subtask}`, m);
    if (m.splits) Object.assign(this.splits, m.splits);
  }

  checkpointFinished(r: CheckpointRecord): void {
    if (r.status === "COMPLETED") {
      this.checkpointsCompleted++;
      this.checkpointDuration.observe((r.durationMs ?? 0) / 1000);
      this.checkpointAlignment.observe((r.alignmentMs ?? 0) / 1000);
    } else {
      this.checkpointsFailed++;
    }
  }

  /** Distinct keys held by the count subtasks of the current attempt. */
  get keys(): number {
    let n = 0;
    for (const m of this.#current.values()) n += m.keys ?? 0;
    return n;
  }

  /**
   * Per count subtask (index = subtask): events counted over all attempts (they add up to
   * `totals().counted`) and the distinct keys it holds now (0 until it reports).
   */
  countSubtasks(): { subtask: number; counted: number; keys: number }[] {
    const out = this.#carriedCounted.map((counted, subtask) => ({ subtask, counted, keys: 0 }));
    for (const m of this.#current.values()) {
      if (m.role !== "count") continue;
      for (let i = out.length; i <= m.subtask; i++) out.push({ subtask: i, counted: 0, keys: 0 });
      out[m.subtask].counted += m.recordsIn;
      out[m.subtask].keys = m.keys ?? 0;
    }
    return out;
  }

  /**
   * With windows on (else undefined): the count subtasks' open windows (the most any holds),
   * (key, window) entries (summed) and lowest watermark, and the lowest source watermark (ms; null: none yet).
   */
  windows(): { openWindows: number; entries: number; watermark: number | null; sourceWatermark: number | null } | undefined {
    let seen = false;
    let openWindows = 0, entries = 0, watermark = Infinity, sourceWatermark = Infinity;
    for (const m of this.#current.values()) {
      if (m.role === "count" && m.windows) {
        seen = true;
        openWindows = Math.max(openWindows, m.windows.open);
        entries += m.windows.entries;
        watermark = Math.min(watermark, m.windows.watermark);
      } else if (m.role === "source" && m.watermark !== undefined) {
        sourceWatermark = Math.min(sourceWatermark, m.watermark);
      }
    }
    if (!seen) return undefined;
    const finite = (n: number) => (Number.isFinite(n) ? n : null);
    return { openWindows, entries, watermark: finite(watermark), sourceWatermark: finite(sourceWatermark) };
  }

  totals(): RecordTotals {
    const t: RecordTotals = { ...this.#carried, deadLettered: { ...this.#carried.deadLettered } };
    for (const m of this.#current.values()) {
      if (m.role === "source") {
        t.recordsIn += m.recordsIn;
        t.recordsOut += m.recordsOut;
        for (const [reason, n] of Object.entries(m.deadLettered) as [DeadLetterReason, number][]) {
          t.deadLettered[reason] = (t.deadLettered[reason] ?? 0) + n;
          t.deadLetteredTotal += n;
        }
      } else {
        t.counted += m.recordsIn;
      }
    }
    return t;
  }
}
