/**
 * @module
 * Reads one split with delivery continuity verified, after nats.js's ordered consumer. The split is
 * read by an ephemeral `ack_policy: none` pull consumer starting at its position + 1. With no acks,
 * a message in flight when a TCP connection drops is gone for good: the consumer counts it as
 * delivered, and the client re-pulls the ones after it. So every message's consumer sequence (in
 * its reply subject) must be the previous one + 1. On a gap, a reconnect, missed heartbeats (the
 * consumer's node died) or a lost consumer (deleted for inactivity after a pause, or with its node),
 * the reader drops whatever its old consumer still buffers and recreates the consumer at position
 * + 1 in place — no job restart — so a position never moves over an event it did not emit.
 */
import { nanos } from "@nats-io/nats-core";
import {
  AckPolicy, DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg,
} from "@nats-io/jetstream";
import { purgedPastPosition } from "../job_streams.ts";
import type { SplitMetrics } from "../types.ts";
import { AckSubjectParser } from "./ack_subject.ts";

/** What a reader needs; the timings have defaults that detect a dead node in about 2 s. */
export interface SplitReaderOptions {
  jsm: JetStreamManager;
  js: JetStreamClient;
  stream: string;
  /** Consumer names start with it (short: the name is in every reply subject, parsed per message). */
  namePrefix: string;
  /** Events the pull consumer may buffer. */
  pullBatch: number;
  /** The server deletes a consumer nobody pulled from for this long (e.g. a paused process). */
  inactiveThresholdMs: number;
  /** Idle heartbeat of each pull request; two missed ones mean the consumer's server is gone. */
  heartbeatMs: number;
  log(line: string): void;
}

/** A split's live state, shared with the source subtask that emits its events. */
export interface SplitState extends SplitMetrics {
  subject: string;
}

/**
 * Handles one event in order; `seq` is its stream sequence, `pending` the consumer's count of
 * events after it. Returns a promise only when the caller must wait (backpressure).
 */
export type SplitHandler = (m: JsMsg, seq: number, pending: number) => void | Promise<void>;

/** A failure that recreating the consumer cannot fix: the attempt fails with it. */
export class SplitReaderFatal extends Error {
  override name = "SplitReaderFatal";
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2000;

/** Reads one split; see the module doc. */
export class SplitReader {
  readonly split: SplitState;
  #o: SplitReaderOptions;
  #messages: ConsumerMessages | undefined;
  #consumer: string | undefined;
  /** Why the current consumer must be replaced (set from outside the read loop). */
  #restart: string | undefined;
  #stopped = false;
  #wake: (() => void) | undefined;
  /** Consumer sequence of the last event of the current consumer handed to the source (0: none). */
  #handledCseq = 0;
  /** Whether the stream's limits (age, messages, bytes) remove events: see {@link catchUp}. */
  #limited = false;

  constructor(split: SplitState, options: SplitReaderOptions) {
    this.split = split;
    this.#o = options;
  }

  /** Replaces the consumer at position + 1 (after a reconnect, when heartbeats stop, ...). */
  restart(reason: string): void {
    if (this.#stopped || this.#restart !== undefined) return;
    this.#restart = reason;
    this.#messages?.stop();
    this.#wake?.();
  }

  /** Stops reading and deletes the consumer. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    const messages = this.#messages;
    this.#messages = undefined;
    await messages?.close().catch(() => {});
    if (this.#consumer) await this.#o.jsm.consumers.delete(this.#o.stream, this.#consumer).catch(() => {});
  }

  /** Reads until stopped, calling `handle` per event in stream order; throws only {@link SplitReaderFatal}. */
  async run(handle: SplitHandler): Promise<void> {
    const ack = new AckSubjectParser();
    let failures = 0;
    while (!this.#stopped) {
      let messages: ConsumerMessages;
      try {
        messages = await this.#open();
        failures = 0;
      } catch (err) {
        if (err instanceof SplitReaderFatal || this.#stopped) throw err;
        const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** failures++);
        this.split.waiting = `creating consumer: ${(err as Error).message}`;
        if (failures === 1 || failures % 10 === 0) {
          this.#o.log(`split ${this.split.subject}: cannot create its consumer (${(err as Error).message}); retrying`);
        }
        await this.#sleep(delay);
        continue;
      }
      this.split.waiting = undefined;
      let why: string | undefined;
      let expected = 1;
      try {
        for await (const m of messages) {
          if (this.#restart !== undefined) break;
          // The raw reply subject is cheaper to read than `m.info`; fall back for unknown formats.
          let seq: number, cseq: number, pending: number;
          if (ack.parse((m as unknown as RawMsg).msg.reply)) {
            seq = ack.seq;
            cseq = ack.cseq;
            pending = ack.pending;
          } else {
            const info = m.info;
            seq = info.streamSequence;
            cseq = info.deliverySequence;
            pending = info.pending;
          }
          if (cseq !== expected) {
            why = `events lost in transit (consumer sequence ${cseq} after ${expected - 1})`;
            break;
          }
          expected++;
          this.#handledCseq = cseq;
          const wait = handle(m, seq, pending);
          if (wait !== undefined) await wait;
          if (this.#stopped) return;
        }
      } catch (err) {
        if (this.#stopped) return;
        why = (err as Error).message;
        if (/stream not found/i.test(why)) throw new SplitReaderFatal(`split ${this.split.subject}: ${why}`);
      }
      if (this.#stopped) return;
      why ??= this.#restart ?? "its consumer ended";
      this.#restart = undefined;
      this.split.consumerRestarts++;
      this.#o.log(`split ${this.split.subject}: ${why}; recreating its consumer at sequence ${this.split.position + 1}`);
      this.#retire();
    }
  }

  /** Creates a consumer at position + 1 and starts pulling; refuses a start past purged events. */
  async #open(): Promise<ConsumerMessages> {
    const { jsm, js, stream } = this.#o;
    this.#restart = undefined;
    const start = this.split.position + 1;
    // The job deletes its leftovers of this form at each start (consumer_names.ts, job_streams.ts).
    const name = `${this.#o.namePrefix}_${crypto.randomUUID().slice(0, 6)}`;
    await jsm.consumers.add(stream, {
      name,
      filter_subject: this.split.subject,
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: start,
      inactive_threshold: nanos(this.#o.inactiveThresholdMs),
      mem_storage: true,
      num_replicas: 1,
    });
    this.#consumer = name;
    this.#handledCseq = 0;
    const info = await jsm.streams.info(stream);
    const c = info.config;
    this.#limited = c.max_age > 0 || c.max_msgs > 0 || c.max_bytes > 0 || (c.max_msgs_per_subject ?? 0) > 0;
    const firstSeq = info.state.first_seq;
    if (purgedPastPosition(this.split.position, firstSeq)) {
      const p = this.split.position;
      throw new SplitReaderFatal(
        `split ${this.split.subject}: the stream now begins at sequence ${firstSeq}, but the split's position is ${p}: ` +
          `events ${p + 1}..${firstSeq - 1} were removed (retention or purge) before they were counted; refusing to ` +
          "skip them (start over with a new PVFLOW_DB_URL to accept the loss)",
      );
    }
    const consumer = await js.consumers.get(stream, name);
    const messages = await consumer.consume({
      max_messages: this.#o.pullBatch,
      idle_heartbeat: this.#o.heartbeatMs,
      expires: Math.max(1000, this.#o.heartbeatMs * 5),
      abort_on_missing_resource: true,
    });
    this.#messages = messages;
    (async () => {
      for await (const s of messages.status()) {
        if (s.type === "heartbeats_missed") this.restart(`${s.count} heartbeats missed (its server is gone?)`);
        else if (s.type === "consumer_deleted" || s.type === "consumer_not_found") this.restart("its consumer was deleted");
      }
    })().catch(() => {});
    if (this.#restart !== undefined || this.#stopped) messages.stop();
    return messages;
  }

  /**
   * On a stream whose limits remove old events, moves an idle split's position up to the stream's
   * last sequence when none of the split's events lies in between. A position is then never far
   * behind the stream's first sequence just because the split is quiet, and a restore after the
   * limits removed other splits' events (all counted) is not mistaken for a loss. Sound because:
   * the stream's last sequence L is read first; then the consumer reports nothing pending (no
   * event of the split after the last one delivered, up to the stream's end ≥ L) and exactly as
   * many deliveries as were handled (nothing in flight to this reader).
   */
  async catchUp(): Promise<void> {
    const consumer = this.#consumer;
    if (!this.#limited || consumer === undefined || this.#stopped || this.split.pending !== 0) return;
    const handled = this.#handledCseq;
    const last = (await this.#o.jsm.streams.info(this.#o.stream)).state.last_seq;
    const ci = await this.#o.jsm.consumers.info(this.#o.stream, consumer);
    if (consumer !== this.#consumer || this.#handledCseq !== handled || this.#stopped) return; // moved on meanwhile
    if (ci.num_pending !== 0 || ci.delivered.consumer_seq !== handled) return;
    if (last > this.split.position) {
      this.split.position = last;
      if (last > this.split.delivered) this.split.delivered = last;
    }
  }

  /** Lets go of the current consumer without waiting: what it still buffers is re-read from position + 1. */
  #retire(): void {
    this.#messages?.stop();
    this.#messages = undefined;
    const old = this.#consumer;
    this.#consumer = undefined;
    if (old) this.#o.jsm.consumers.delete(this.#o.stream, old).catch(() => {});
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.#wake = undefined; resolve(); }, ms);
      this.#wake = () => { clearTimeout(t); this.#wake = undefined; resolve(); };
    });
  }
}

/** A JsMsg's underlying core message (not in the public types). */
interface RawMsg {
  msg: { reply: string };
}
