/**
 * @module
 * Rates kept by the server: the job's totals sampled every second into a ring buffer of a few
 * minutes, and the rates over a short window ending at each sample. The dashboard draws these
 * instead of differencing counters itself: a background tab's throttled timers made its rates
 * wrong, and a reload lost its history.
 */

/** The totals one sample holds (all counters only grow while the process lives). */
export interface Totals {
  /** Events read from JetStream. */
  recordsIn: number;
  /** Events counted by the count subtasks. */
  counted: number;
  /** Events covered by the latest completed checkpoint (the sum of the committed counts). */
  committed: number;
  /** Events dead-lettered. */
  deadLettered: number;
  /** Per count subtask, by index: events counted and distinct keys held. */
  subtasks: { counted: number; keys: number }[];
  /** Per split: stream sequence of the last event read. */
  delivered: Record<string, number>;
}

/** A sample: the totals at time `t` (epoch ms). */
export interface Sample extends Totals {
  t: number;
}

/** Events per second over the window ending at `t`. */
export interface RatePoint {
  t: number;
  recordsIn: number;
  counted: number;
  committed: number;
  deadLettered: number;
  /** Per count subtask, events counted per second. */
  subtasks: number[];
  /**
   * Per split, an estimate: the read rate shared out by how far each split's stream sequence
   * advanced (subtasks count records per operator, not per split).
   */
  splits: Record<string, number>;
}

/** Options of a {@link RateHistory}. */
export interface RateHistoryOptions {
  /** Samples kept. @default 300 */
  capacity?: number;
  /** Rates are taken over at least this span (subtasks report every 500 ms: one second jitters). @default 4000 */
  windowMs?: number;
}

/** A ring buffer of samples and the rates between them. */
export class RateHistory {
  readonly capacity: number;
  readonly windowMs: number;
  #ring: Sample[] = [];
  #next = 0;

  constructor(options: RateHistoryOptions = {}) {
    this.capacity = options.capacity ?? 300;
    this.windowMs = options.windowMs ?? 4000;
    if (!(this.capacity >= 2)) throw new Error(`RateHistory capacity must be at least 2, got ${this.capacity}`);
  }

  /** Records the totals at `t`; a sample not later than the newest one is ignored. */
  add(t: number, totals: Totals): void {
    const last = this.newest();
    if (last && t <= last.t) return;
    const s: Sample = { t, ...totals, subtasks: totals.subtasks.map((x) => ({ ...x })), delivered: { ...totals.delivered } };
    if (this.#ring.length < this.capacity) this.#ring.push(s);
    else this.#ring[this.#next] = s;
    this.#next = (this.#next + 1) % this.capacity;
  }

  /** Every sample kept, oldest first. */
  samples(): Sample[] {
    return this.#ring.length < this.capacity
      ? [...this.#ring]
      : [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
  }

  newest(): Sample | undefined {
    return this.#ring.length === 0 ? undefined : this.#ring[(this.#next - 1 + this.capacity) % this.capacity];
  }

  /**
   * The rate at every sample but the oldest, oldest first: over the span from the latest sample
   * at least {@link windowMs} before it (or the oldest kept) to it.
   */
  points(): RatePoint[] {
    const s = this.samples();
    const out: RatePoint[] = [];
    let from = 0;
    for (let i = 1; i < s.length; i++) {
      while (from + 1 < i && s[i].t - s[from + 1].t >= this.windowMs) from++;
      out.push(rateBetween(s[from], s[i]));
    }
    return out;
  }

  /** The rate at the newest sample (all zero with fewer than two samples). */
  current(): RatePoint {
    const p = this.points();
    return p[p.length - 1] ?? rateBetween(this.newest(), this.newest());
  }
}

/** Per-second rates from sample `a` to the later sample `b`; a counter that went back counts 0. */
export function rateBetween(a: Sample | undefined, b: Sample | undefined): RatePoint {
  const t = b?.t ?? 0;
  const dt = a && b ? (b.t - a.t) / 1000 : 0;
  const per = (x: number, y: number) => (dt > 0 ? Math.max(0, y - x) / dt : 0);
  if (!a || !b) return { t, recordsIn: 0, counted: 0, committed: 0, deadLettered: 0, subtasks: [], splits: {} };
  const recordsIn = per(a.recordsIn, b.recordsIn);
  const advance: Record<string, number> = {};
  let sum = 0;
  for (const [split, seq] of Object.entries(b.delivered)) sum += advance[split] = Math.max(0, seq - (a.delivered[split] ?? seq));
  const splits: Record<string, number> = {};
  for (const split of Object.keys(b.delivered)) splits[split] = sum > 0 ? (recordsIn * advance[split]) / sum : 0;
  return {
    t,
    recordsIn,
    counted: per(a.counted, b.counted),
    committed: per(a.committed, b.committed),
    deadLettered: per(a.deadLettered, b.deadLettered),
    subtasks: b.subtasks.map((x, i) => per(a.subtasks[i]?.counted ?? x.counted, x.counted)),
    splits,
  };
}
