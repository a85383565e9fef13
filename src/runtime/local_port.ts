/**
 * @module
 * Two connected ports inside ONE thread, for the channel between source k and count k of a slot
 * (see `slot_workers.ts`): what one end posts, the other receives in order, asynchronously (in a
 * microtask, after the sender's current work), by reference — no structured clone of the record
 * batches, whose keys the count subtask then shares with the source instead of receiving copies.
 * Senders never touch what they posted again (`RecordWriter` starts a new batch per send), so
 * sharing is safe. The channel above it (`channel.ts`) is unchanged: credits, barriers, order.
 */

/** What a channel needs of a port: a `MessagePort`, or one end of {@link localPortPair}. */
export interface Port {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
  close(): void;
}

/** One end of an in-thread pair. */
class LocalPort implements Port {
  onmessage: ((e: MessageEvent) => void) | null = null;
  peer!: LocalPort;
  #queue: unknown[] = [];
  #scheduled = false;
  #closed = false;

  postMessage(message: unknown): void {
    if (this.#closed) return;
    this.peer.#receive(message);
  }

  close(): void {
    this.#closed = true;
    this.#queue = [];
  }

  #receive(message: unknown): void {
    if (this.#closed) return;
    this.#queue.push(message);
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => this.#drain());
  }

  #drain(): void {
    this.#scheduled = false;
    const q = this.#queue;
    this.#queue = [];
    for (const data of q) {
      if (this.#closed) return;
      this.onmessage?.({ data } as MessageEvent);
    }
  }
}

/** Two connected in-thread ports; see the module doc. */
export function localPortPair(): [Port, Port] {
  const a = new LocalPort();
  const b = new LocalPort();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
