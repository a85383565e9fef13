/**
 * @module
 * Barrier handling for a subtask with N input channels (Flink's `SingleCheckpointBarrierHandler`
 * and `CheckpointBarrierTracker`, Arroyo's `CheckpointCounter`). Pure: no I/O, no timers; the
 * caller feeds it the elements of each channel in order and it calls back what to do.
 *
 * - `aligned` (exactly-once): once barrier n has arrived on channel c, c's later elements are held
 *   until barrier n has arrived on every open channel; then `snapshot(n)` runs, and the held
 *   elements are replayed in order. The snapshot therefore reflects exactly the records before
 *   barrier n on every channel.
 * - `unaligned` (at-least-once): nothing is ever held; `snapshot(n)` runs when the last barrier n
 *   arrives, so it may include records that follow barrier n on faster channels.
 *
 * In both modes a barrier newer than the one being aligned aborts the older checkpoint, barriers
 * of finished (completed or aborted) checkpoints are ignored, and end of input closes a channel:
 * a closed channel no longer has to deliver barriers. Watermarks are held and replayed in order
 * with the records around them (an aligned channel's watermark waits with its records).
 */
import type { Barrier } from "../types.ts";

/** What the handler asks its subtask to do. */
export interface BarrierHandlerOutput<R> {
  /** Process these records of `channel` now. */
  processRecords(channel: number, records: R): void;
  /** A watermark of `channel`, in order with its records (only subtasks with windows get them). */
  processWatermark?(channel: number, timestamp: number): void;
  /** Take the snapshot for `barrier`; `alignmentMs` is the time from its first to last arrival. */
  snapshot(barrier: Barrier, alignmentMs: number): void;
  /** Checkpoint `checkpointId` is abandoned here because a newer barrier overtook it. */
  abort(checkpointId: number, reason: string): void;
  /** Every channel has ended. */
  endOfInput(): void;
}

/** `aligned` gives exactly-once; `unaligned` gives at-least-once. */
export type AlignmentMode = "aligned" | "unaligned";

type Held<R> =
  | { kind: "records"; records: R }
  | { kind: "barrier"; barrier: Barrier }
  | { kind: "watermark"; timestamp: number }
  | { kind: "end" };

/** Tracks the barriers of N input channels; see the module doc. */
export class BarrierHandler<R> {
  #mode: AlignmentMode;
  #out: BarrierHandlerOutput<R>;
  #now: () => number;
  #arrived: boolean[];
  #closed: boolean[];
  #held: Held<R>[][];
  #pending: Barrier | undefined;
  #firstArrival = 0;
  #lastFinished = 0;
  #draining = false;
  #ended = false;

  constructor(numChannels: number, mode: AlignmentMode, out: BarrierHandlerOutput<R>, now = () => performance.now()) {
    if (!Number.isInteger(numChannels) || numChannels < 1) {
      throw new RangeError(`numChannels must be a positive integer, got ${numChannels}`);
    }
    this.#mode = mode;
    this.#out = out;
    this.#now = now;
    this.#arrived = new Array(numChannels).fill(false);
    this.#closed = new Array(numChannels).fill(false);
    this.#held = Array.from({ length: numChannels }, () => []);
  }

  /** The checkpoint being aligned, if any. */
  get pendingCheckpointId(): number | undefined {
    return this.#pending?.checkpointId;
  }

  /** The highest checkpoint id that completed or was aborted here. */
  get lastFinishedCheckpointId(): number {
    return this.#lastFinished;
  }

  /** Elements held back on `channel` (always 0 in unaligned mode). */
  heldCount(channel: number): number {
    return this.#held[channel].length;
  }

  /** Whether `channel`'s input is currently held. */
  isBlocked(channel: number): boolean {
    return this.#mode === "aligned" && this.#pending !== undefined && this.#arrived[channel];
  }

  /** Records arrived on `channel`. */
  onRecords(channel: number, records: R): void {
    this.#offer(channel, { kind: "records", records });
  }

  /** A barrier arrived on `channel`. */
  onBarrier(channel: number, barrier: Barrier): void {
    this.#offer(channel, { kind: "barrier", barrier });
  }

  /** A watermark arrived on `channel`. */
  onWatermark(channel: number, timestamp: number): void {
    this.#offer(channel, { kind: "watermark", timestamp });
  }

  /** `channel` ended. */
  onEndOfInput(channel: number): void {
    this.#offer(channel, { kind: "end" });
  }

  /**
   * The coordinator gave up on `checkpointId` (timeout): stop aligning it and release input. An
   * older checkpoint still aligning here is abandoned too (ids strictly increase), so that its
   * barriers are not mistaken for late ones while it could still complete.
   */
  abortCheckpoint(checkpointId: number): void {
    if (this.#pending === undefined || checkpointId < this.#pending.checkpointId) {
      this.#lastFinished = Math.max(this.#lastFinished, checkpointId);
      return;
    }
    this.#finish();
    this.#lastFinished = Math.max(this.#lastFinished, checkpointId);
    this.#drain();
  }

  #offer(channel: number, el: Held<R>): void {
    const held = this.#held[channel];
    // the end may still be held (queued behind a barrier), so the channel is not closed yet
    if (this.#closed[channel] || held.at(-1)?.kind === "end") {
      throw new Error(`channel ${channel} received input after its end`);
    }
    if (this.isBlocked(channel) || held.length > 0) {
      held.push(el);
      return;
    }
    this.#handle(channel, el);
  }

  #handle(channel: number, el: Held<R>): void {
    switch (el.kind) {
      case "records":
        this.#out.processRecords(channel, el.records);
        return;
      case "barrier":
        this.#onBarrier(channel, el.barrier);
        return;
      case "watermark":
        this.#out.processWatermark?.(channel, el.timestamp);
        return;
      case "end":
        this.#closed[channel] = true;
        this.#maybeComplete();
        if (!this.#ended && this.#closed.every(Boolean)) {
          this.#ended = true;
          this.#out.endOfInput();
        }
        return;
    }
  }

  #onBarrier(channel: number, barrier: Barrier): void {
    const id = barrier.checkpointId;
    if (id <= this.#lastFinished) return; // late barrier of a finished checkpoint
    if (this.#pending !== undefined && id < this.#pending.checkpointId) return; // older than the one aligning
    if (this.#pending !== undefined && id > this.#pending.checkpointId) {
      const old = this.#pending.checkpointId;
      this.#finish();
      this.#out.abort(old, `barrier ${id} arrived before alignment of ${old} completed`);
      this.#pending = barrier;
      this.#firstArrival = this.#now();
      this.#arrived[channel] = true;
      this.#drain(); // release input held for the aborted checkpoint (except this channel's)
      this.#maybeComplete();
      return;
    }
    if (this.#pending === undefined) {
      this.#pending = barrier;
      this.#firstArrival = this.#now();
    }
    this.#arrived[channel] = true;
    this.#maybeComplete();
  }

  #maybeComplete(): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    for (let c = 0; c < this.#arrived.length; c++) {
      if (!this.#arrived[c] && !this.#closed[c]) return;
    }
    const alignmentMs = this.#now() - this.#firstArrival;
    this.#finish();
    this.#out.snapshot(pending, alignmentMs);
    this.#drain();
  }

  /** Forgets the pending checkpoint; held input stays queued until {@link #drain}. */
  #finish(): void {
    if (this.#pending) this.#lastFinished = Math.max(this.#lastFinished, this.#pending.checkpointId);
    this.#pending = undefined;
    this.#arrived.fill(false);
  }

  /** Replays held input, in order per channel, until every remaining queue is blocked. */
  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    try {
      let progress = true;
      while (progress) {
        progress = false;
        for (let c = 0; c < this.#held.length; c++) {
          const q = this.#held[c];
          while (q.length > 0 && !this.isBlocked(c)) {
            this.#handle(c, q.shift()!);
            progress = true;
          }
        }
      }
    } finally {
      this.#draining = false;
    }
  }
}
