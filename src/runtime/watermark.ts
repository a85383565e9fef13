/**
 * @module
 * Watermarks, pure (Flink's `BoundedOutOfOrdernessWatermarks`, `WatermarksWithIdleness` and the
 * min-combining of `StatusWatermarkValve`). A watermark W says "no event with time ≤ W is still
 * expected"; it never goes back.
 *
 * - {@link SplitWatermarks}, in a source subtask: per split, the max event time seen minus the
 *   out-of-orderness bound; the source's watermark is the minimum over its splits, except that a
 *   split with no event for the idle timeout does not hold the others back. When every split is
 *   idle, the source's watermark is the maximum over them (it has seen nothing newer, and a
 *   whole source must not stall the count subtasks forever).
 * - {@link ChannelWatermarks}, in a count subtask: the minimum over its open input channels.
 */

/** No watermark yet: every event is on time. */
export const NO_WATERMARK = -Infinity;

/** The watermarks of a source subtask's splits; times are epoch ms, `now` is the caller's clock. */
export class SplitWatermarks {
  #outOfOrderness: number;
  #idleTimeout: number;
  #maxTs: number[];
  #lastEventAt: number[];
  #emitted = NO_WATERMARK;

  /**
   * @param maxTs each split's max event time already seen (restored from a checkpoint; {@link NO_WATERMARK}: none)
   * @param idleTimeoutMs 0: a split never counts as idle
   * @param now the start time: a split without any event becomes idle one timeout after it
   * @param initial the watermark to start from (restored: what this source had emitted; it never goes back)
   */
  constructor(maxTs: number[], outOfOrdernessMs: number, idleTimeoutMs: number, now: number, initial = NO_WATERMARK) {
    this.#emitted = initial;
    this.#maxTs = [...maxTs];
    this.#lastEventAt = maxTs.map(() => now);
    this.#outOfOrderness = outOfOrdernessMs;
    this.#idleTimeout = idleTimeoutMs;
  }

  /** Split `split` read an event of time `ts`. */
  observe(split: number, ts: number, now: number): void {
    if (ts > this.#maxTs[split]) this.#maxTs[split] = ts;
    this.#lastEventAt[split] = now;
  }

  /** The max event time seen per split (what a checkpoint stores). */
  maxTimes(): number[] {
    return [...this.#maxTs];
  }

  /** The watermark last returned by {@link advance} (what lateness is judged against). */
  get current(): number {
    return this.#emitted;
  }

  /** Recomputes the watermark at `now`; returns it when it moved forward, else undefined. */
  advance(now: number): number | undefined {
    let activeMin = Infinity;
    let anyActive = false;
    let max = NO_WATERMARK;
    for (let s = 0; s < this.#maxTs.length; s++) {
      const w = this.#maxTs[s] - this.#outOfOrderness;
      if (w > max) max = w;
      const idle = this.#idleTimeout > 0 && now - this.#lastEventAt[s] >= this.#idleTimeout;
      if (!idle) {
        anyActive = true;
        if (w < activeMin) activeMin = w;
      }
    }
    const candidate = anyActive ? activeMin : max;
    if (candidate <= this.#emitted) return undefined;
    this.#emitted = candidate;
    return candidate;
  }
}

/** The watermark of a subtask with N input channels: the minimum over its open channels. */
export class ChannelWatermarks {
  #per: number[];
  #closed: boolean[];
  #combined = NO_WATERMARK;

  constructor(numChannels: number) {
    this.#per = new Array(numChannels).fill(NO_WATERMARK);
    this.#closed = new Array(numChannels).fill(false);
  }

  /** The combined watermark. */
  get current(): number {
    return this.#combined;
  }

  /** A watermark arrived on `channel`; returns the combined one when it moved forward. */
  update(channel: number, watermark: number): number | undefined {
    if (watermark > this.#per[channel]) this.#per[channel] = watermark;
    return this.#recombine();
  }

  /** `channel` ended: it holds nothing back any more. */
  close(channel: number): number | undefined {
    this.#closed[channel] = true;
    return this.#recombine();
  }

  #recombine(): number | undefined {
    let min = Infinity;
    for (let c = 0; c < this.#per.length; c++) if (!this.#closed[c] && this.#per[c] < min) min = this.#per[c];
    // every channel closed: nothing more will come, the watermark stays where it is
    if (min === Infinity || min <= this.#combined) return undefined;
    this.#combined = min;
    return min;
  }
}
