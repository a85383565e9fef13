/**
 * @module
 * The checkpoint coordinator (Flink's `CheckpointCoordinator`): triggers checkpoint n at the
 * sources every interval, one at a time; collects every subtask's acknowledgement; hands the
 * complete set to `commit` (one libSQL transaction); and only after the commit tells the
 * subtasks that n is complete. A checkpoint that a subtask declines, that times out, or whose
 * commit fails is FAILED: nothing of it is written, and the next checkpoint still carries every
 * change since the last completed one.
 */
import type { WindowDelta, WindowResult } from "../operators/window_state.ts";
import type { CountRows } from "./count_rows.ts";
import type { Barrier, CountAck, SourceAck, SplitPositions, TaskAck } from "../types.ts";

/** The checkpoint statuses of Flink's REST API. */
export type CheckpointStatus = "IN_PROGRESS" | "COMPLETED" | "FAILED";

/** One subtask's part of a checkpoint. */
export interface SubtaskAckRecord {
  role: "source" | "count";
  subtask: number;
  /** Time from trigger to this acknowledgement. */
  ackMs: number;
  alignmentMs?: number;
  rows?: number;
  /** A count subtask's events counted in this attempt up to the barrier. */
  counted?: number;
}

/** What `/checkpoints` shows of one checkpoint. */
export interface CheckpointRecord {
  id: number;
  status: CheckpointStatus;
  /** Epoch ms. */
  triggerTime: number;
  /** Trigger → last acknowledgement. */
  syncMs?: number;
  /** The libSQL transaction. */
  commitMs?: number;
  /** Trigger → completed (end to end). */
  durationMs?: number;
  /** Longest barrier alignment over the count subtasks. */
  alignmentMs?: number;
  rows?: number;
  bytes?: number;
  failureReason?: string;
  final?: boolean;
  subtasks: SubtaskAckRecord[];
}

/** Everything a checkpoint commit writes. */
export interface CheckpointData {
  record: CheckpointRecord;
  positions: SplitPositions;
  keys: string[];
  counts: number[];
  /** More changed counts, already encoded (the count subtasks' staged snapshots): one statement each. */
  encoded?: CountRows[];
  /** With windows on. */
  windows?: CheckpointWindows;
  /**
   * Cluster mode: every split's fencing token (lease epoch). Its presence makes the commit a
   * cluster one: `counts` are the deltas since the last completed checkpoint, added to the shared
   * sink, and the commit aborts if a newer lease has claimed any of the splits.
   */
  fence?: Record<string, number>;
}

/** What a checkpoint with windows on writes besides the counts. */
export interface CheckpointWindows {
  /** Every count subtask's window-state changes since the last completed checkpoint. */
  deltas: WindowDelta[];
  /** Results to commit (and publish through the outbox); some may be committed already. */
  results: WindowResult[];
  /** Per split: its max event time, and its source's watermark. */
  maxEventTimes: Record<string, number>;
  watermarks: Record<string, number>;
}

/** What the coordinator drives. */
export interface CoordinatorOptions {
  intervalMs: number;
  timeoutMs: number;
  minPauseMs: number;
  sources: number;
  counts: number;
  /** The id of the first checkpoint this coordinator triggers. */
  firstCheckpointId: number;
  /** Sends `barrier` to every source subtask. */
  trigger(barrier: Barrier): void;
  /** Writes the checkpoint atomically; resolves with the bytes written. */
  commit(data: CheckpointData): Promise<{ bytes: number }>;
  notifyComplete(checkpointId: number): void;
  notifyAbort(checkpointId: number): void;
  /** Called after each checkpoint ends, either way. */
  onFinished?(record: CheckpointRecord): void;
  /** Clock for timings. @default performance.now */
  now?: () => number;
}

/** How many checkpoints `history` keeps. */
export const HISTORY_SIZE = 100;

interface Pending {
  record: CheckpointRecord;
  started: number;
  sourceAcks: Map<number, SourceAck>;
  countAcks: Map<number, CountAck>;
  timer: ReturnType<typeof setTimeout>;
  done: PromiseWithResolvers<CheckpointRecord>;
  committing: boolean;
}

/** Triggers, tracks and completes checkpoints; see the module doc. */
export class CheckpointCoordinator {
  #o: CoordinatorOptions;
  #now: () => number;
  #nextId: number;
  #pending: Pending | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #lastEnd = -Infinity;
  #lastTrigger = 0;
  #history: CheckpointRecord[] = [];
  /** Counts since this coordinator started. */
  completed = 0;
  failed = 0;
  latestCompleted: CheckpointRecord | undefined;

  constructor(options: CoordinatorOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => performance.now());
    this.#nextId = options.firstCheckpointId;
  }

  /** Newest first, at most {@link HISTORY_SIZE}. */
  get history(): readonly CheckpointRecord[] {
    return this.#history;
  }

  /** The checkpoint in flight, if any. */
  get inProgress(): CheckpointRecord | undefined {
    return this.#pending?.record;
  }

  /** The id the next trigger will use. */
  get nextCheckpointId(): number {
    return this.#nextId;
  }

  /**
   * How long until `minPauseMs` since the end of the last checkpoint has passed (0: a trigger may
   * start one now). With a checkpoint in flight it is 0 too: a trigger then answers that one.
   */
  pauseRemainingMs(): number {
    if (this.#pending) return 0;
    return Math.max(0, this.#lastEnd + this.#o.minPauseMs - this.#now());
  }

  /** Starts periodic checkpoints. */
  start(): void {
    this.#running = true;
    this.#lastTrigger = this.#now();
    this.#schedule();
  }

  /** Stops triggering and fails the checkpoint in flight (its acks will be ignored). */
  stop(reason = "job stopped"): void {
    this.#running = false;
    clearTimeout(this.#timer);
    if (this.#pending && !this.#pending.committing) this.#fail(this.#pending, reason);
  }

  /**
   * Resolves once no commit is in flight. A stopped coordinator still lets a running commit
   * finish; whoever restores from the store next must wait for it, or it could restore the
   * checkpoint before and then see this one land underneath.
   */
  async settle(): Promise<void> {
    const p = this.#pending;
    if (p?.committing) await p.done.promise;
  }

  /**
   * Triggers a checkpoint now, unless one is in flight (then its id is returned). A `final`
   * checkpoint makes the sources stop after emitting its barrier.
   */
  trigger(options: { final?: boolean } = {}): { id: number; done: Promise<CheckpointRecord> } {
    if (this.#pending) return { id: this.#pending.record.id, done: this.#pending.done.promise };
    clearTimeout(this.#timer);
    const id = this.#nextId++;
    this.#lastTrigger = this.#now();
    const record: CheckpointRecord = {
      id, status: "IN_PROGRESS", triggerTime: Date.now(), subtasks: [], final: options.final || undefined,
    };
    const pending: Pending = {
      record,
      started: this.#now(),
      sourceAcks: new Map(),
      countAcks: new Map(),
      timer: setTimeout(() => this.#fail(pending, `timed out after ${this.#o.timeoutMs} ms`), this.#o.timeoutMs),
      done: Promise.withResolvers(),
      committing: false,
    };
    this.#pending = pending;
    this.#remember(record);
    const completed = this.latestCompleted?.id;
    this.#o.trigger({ checkpointId: id, timestamp: record.triggerTime, final: options.final, ...(completed ? { completed } : {}) });
    return { id, done: pending.done.promise };
  }

  /** An acknowledgement from a subtask; acks of other checkpoints are ignored. */
  acknowledge(ack: TaskAck): void {
    const p = this.#pending;
    if (!p || p.committing || ack.checkpointId !== p.record.id) return;
    const ackMs = this.#now() - p.started;
    if (ack.role === "source") {
      p.sourceAcks.set(ack.subtask, ack);
      p.record.subtasks.push({ role: "source", subtask: ack.subtask, ackMs });
    } else {
      p.countAcks.set(ack.subtask, ack);
      p.record.subtasks.push({
        role: "count", subtask: ack.subtask, ackMs, alignmentMs: ack.alignmentMs, rows: ack.rows, counted: ack.counted,
      });
    }
    if (p.sourceAcks.size === this.#o.sources && p.countAcks.size === this.#o.counts) this.#commit(p);
  }

  /** A subtask cannot take part in checkpoint `checkpointId`. */
  decline(checkpointId: number, reason: string): void {
    const p = this.#pending;
    if (p && !p.committing && p.record.id === checkpointId) this.#fail(p, `declined: ${reason}`);
  }

  async #commit(p: Pending): Promise<void> {
    p.committing = true;
    clearTimeout(p.timer);
    const r = p.record;
    r.syncMs = this.#now() - p.started;
    const positions: SplitPositions = {};
    let windows: CheckpointWindows | undefined;
    for (const a of p.sourceAcks.values()) {
      Object.assign(positions, a.positions);
      if (a.maxEventTimes) {
        windows ??= { deltas: [], results: [], maxEventTimes: {}, watermarks: {} };
        Object.assign(windows.maxEventTimes, a.maxEventTimes);
        for (const s of Object.keys(a.maxEventTimes)) windows.watermarks[s] = a.watermark ?? -Infinity;
      }
    }
    const keys: string[] = [];
    const counts: number[] = [];
    let alignmentMs = 0;
    let rows = 0;
    for (const a of p.countAcks.values()) {
      // Inline snapshots are merged here; staged ones are already at the commit thread.
      const changed = a.changed ?? { keys: [], counts: [] };
      for (let i = 0; i < changed.keys.length; i++) {
        keys.push(changed.keys[i]);
        counts.push(changed.counts[i]);
      }
      if (a.windows && windows) {
        windows.deltas.push(a.windows.delta);
        for (const r of a.windows.results) windows.results.push(r);
      }
      rows += a.rows;
      alignmentMs = Math.max(alignmentMs, a.alignmentMs);
    }
    r.alignmentMs = alignmentMs;
    r.rows = rows;
    const t0 = this.#now();
    try {
      const { bytes } = await this.#o.commit({ record: r, positions, keys, counts, windows });
      r.bytes = bytes;
    } catch (err) {
      p.committing = false;
      this.#fail(p, `commit failed: ${(err as Error).message}`);
      return;
    }
    r.commitMs = this.#now() - t0;
    r.durationMs = this.#now() - p.started;
    r.status = "COMPLETED";
    this.completed++;
    this.latestCompleted = r;
    this.#end(p);
    this.#o.notifyComplete(r.id);
  }

  #fail(p: Pending, reason: string): void {
    if (this.#pending !== p || p.committing) return;
    clearTimeout(p.timer);
    p.record.status = "FAILED";
    p.record.failureReason = reason;
    p.record.durationMs = this.#now() - p.started;
    this.failed++;
    this.#end(p);
    this.#o.notifyAbort(p.record.id);
  }

  #end(p: Pending): void {
    this.#pending = undefined;
    this.#lastEnd = this.#now();
    p.done.resolve(p.record);
    this.#o.onFinished?.(p.record);
    if (this.#running && !p.record.final) this.#schedule();
  }

  /** Next trigger: one interval after the last trigger, and at least the min pause after the last end. */
  #schedule(): void {
    clearTimeout(this.#timer);
    const now = this.#now();
    const pause = Math.max(0, this.#lastTrigger + this.#o.intervalMs - now, this.#lastEnd + this.#o.minPauseMs - now);
    this.#timer = setTimeout(() => {
      if (this.#running && !this.#pending) this.trigger();
    }, pause);
  }

  #remember(r: CheckpointRecord): void {
    this.#history.unshift(r);
    if (this.#history.length > HISTORY_SIZE) this.#history.pop();
  }
}
