/**
 * @module
 * A shared-memory cell holding the latest barrier triggered for a source subtask. The source
 * checks it between every two events with one atomic load, so a barrier is injected at the next
 * event boundary even while the source is busy draining thousands of buffered messages (a
 * `postMessage` would wait until its loop yields to the event loop, delaying — and misaligning —
 * the checkpoint). The trigger message is still sent to wake a source that is idle.
 */
import type { Barrier } from "../types.ts";

const ID = 0;
const FINAL = 1;
const COMPLETED = 2;

/** Writer (job) and reader (source) of one source subtask's latest barrier. */
export class BarrierCell {
  readonly buffer: SharedArrayBuffer;
  #ints: Int32Array;
  #time: Float64Array;

  constructor(buffer = new SharedArrayBuffer(24)) {
    this.buffer = buffer;
    this.#ints = new Int32Array(buffer, 0, 3);
    this.#time = new Float64Array(buffer, 16, 1);
  }

  /** Publishes `barrier`; the id is stored last, so a reader that sees it sees the rest. */
  publish(barrier: Barrier): void {
    this.#time[0] = barrier.timestamp;
    Atomics.store(this.#ints, FINAL, barrier.final ? 1 : 0);
    Atomics.store(this.#ints, COMPLETED, barrier.completed ?? 0);
    Atomics.store(this.#ints, ID, barrier.checkpointId);
  }

  /** The id of the latest published barrier (0: none). */
  latestId(): number {
    return Atomics.load(this.#ints, ID);
  }

  /** The latest published barrier. */
  read(): Barrier {
    const checkpointId = Atomics.load(this.#ints, ID);
    const final = Atomics.load(this.#ints, FINAL) === 1;
    const completed = Atomics.load(this.#ints, COMPLETED);
    return { checkpointId, timestamp: this.#time[0], ...(final ? { final } : {}), ...(completed ? { completed } : {}) };
  }
}
