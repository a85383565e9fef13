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
 *
 * Events the stream removed before the consumer delivered them (limits, a purge) leave no gap in
 * the consumer sequences: the server skips to its new first sequence. The reader applies the
 * rules of ./front_guard.ts: a covering split checks that its stream sequences are contiguous; any
 * other split keeps a verified position that the source's {@link FrontProber} moves up (and a
 * checkpoint commits a position past it only once the job verified it: no committed position ever
 * passes a loss). A loss fails the attempt with {@link SplitReaderFatal}.
 */
import { nanos, type Msg, type NatsConnection } from "@nats-io/nats-core";
import { AckPolicy, DeliverPolicy, type JetStreamManager } from "@nats-io/jetstream";
import { purgedPastPosition } from "../job_streams.ts";
import type { SplitMetrics, UnverifiedSplit } from "../types.ts";
import { AckSubjectParser } from "./ack_subject.ts";
import {
  coversStream, describeLimits, idleClaim, judgeProbe, removedReason, splitActivity, type ConsumerFacts, type ProbeVerdict,
  type SplitActivity,
} from "./front_guard.ts";
import { PullSession } from "./pull_session.ts";

/** What a reader needs; the timings have defaults that detect a dead node in about 2 s. */
export interface SplitReaderOptions {
  jsm: JetStreamManager;
  /** The connection the consumer's messages are pulled over (see `pull_session.ts`). */
  nc: NatsConnection;
  stream: string;
  /** Consumer names start with it (short: the name is in every reply subject, parsed per message). */
  namePrefix: string;
  /** Events per pull request (at most about 1.5 requests' worth are asked for and not handled). */
  pullBatch: number;
  /** The server deletes a consumer nobody pulled from for this long (e.g. a paused process). */
  inactiveThresholdMs: number;
  /** Idle heartbeat of each pull request; two missed ones mean the consumer's server is gone. */
  heartbeatMs: number;
  log(line: string): void;
  /** Asks for a probe of the stream's front soon (the reader read far past its verified position). */
  probeSoon?(): void;
}

/** What a reader knew when a probe requested the stream's info (see {@link SplitReader.probeRead}). */
export interface ProbeRead {
  /** Every sequence up to it was passed: the position, or an idle consumer's read position. */
  passed: number;
  claim: number;
  active: boolean;
  /** The counters then: the next probe's baseline if this one is judged. */
  activity: SplitActivity;
  /** Whether this probe asked the consumer (else its pending count is not known). */
  asked: boolean;
}

/** A split's live state, shared with the source subtask that emits its events. */
export interface SplitState extends SplitMetrics {
  subject: string;
}

/**
 * Handles one event in order; `seq` is its stream sequence, `pending` the consumer's count of
 * events after it. Returns a promise only when the caller must wait (backpressure).
 */
export type SplitHandler = (m: Msg, seq: number, pending: number) => void | Promise<void>;

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
  #pull: PullSession | undefined;
  #consumer: string | undefined;
  /** Why the current consumer must be replaced (set from outside the read loop). */
  #restart: string | undefined;
  #stopped = false;
  #wake: (() => void) | undefined;
  /** Consumer sequence of the last event of the current consumer handed to the source (0: none). */
  #handledCseq = 0;
  /** Stream sequence of the current consumer's last event (its first sequence - 1 before any). */
  #prevSeq = 0;
  /** Whether the split's filter covers every subject of the stream (its sequences must be contiguous). */
  #covering = false;
  /** The stream's limits in words, for a failure's reason. */
  #limits = "";
  /**
   * Whether the stream's limits (age, messages, bytes) remove events: then an idle split's
   * position follows its claims, so that it is never far behind the stream's first sequence just
   * because the split is quiet (a restore after the limits removed other splits' events, all
   * counted, is not mistaken for a loss).
   */
  #limited = false;
  /** Every event of the split up to this stream sequence was delivered (see ./front_guard.ts). */
  #verified: number;
  /** A stream sequence past which reading asks for a probe (Infinity: none asked for). */
  #probeAt = Infinity;
  /**
   * What makes a split active between two probes (events of it existed that it had not read yet):
   * events handled whose reply said more were pending after them, and transit gaps.
   */
  #pendingSeen = 0;
  #transitGaps = 0;
  /** The counters as of the last judged probe (or the consumer's creation). */
  #atProbe: SplitActivity = { pendingSeen: 0, transitGaps: 0, consumer: undefined, handledCseq: 0, numPending: 0 };
  /** This probe's consumer info, if taken (see {@link probeConsumer}). */
  #facts: { consumer: string; facts: ConsumerFacts; handledCseq: number } | undefined;

  constructor(split: SplitState, options: SplitReaderOptions) {
    this.split = split;
    this.#o = options;
    this.#verified = split.position; // counted before: nothing to verify
  }

  /** Whether the probes verify this split (it does not cover the stream; a covering split checks itself). */
  get guarded(): boolean {
    return !this.#covering;
  }

  /** Every event of the split up to this sequence was delivered; a covering split's position. */
  get verified(): number {
    return this.#covering ? this.split.position : this.#verified;
  }

  /** Replaces the consumer at position + 1 (after a reconnect, when heartbeats stop, ...). */
  restart(reason: string): void {
    if (this.#stopped || this.#restart !== undefined) return;
    this.#restart = reason;
    this.#pull?.end(undefined);
    this.#wake?.();
  }

  /** Stops reading and deletes the consumer. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    this.#pull?.end(undefined);
    this.#pull = undefined;
    if (this.#consumer) await this.#o.jsm.consumers.delete(this.#o.stream, this.#consumer).catch(() => {});
  }

  /** Reads until stopped, calling `handle` per event in stream order; throws only {@link SplitReaderFatal}. */
  async run(handle: SplitHandler): Promise<void> {
    const ack = new AckSubjectParser();
    let failures = 0;
    while (!this.#stopped) {
      const session = new ReadSession(this, handle, ack);
      try {
        await this.#open(session);
        failures = 0;
      } catch (err) {
        if (err instanceof SplitReaderFatal || this.#stopped) throw err;
        if (/stream not found/i.test((err as Error).message)) throw new SplitReaderFatal(`split ${this.split.subject}: ${(err as Error).message}`);
        const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** failures++);
        this.split.waiting = `creating consumer: ${(err as Error).message}`;
        if (failures === 1 || failures % 10 === 0) {
          this.#o.log(`split ${this.split.subject}: cannot create its consumer (${(err as Error).message}); retrying`);
        }
        await this.#sleep(delay);
        continue;
      }
      this.split.waiting = undefined;
      let why = await session.ended;
      await session.settled; // like a read loop, the next consumer waits for the handler's backpressure
      if (this.#stopped) return;
      if (session.fatal) throw session.fatal;
      if (why !== undefined && /stream not found/i.test(why)) throw new SplitReaderFatal(`split ${this.split.subject}: ${why}`);
      why ??= this.#restart ?? "its consumer ended";
      this.#restart = undefined;
      this.split.consumerRestarts++;
      this.#o.log(`split ${this.split.subject}: ${why}; recreating its consumer at sequence ${this.split.position + 1}`);
      this.#retire();
    }
  }

  /** Whether the current consumer must be replaced or reading has stopped: its session ends. */
  get interrupted(): boolean {
    return this.#restart !== undefined || this.#stopped;
  }

  /**
   * The checks and counters of one event of the current consumer, before it is handled: returns
   * why the consumer must be replaced (a transit gap), or undefined to handle the event; throws
   * {@link SplitReaderFatal} when a covering split's next event shows removed sequences.
   */
  accept(seq: number, cseq: number, pending: number): string | undefined {
    if (cseq !== this.#handledCseq + 1) {
      this.#transitGaps++;
      return `events lost in transit (consumer sequence ${cseq} after ${this.#handledCseq})`;
    }
    const prevSeq = this.#prevSeq;
    if (seq > prevSeq + 1 && (this.#covering || prevSeq === 0)) {
      // Its first event ever (position 0): what the stream no longer held was never its to read.
      if (prevSeq === 0) this.#verified = Math.max(this.#verified, seq - 1);
      else throw this.#removed(prevSeq + 1, seq - 1, `the split's next event is sequence ${seq}`, true);
    }
    this.#prevSeq = seq;
    if (seq >= this.#probeAt) {
      this.#probeAt = Infinity; // once: the probe sets the next mark
      this.#o.probeSoon?.();
    }
    if (pending > 0) this.#pendingSeen++;
    this.#handledCseq = cseq;
    return undefined;
  }

  /**
   * Creates a consumer at position + 1 and starts pulling; refuses a start past removed events
   * (for a split that does not cover the stream: past its verified position, while it was active).
   */
  async #open(session: ReadSession): Promise<void> {
    const { jsm, nc, stream } = this.#o;
    this.#restart = undefined;
    const start = this.split.position + 1;
    // The job deletes its leftovers of this form at each start (consumer_names.ts, job_streams.ts).
    const name = `${this.#o.namePrefix}_${crypto.randomUUID().slice(0, 6)}`;
    const created = await jsm.consumers.add(stream, {
      name,
      filter_subject: this.split.subject,
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: start,
      inactive_threshold: nanos(this.#o.inactiveThresholdMs),
      mem_storage: true,
      num_replicas: 1,
    });
    // What the old consumer did since the last probe (before its counters are reset).
    const old = this.#activity(undefined);
    this.#consumer = name;
    this.#handledCseq = 0;
    this.#prevSeq = start - 1;
    this.#facts = undefined;
    // Read after the consumer was created: the front it shows had not passed what the consumer starts at.
    const info = await jsm.streams.info(stream);
    this.#covering = coversStream(this.split.subject, info.config.subjects);
    const c = info.config;
    this.#limits = describeLimits(c);
    this.#limited = c.max_age > 0 || c.max_msgs > 0 || c.max_bytes > 0 || (c.max_msgs_per_subject ?? 0) > 0;
    const first = info.state.first_seq;
    const p = this.split.position;
    if (this.#covering) {
      if (purgedPastPosition(p, first)) throw this.#removed(p + 1, first - 1, `it now starts at sequence ${first}`, true);
    } else {
      // What an old consumer delivered past the position is read again: verified no longer.
      if (this.#verified > p) this.#verified = p;
      // The previous consumers passed everything up to the position before this stream info was read.
      const active = splitActivity(this.#atProbe, old).active || created.num_pending > 0;
      const verdict = judgeProbe({ verified: this.#verified, read: p, claim: 0, first, active });
      if (verdict.kind === "lost") throw this.lossOf(verdict, first);
      this.#apply(verdict, { ...this.#activity(created.num_pending), consumer: name, handledCseq: 0 });
    }
    if (this.#restart !== undefined || this.#stopped) return session.end(undefined);
    this.#pull = session.pull = new PullSession({
      nc, stream, consumer: name, batch: this.#o.pullBatch, heartbeatMs: this.#o.heartbeatMs,
      expiresMs: Math.max(1000, this.#o.heartbeatMs * 5),
      onMessage: (m) => session.deliver(m),
      onEnd: (why) => session.end(why),
    });
  }

  /**
   * Part 1 of a probe: the consumer's info, when it delivered nothing since the last probe (an
   * idle consumer is at the stream's end, where the server counts its pending events cheaply; for
   * a busy one, far behind on a big stream, that count can take the server a while, and the
   * events it handles are evidence enough). Never throws: without it the probe judges with what it has.
   */
  async probeConsumer(jsm: JetStreamManager): Promise<void> {
    this.#facts = undefined;
    const consumer = this.#consumer;
    if (this.#covering || consumer === undefined || this.#stopped) return;
    if (consumer !== this.#atProbe.consumer || this.#handledCseq !== this.#atProbe.handledCseq) return;
    try {
      const ci = await jsm.consumers.info(this.#o.stream, consumer);
      if (consumer !== this.#consumer) return; // replaced meanwhile
      const facts = { numPending: ci.num_pending, deliveredCseq: ci.delivered.consumer_seq, deliveredSseq: ci.delivered.stream_seq };
      this.#facts = { consumer, facts, handledCseq: this.#handledCseq };
    } catch {
      // judged without it
    }
  }

  /**
   * Part 2, just before the stream's info is requested: what was passed so far (the position, or
   * an idle consumer's read position, which it passed without an event), this probe's idle claim (from the consumer info and `lastBefore`, the stream's last sequence read before
   * it), and whether the split was active since the last probe.
   */
  probeRead(lastBefore: number): ProbeRead {
    const f = this.#facts?.consumer === this.#consumer ? this.#facts : undefined;
    this.#facts = undefined;
    const { active, numPending } = splitActivity(this.#atProbe, this.#activity(f?.facts.numPending));
    return {
      passed: Math.max(this.split.position, f?.facts.deliveredSseq ?? 0),
      claim: f ? idleClaim(f.facts, f.handledCseq, lastBefore) : 0,
      active,
      activity: this.#activity(numPending),
      asked: f !== undefined,
    };
  }

  /**
   * The current consumer's pending count, asked now (undefined: no consumer, or no answer). For a
   * split the front passed that showed no unread events at the probe's read: events delivered
   * before the front moved (say, into the socket of a frozen process) said nothing was pending,
   * but the consumer may have stopped delivering since, with its split's events then removed.
   */
  async backlogNow(jsm: JetStreamManager): Promise<number | undefined> {
    const consumer = this.#consumer;
    if (consumer === undefined) return undefined;
    return jsm.consumers.info(this.#o.stream, consumer).then((ci) => ci.num_pending, () => undefined);
  }

  /**
   * Part 3, with the stream's first sequence read after part 2: moves the verified position (and
   * an idle split's position, to its claim), or returns the loss (`lost`: the caller fails).
   * `stride` (./front_guard.ts probeStride) sets how far reading may go before it asks for the next probe.
   */
  probeJudge(read: ProbeRead, first: number, stride: number): ProbeVerdict | undefined {
    if (this.#covering || this.#stopped) return undefined;
    const verdict = judgeProbe({ verified: this.#verified, read: read.passed, claim: read.claim, first, active: read.active });
    if (verdict.kind !== "lost") {
      this.#apply(verdict, read.activity);
      // No event of the split lies between its last one and the claim, and any event handled
      // since is later than the claim: the position may move up to it.
      if (this.#limited && read.claim > this.split.position) {
        this.split.position = read.claim;
        if (read.claim > this.split.delivered) this.split.delivered = read.claim;
      }
      this.#probeAt = this.split.position + stride;
    }
    return verdict;
  }

  /**
   * At a barrier: the split's position if it is past its verified one, for the checkpoint to
   * verify before it commits (src/attempt.ts); undefined when there is nothing to verify.
   */
  unverified(): UnverifiedSplit | undefined {
    const position = this.split.position;
    if (this.#covering || position <= this.#verified) return undefined;
    const { active } = splitActivity(this.#atProbe, this.#activity(undefined));
    return { split: this.split.subject, verified: this.#verified, position, active, limits: this.#limits, consumer: this.#consumer, limited: this.#limited };
  }

  /** A checkpoint verified the split up to `position` (see {@link unverified}). */
  markVerified(position: number): void {
    if (position > this.#verified) this.#verified = position;
  }

  /** The failure for `verdict` (a loss) found by a probe. */
  lossOf(verdict: ProbeVerdict & { kind: "lost" }, first: number): SplitReaderFatal {
    return this.#removed(verdict.from, verdict.to, `it now starts at sequence ${first}`, false);
  }

  /** The counters now, with the consumer's pending count if known. */
  #activity(numPending: number | undefined): SplitActivity {
    return { pendingSeen: this.#pendingSeen, transitGaps: this.#transitGaps, consumer: this.#consumer, handledCseq: this.#handledCseq, numPending };
  }

  /** Applies a verdict that is not a loss (of the open or of a probe); `activity` becomes the baseline. */
  #apply(verdict: ProbeVerdict & { verified: number }, activity: SplitActivity): void {
    if (verdict.verified > this.#verified) this.#verified = verdict.verified;
    this.#atProbe = activity;
  }

  #removed(from: number, to: number, where: string, exact: boolean): SplitReaderFatal {
    return new SplitReaderFatal(removedReason({ stream: this.#o.stream, split: this.split.subject, from, to, where, limits: this.#limits, exact }));
  }

  /** Lets go of the current consumer without waiting: what it still buffers is re-read from position + 1. */
  #retire(): void {
    this.#pull?.end(undefined);
    this.#pull = undefined;
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

/**
 * The events of one consumer of a {@link SplitReader}, in order, from the client's callback: the
 * continuity check (each consumer sequence the previous one + 1), then the handler. While the
 * handler's promise (backpressure) is pending, arriving events wait here in order; the session
 * ends — `ended` resolves with why, or undefined — on a gap, a failed handler, the consumer's
 * end, or once the reader is interrupted (restart or stop).
 */
class ReadSession {
  #reader: SplitReader;
  #handle: SplitHandler;
  #ack: AckSubjectParser;
  #queue: Msg[] = [];
  /** Its consumer's pull, told of every message handled (or dropped). */
  pull: PullSession | undefined;
  #head = 0;
  #waiting = false;
  #done = false;
  #ended = Promise.withResolvers<string | undefined>();
  /** The handler's pending promise (backpressure), if any. */
  #wait: Promise<unknown> = Promise.resolve();

  constructor(reader: SplitReader, handle: SplitHandler, ack: AckSubjectParser) {
    this.#reader = reader;
    this.#handle = handle;
    this.#ack = ack;
  }

  /** Set when the session ended on a failure no new consumer can fix. */
  fatal: SplitReaderFatal | undefined;

  get ended(): Promise<string | undefined> {
    return this.#ended.promise;
  }

  /** Resolves once no handler promise is pending. */
  get settled(): Promise<unknown> {
    return this.#wait;
  }

  end(why: string | undefined): void {
    if (this.#done) return;
    this.#done = true;
    this.#queue = [];
    this.pull?.end(why);
    this.#ended.resolve(why);
  }

  deliver(m: Msg): void {
    if (this.#done) return;
    if (this.#waiting) this.#queue.push(m);
    else this.#process(m);
  }

  #process(m: Msg): void {
    if (this.#reader.interrupted) return this.end(undefined);
    const ack = this.#ack;
    let wait: void | Promise<void>;
    try {
      this.pull?.handled(); // may publish the next pull request: throws on a closed connection
      if (!ack.parse(m.reply ?? "")) return this.end(`a message with an unknown reply subject ${JSON.stringify(m.reply)}`);
      const { seq, cseq, pending } = ack;
      const gap = this.#reader.accept(seq, cseq, pending);
      if (gap !== undefined) return this.end(gap);
      wait = this.#handle(m, seq, pending);
    } catch (err) {
      if (err instanceof SplitReaderFatal) this.fatal = err;
      return this.end((err as Error).message);
    }
    // Kept even if the reader was interrupted meanwhile: the next consumer waits for it (`settled`).
    if (wait !== undefined) {
      this.#waiting = true;
      this.#wait = wait.then(() => this.#drain(), (err: Error) => this.end(err.message));
    }
    if (this.#reader.interrupted) return this.end(undefined);
  }

  #drain(): void {
    this.#waiting = false;
    const q = this.#queue;
    while (!this.#done && !this.#waiting && this.#head < q.length) this.#process(q[this.#head++]);
    if (this.#head === q.length) {
      q.length = 0;
      this.#head = 0;
    }
  }
}
