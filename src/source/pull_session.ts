/**
 * @module
 * One pull consumer's messages, read with the JetStream pull protocol directly on a core
 * subscription — the hot path of a split (`split_reader.ts`). nats.js's `consume()` costs ~0.4 µs
 * per message over a core subscription (its async iterator, its `JsMsg` per message; a raw
 * consume of the same stream ran 1.5× as fast), and it re-pulls as messages ARRIVE, so a reader
 * that waits for backpressure has no bound on what piles up behind it. Here more is pulled only
 * as messages are HANDLED: at most two batches are ever requested and not handled.
 *
 * The protocol, as nats.js and the server speak it: a request `{batch, expires, idle_heartbeat}`
 * to `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` with the inbox as reply subject; the server
 * answers with the messages, and with status messages on the inbox: 100 (idle heartbeat, while a
 * request is open and nothing is sent), 404/408 (a request ended: nothing, or expired, with what
 * it still owed in `Nats-Pending-Messages`), 409 (the consumer was deleted, leadership changed,
 * too many requests, ...), 503 (no JetStream). The session ends — the reader recreates the
 * consumer at its position + 1, whatever the reason — on any status but 100/404/408, on two idle
 * heartbeats missed while a request is open (its server is gone), and on `stop()`.
 */
import { createInbox, type Msg, type NatsConnection, type Subscription } from "@nats-io/nats-core";

/** What a session needs; `onMessage` gets every message in delivery order, `onEnd` the reason once. */
export interface PullSessionOptions {
  nc: NatsConnection;
  stream: string;
  consumer: string;
  /** Messages per pull request. */
  batch: number;
  /** Idle heartbeat asked of the server; two missed ones end the session. */
  heartbeatMs: number;
  /** A request expires after this long (the next one follows at once). */
  expiresMs: number;
  onMessage(m: Msg): void;
  onEnd(why: string | undefined): void;
}

const NS_PER_MS = 1_000_000;

/** A running pull; see the module doc. */
export class PullSession {
  #o: PullSessionOptions;
  #sub: Subscription;
  #subject: string;
  #request: string;
  /** Messages asked for and not received yet (over every open request). */
  #requested = 0;
  /** Messages received and not yet reported handled. */
  #unhandled = 0;
  #lastInbound = performance.now();
  #monitor: ReturnType<typeof setInterval>;
  #ended = false;

  constructor(o: PullSessionOptions) {
    this.#o = o;
    const inbox = createInbox(); // the connection sets no inbox prefix (`nats/connect.ts`)
    this.#subject = `$JS.API.CONSUMER.MSG.NEXT.${o.stream}.${o.consumer}`;
    this.#request = JSON.stringify({
      batch: o.batch, expires: o.expiresMs * NS_PER_MS, idle_heartbeat: o.heartbeatMs * NS_PER_MS,
    });
    this.#sub = o.nc.subscribe(inbox, { callback: (err, m) => (err ? this.end(err.message) : this.#inbound(m)) });
    this.#sub.closed.then(() => this.end("its subscription closed"), (err: Error) => this.end(err.message));
    this.#monitor = setInterval(() => {
      // Heartbeats come only while a request is open: none is while the reader waits (backpressure).
      if (this.#requested > 0 && performance.now() - this.#lastInbound > 2 * o.heartbeatMs) this.end("2 heartbeats missed (its server is gone?)");
    }, o.heartbeatMs);
    this.#pullIfLow();
  }

  /** `n` messages received were handled: room for more may be asked for. */
  handled(n = 1): void {
    this.#unhandled -= n;
    this.#pullIfLow();
  }

  /** Ends the session (idempotent): unsubscribes; `onEnd(why)` is called once. */
  end(why: string | undefined): void {
    if (this.#ended) return;
    this.#ended = true;
    clearInterval(this.#monitor);
    this.#sub.unsubscribe();
    this.#o.onEnd(why);
  }

  #inbound(m: Msg): void {
    if (this.#ended) return;
    this.#lastInbound = performance.now();
    const h = m.headers;
    const code = h?.code ?? 0;
    if (code === 0) {
      this.#requested--;
      this.#unhandled++;
      this.#o.onMessage(m);
      return;
    }
    if (code === 100) return; // idle heartbeat (or flow control, which only push consumers get)
    if (code === 404 || code === 408) {
      // A request ended with messages still owed: forget them and ask again.
      const owed = Number(h?.get("Nats-Pending-Messages") || 0);
      this.#requested = Math.max(0, this.#requested - (owed > 0 ? owed : this.#o.batch));
      this.#pullIfLow();
      return;
    }
    this.end(`${code} ${h?.description ?? ""}`.trim());
  }

  /** Asks for another batch while fewer than half a batch is asked for or waiting to be handled. */
  #pullIfLow(): void {
    if (this.#ended || this.#requested + this.#unhandled > this.#o.batch / 2) return;
    // The first request after none was open starts the heartbeat clock: nothing was owed before
    // (a handler may have held everything asked for far longer than two heartbeats).
    if (this.#requested === 0) this.#lastInbound = performance.now();
    this.#requested += this.#o.batch;
    this.#o.nc.publish(this.#subject, this.#request, { reply: this.#sub.getSubject() });
  }
}
