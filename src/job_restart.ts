/**
 * @module
 * The job's restart strategy (Flink's exponential-delay strategy, counted per streak): after each
 * failed attempt, whether to give up and how long to wait. A completed checkpoint resets the
 * count; an attempt that failed only because NATS or libSQL was unreachable is not counted — an
 * outage is waited out, however long, and never turns the job FAILED.
 */

/** What the job decides after a failed attempt. */
export interface RestartDecision {
  giveUp: boolean;
  delayMs: number;
  /** Counted failures in a row (what `attempts` bounds). */
  failures: number;
}

/** See the module doc. */
export class RestartPolicy {
  #attempts: number;
  #backoffMs: number;
  #backoffMaxMs: number;
  #failures = 0;
  /** Failures in a row, counted or not: what the delay doubles with. */
  #streak = 0;

  constructor(options: { attempts: number; backoffMs: number; backoffMaxMs: number }) {
    this.#attempts = options.attempts;
    this.#backoffMs = options.backoffMs;
    this.#backoffMaxMs = options.backoffMaxMs;
  }

  /**
   * An attempt failed. `completedCheckpoint`: it completed one (progress was made);
   * `dependencyDown`: NATS or libSQL was unreachable when it failed (not counted).
   */
  onFailure(o: { completedCheckpoint: boolean; dependencyDown: boolean }): RestartDecision {
    if (o.completedCheckpoint) {
      this.#failures = 0;
      this.#streak = 0;
    }
    this.#streak++;
    if (!o.dependencyDown) this.#failures++;
    const delayMs = Math.min(this.#backoffMaxMs, this.#backoffMs * 2 ** Math.min(this.#streak - 1, 30));
    return { giveUp: this.#failures > this.#attempts, delayMs, failures: this.#failures };
  }
}
