/**
 * @module
 * A one-way, bounded channel between two subtasks over a `MessagePort`, with credit-based flow
 * control (as Flink's network stack): the receiver grants one credit per record batch it has
 * processed, and the sender may only have `credits` record batches in flight. A slow or
 * blocked receiver (e.g. one aligning barriers) therefore stalls the sender instead of letting
 * messages pile up in memory. Barriers and end of input never wait for credit: they are small
 * and must not be delayed behind a stalled batch.
 */
import type { Credit, StreamElement } from "../types.ts";
import type { Port } from "./local_port.ts";

/** The sending end. */
export class OutputChannel {
  #port: Port;
  #credits: number;
  #waiters: Array<() => void> = [];
  #closed = false;
  #ended = false;
  /** Record batches sent so far. */
  batchesSent = 0;

  /** `initialCredits` must equal the receiver's buffer size in batches. */
  constructor(port: Port, initialCredits: number) {
    this.#port = port;
    this.#credits = initialCredits;
    port.onmessage = (e: MessageEvent<Credit>) => {
      this.#credits += e.data.n;
      if (this.#credits > 0) for (const w of this.#waiters.splice(0)) w();
    };
  }

  /** Record batches that may still be sent without waiting. */
  get credits(): number {
    return this.#credits;
  }

  /** Whether a record batch may be sent now (always, once closed: it is dropped, never waited for). */
  get writable(): boolean {
    return this.#credits > 0 || this.#closed;
  }

  /** Resolves once a record batch may be sent. */
  whenWritable(): Promise<void> {
    if (this.#credits > 0 || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /**
   * Sends a record batch and spends one credit. Callers check {@link writable} first; a batch
   * sent without credit (only to flush before a barrier) is paid back by the next grant.
   */
  sendRecords(keys: string[], times?: number[]): void {
    if (this.#ended) return; // nothing may follow end of input
    this.#credits--;
    this.batchesSent++;
    this.#post(times === undefined ? { kind: "records", keys } : { kind: "records", keys, times });
  }

  /** Sends any non-record element (barrier, watermark, end of input); never waits for credit. */
  send(element: Exclude<StreamElement, { kind: "records" }>): void {
    if (this.#ended) return;
    this.#post(element);
    if (element.kind === "end") this.#ended = true;
  }

  /** Stops listening for credits and wakes any waiter; sends nothing more. */
  close(): void {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w();
    this.#port.close();
  }

  #post(element: StreamElement): void {
    if (!this.#closed) this.#port.postMessage(element);
  }
}

/** The receiving end. */
export class InputChannel {
  #port: Port;

  /** Calls `onElement` for each arriving element, in order. */
  constructor(port: Port, onElement: (element: StreamElement) => void) {
    this.#port = port;
    port.onmessage = (e: MessageEvent<StreamElement>) => onElement(e.data);
  }

  /** Tells the sender it may send `n` more record batches. */
  grant(n = 1): void {
    this.#port.postMessage({ kind: "credit", n } satisfies Credit);
  }

  close(): void {
    this.#port.close();
  }
}
