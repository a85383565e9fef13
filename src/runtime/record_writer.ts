/**
 * @module
 * The source side of a subtask's output (Flink's `RecordWriter`): collects records per target
 * channel into batches of `batchSize`, sends a batch when it is full and its channel has credit,
 * and tells the caller to pause reading while a full batch waits for credit (backpressure).
 * A barrier or a watermark first flushes every partial batch, so records before it always precede
 * it. With windows on, records carry their event times (`emitTimed`); without, none is kept.
 */
import type { Barrier } from "../types.ts";
import type { OutputChannel } from "./channel.ts";

/** Batches records for a fixed set of output channels. */
export class RecordWriter {
  #channels: OutputChannel[];
  #batchSize: number;
  #pending: string[][];
  /** Event times parallel to `#pending` (windows on), else undefined. */
  #times: number[][] | undefined;

  constructor(channels: OutputChannel[], batchSize: number, timed = false) {
    this.#channels = channels;
    this.#batchSize = batchSize;
    this.#pending = channels.map(() => []);
    if (timed) this.#times = channels.map(() => []);
  }

  /** Records waiting in partial or stalled batches, over all channels. */
  get bufferedRecords(): number {
    let n = 0;
    for (const p of this.#pending) n += p.length;
    return n;
  }

  /** Adds one record for channel `target`; sends its batch when full and writable. */
  emit(target: number, key: string): void {
    const batch = this.#pending[target];
    batch.push(key);
    if (batch.length >= this.#batchSize && this.#channels[target].writable) this.#send(target);
  }

  /** Adds one record with its event time (a writer built `timed`). */
  emitTimed(target: number, key: string, ts: number): void {
    const batch = this.#pending[target];
    batch.push(key);
    this.#times![target].push(ts);
    if (batch.length >= this.#batchSize && this.#channels[target].writable) this.#send(target);
  }

  /** Flushes everything, credit or not, then sends watermark `timestamp` on every channel. */
  broadcastWatermark(timestamp: number): void {
    for (let c = 0; c < this.#channels.length; c++) {
      if (this.#pending[c].length > 0) this.#send(c);
      this.#channels[c].send({ kind: "watermark", timestamp });
    }
  }

  /** True while some full batch waits for credit: the caller should `await whenWritable()`. */
  get backpressured(): boolean {
    for (let c = 0; c < this.#channels.length; c++) {
      if (this.#pending[c].length >= this.#batchSize && !this.#channels[c].writable) return true;
    }
    return false;
  }

  /** Resolves once no full batch is waiting (sending those that became writable). */
  async whenWritable(): Promise<void> {
    for (;;) {
      let waitOn: OutputChannel | undefined;
      for (let c = 0; c < this.#channels.length; c++) {
        if (this.#pending[c].length < this.#batchSize) continue;
        if (this.#channels[c].writable) this.#send(c);
        else waitOn = this.#channels[c];
      }
      if (waitOn === undefined) return;
      await waitOn.whenWritable();
    }
  }

  /** Sends partial batches of writable channels (a latency bound for slow traffic). */
  flushWritable(): void {
    for (let c = 0; c < this.#channels.length; c++) {
      if (this.#pending[c].length > 0 && this.#channels[c].writable) this.#send(c);
    }
  }

  /** Flushes everything, credit or not, then sends `barrier` on every channel. */
  broadcastBarrier(barrier: Barrier): void {
    for (let c = 0; c < this.#channels.length; c++) {
      if (this.#pending[c].length > 0) this.#send(c);
      this.#channels[c].send({ kind: "barrier", barrier });
    }
  }

  /** Sends end of input on every channel (after a final barrier; pending records are dropped). */
  broadcastEnd(): void {
    for (let c = 0; c < this.#channels.length; c++) {
      this.#pending[c] = [];
      if (this.#times) this.#times[c] = [];
      this.#channels[c].send({ kind: "end" });
    }
  }

  #send(c: number): void {
    const batch = this.#pending[c];
    this.#pending[c] = [];
    if (this.#times === undefined) {
      this.#channels[c].sendRecords(batch);
      return;
    }
    const times = this.#times[c];
    this.#times[c] = [];
    this.#channels[c].sendRecords(batch, times);
  }
}
