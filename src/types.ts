/**
 * @module
 * The messages of a job: stream elements that travel on channels between subtasks, and the
 * control messages between the job (main thread) and its task workers.
 */

import type { WindowDelta, WindowResult } from "./operators/window_state.ts";
import type { CountRows } from "./checkpoint/count_rows.ts";

/** A checkpoint barrier: ids strictly increase within a process. */
export interface Barrier {
  checkpointId: number;
  timestamp: number;
  /** Set on the last barrier of a graceful stop: sources stop reading after emitting it. */
  final?: boolean;
  /**
   * The latest checkpoint completed (committed) before this one was triggered, if any: a count
   * subtask may forget what it kept for it before snapshotting, without waiting for the
   * `complete` control message, which travels on another port and may arrive after the barrier
   * (the snapshot would then carry that checkpoint's keys once more).
   */
  completed?: number;
}

/** Records routed to one count subtask: each record is the key of one event. */
export interface RecordBatch {
  kind: "records";
  keys: string[];
  /**
   * With windows on only: each record's event time, or {@link LATE_RECORD} for an event the
   * source judged late (counted in the running totals, in no window).
   */
  times?: number[];
}

/** The time of a late record in {@link RecordBatch.times}. */
export const LATE_RECORD = -1;

/** A watermark travelling in-band on a channel: no later record of this channel has an on-time window ending at or before it. */
export interface WatermarkElement {
  kind: "watermark";
  timestamp: number;
}

/** A barrier travelling in-band on a channel. */
export interface BarrierElement {
  kind: "barrier";
  barrier: Barrier;
}

/** The sender will send nothing more on this channel. */
export interface EndOfInput {
  kind: "end";
}

/** What a channel carries, in order. */
export type StreamElement = RecordBatch | BarrierElement | WatermarkElement | EndOfInput;

/** Receiver → sender on the same port: room for `n` more record batches. */
export interface Credit {
  kind: "credit";
  n: number;
}

/** The JetStream sequence of the last event a split emitted downstream (0: none yet). */
export type SplitPositions = Record<string, number>;

/** Counts of the keys changed since the last completed checkpoint, as absolute values. */
export interface KeyCounts {
  keys: string[];
  counts: number[];
}

/** A source subtask's acknowledgement of checkpoint `checkpointId`. */
export interface SourceAck {
  kind: "ack";
  role: "source";
  subtask: number;
  checkpointId: number;
  positions: SplitPositions;
  /** With windows on: each split's max event time as of the barrier (its watermark survives a restore). */
  maxEventTimes?: Record<string, number>;
  /** With windows on: the watermark this source had emitted before the barrier. */
  watermark?: number;
  /**
   * Splits whose position is past their verified one (src/source/front_guard.ts): the checkpoint
   * commits only once the stream's first sequence, read after this ack, shows none of their events
   * were removed unread.
   */
  unverified?: UnverifiedSplit[];
}

/** A split's position to verify before a checkpoint commits it (see {@link SourceAck}). */
export interface UnverifiedSplit {
  split: string;
  /** Every event of the split up to it was delivered. */
  verified: number;
  /** Its position at the barrier: every sequence up to it was passed before the ack. */
  position: number;
  /** It had unread events since its verified position was set (see front_guard.ts splitActivity). */
  active: boolean;
  /** The stream's limits in words, for a failure's reason. */
  limits: string;
  /** The split's consumer then (asked for its backlog when the front passed the verified position of an inactive split). */
  consumer?: string;
  /**
   * Whether the stream's limits remove events. Without limits only a purge does: when NATS cannot
   * be asked, such a position is committed unverified (a zombie cut off from NATS still reaches
   * the database's fence; a purge then is the one loss not seen).
   */
  limited: boolean;
}

/**
 * A count subtask's acknowledgement: how many keys changed and how long alignment held input.
 * The changed keys themselves travel in `changed`, or — when the job runs a commit thread — were
 * staged straight to that thread (`StagedSnapshot`), so they never pass through the main thread.
 */
export interface CountAck {
  kind: "ack";
  role: "count";
  subtask: number;
  checkpointId: number;
  rows: number;
  changed?: KeyCounts;
  alignmentMs: number;
  /** Events this subtask counted in this attempt up to the barrier (in the snapshot's counts). */
  counted?: number;
  /** With windows on and no commit thread: the window state and results. */
  windows?: WindowsSnapshot;
}

/** A count subtask's snapshot of checkpoint `checkpointId`, sent to the commit thread. */
export interface StagedSnapshot {
  checkpointId: number;
  subtask: number;
  /** The changed counts, encoded by the count subtask (see `checkpoint/count_rows.ts`). */
  rows: CountRows;
  windows?: WindowsSnapshot;
}

/** A count subtask's window-state changes and the window results its checkpoint commits. */
export interface WindowsSnapshot {
  delta: WindowDelta;
  results: WindowResult[];
}

/** Either kind of acknowledgement. */
export type TaskAck = SourceAck | CountAck;

/** Dead-letter reasons, in the order checks are made. */
export type DeadLetterReason =
  | "too_large"
  | "not_utf8"
  | "not_json"
  | "not_object"
  | "key_missing"
  | "key_not_string"
  | "key_empty"
  | "key_too_long"
  /** The key holds U+0000: libSQL text ends there, so it would be stored (and merged) as its prefix. */
  | "key_contains_nul"
  /** The key is not well-formed UTF-16 (a lone surrogate): it has no exact UTF-8 form to store. */
  | "key_lone_surrogate"
  /** Windows are on and the event has no time field (`PVFLOW_TIME_FIELD`). */
  | "time_missing"
  /** Windows are on and the time field is not a safe non-negative integer (epoch milliseconds). */
  | "time_invalid"
  /** Later than the watermark allows (window end + allowed lateness): counted in the totals, in no window. */
  | "late";

/** Per-split progress reported by a source subtask. */
export interface SplitMetrics {
  /** Stream sequence of the last event read. */
  delivered: number;
  /** Stream sequence of the last event emitted (its position). */
  position: number;
  /** Consumer's count of events still pending in the stream. */
  pending: number;
  /** Times the split's consumer was recreated in place (gap, reconnect, lost consumer). */
  consumerRestarts: number;
  /** Set while the split cannot read: why (e.g. its consumer cannot be created yet). */
  waiting?: string;
}

/** Periodic counters of a subtask (cumulative since the worker started). */
export interface TaskMetrics {
  kind: "metrics";
  role: "source" | "count";
  subtask: number;
  recordsIn: number;
  recordsOut: number;
  deadLettered: Partial<Record<DeadLetterReason, number>>;
  splits?: Record<string, SplitMetrics>;
  keys?: number;
  /** A count subtask with windows on: open windows, (key, window) entries, its watermark. */
  windows?: { open: number; entries: number; watermark: number; lateHere: number };
  /** A source subtask with windows on: its watermark. */
  watermark?: number;
}

/** Worker → job messages. */
export type TaskReport =
  | { kind: "ready"; role: "source" | "count"; subtask: number }
  | TaskAck
  | TaskMetrics
  | { kind: "declined"; subtask: number; role: "source" | "count"; checkpointId: number; reason: string }
  | { kind: "stopped"; role: "source" | "count"; subtask: number }
  | { kind: "failed"; role: "source" | "count"; subtask: number; error: string; fatal?: boolean }
  | { kind: "log"; role: "source" | "count"; subtask: number; line: string };

/** Job → worker control messages (the `init` message is role-specific, see the task files). */
export type TaskControl =
  | { kind: "trigger"; barrier: Barrier }
  | { kind: "complete"; checkpointId: number }
  | { kind: "abort"; checkpointId: number }
  /** A checkpoint's unverified positions were verified before its commit (sources move their verified positions up). */
  | { kind: "verified"; positions: SplitPositions }
  /** The attempt is over: stop processing and report the final metrics (then be terminated). */
  | { kind: "cancel" };
