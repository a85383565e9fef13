/**
 * @module
 * Stall detection: a split is stalled when it has events waiting (the consumer says some are
 * pending, or the stream holds a later sequence of the split) but its position has not moved for
 * `afterMs`. Pure: the job feeds it every split's progress and asks at any time.
 */

/** One stalled split. */
export interface StalledSplit {
  split: string;
  /** Position that has not moved. */
  position: number;
  /** How long it has not moved, in ms. */
  forMs: number;
}

/** Tracks when each split's position last moved. */
export class StallWatch {
  readonly afterMs: number;
  #progress = new Map<string, { position: number; since: number; behind: boolean }>();

  constructor(afterMs: number) {
    this.afterMs = afterMs;
  }

  /** Forgets all progress (a new attempt starts): nothing is stalled for `afterMs` from `now`. */
  reset(): void {
    this.#progress.clear();
  }

  /** Records `split`'s position and whether events are waiting for it, at time `now` (ms). */
  observe(split: string, position: number, behind: boolean, now: number): void {
    const p = this.#progress.get(split);
    if (!p || p.position !== position || !behind) this.#progress.set(split, { position, since: now, behind });
    else p.behind = behind;
  }

  /** Splits that are behind and whose position has not moved for `afterMs`, as of `now`. */
  stalled(now: number): StalledSplit[] {
    const out: StalledSplit[] = [];
    for (const [split, p] of this.#progress) {
      if (p.behind && now - p.since >= this.afterMs) out.push({ split, position: p.position, forMs: now - p.since });
    }
    return out;
  }
}
