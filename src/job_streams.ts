/**
 * @module
 * The job's JetStream administration over its management connection: create the stream (and a
 * dead-letter stream) when missing, refuse splits the stream cannot serve and positions that
 * cannot belong to it (or whose next events are gone), and answer the status server's stream
 * questions from a one-second cache.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager, type JetStreamManager, type StreamInfo } from "@nats-io/jetstream";
import type { Config } from "./config.ts";
import type { RestoredCheckpoint } from "./checkpoint/store.ts";
import { subjectIsSubset, subjectsOverlap } from "./subjects.ts";
import { instanceTag, isOwnConsumer } from "./source/consumer_names.ts";

export { subjectsOverlap };

/** A failure that a restart cannot fix (e.g. positions beyond the stream's end). */
export class FatalJobError extends Error {
  override name = "FatalJobError";
}

/**
 * A configuration found unusable only once NATS answered (e.g. a split outside the stream's
 * subjects). Fatal like {@link FatalJobError}; `message` is one line in the form of a
 * `ConfigError` (`NAME must be ..., got "..."`), which `mod.ts` prints before exiting with code 2.
 */
export class ConfigRefusedError extends FatalJobError {
  override name = "ConfigRefusedError";
}

const CACHE_MS = 1000;
/**
 * How long an attempt start waits for the consumer listing of the leftover cleanup (best effort).
 * While a node of a cluster is down, nats-server 2.9 answers a listing only after waiting 4 s for
 * the consumers placed on that node; the attempt should not wait for it.
 */
const LEFTOVER_LIST_TIMEOUT_MS = 1500;

/** Stream creation and cached stream facts for one job. */
export class StreamAdmin {
  #config: Readonly<Config>;
  #log: (line: string) => void;
  #info: { at: number; info: StreamInfo } | undefined;
  #splitLast: { at: number; seqs: Record<string, number> } | undefined;
  #managerOf: { nc: NatsConnection; jsm: Promise<JetStreamManager> } | undefined;

  constructor(config: Readonly<Config>, log: (line: string) => void) {
    this.#config = config;
    this.#log = log;
  }

  /** The stream's info; creates it (and `<stream>_DLQ` for dead letters) when missing and allowed. */
  async ensureStreams(nc: NatsConnection): Promise<StreamInfo> {
    const jsm = await jetstreamManager(nc);
    const { stream, subjects, createStream, dlqSubject } = this.#config;
    let info: StreamInfo;
    try {
      info = await jsm.streams.info(stream);
    } catch (err) {
      if (!/stream not found/i.test((err as Error).message)) throw err;
      if (!createStream) throw new Error(`stream ${stream} does not exist and PVFLOW_CREATE_STREAM is false`);
      const underPv = subjects.every((s) => s === "pv.>" || s.startsWith("pv."));
      info = await jsm.streams.add({ name: stream, subjects: underPv ? ["pv.>"] : [...subjects] });
      this.#log(`created stream ${stream} (${info.config.subjects?.join(", ")})`);
    }
    checkSplitsInStream(this.#config, info.config.subjects);
    await this.#deleteLeftoverConsumers(await jetstreamManager(nc, { timeout: LEFTOVER_LIST_TIMEOUT_MS }));
    if (createStream) {
      const captured = await jsm.streams.find(dlqSubject).catch(() => undefined);
      if (!captured) {
        // As many replicas as the stream: every attempt reads the dead letters before it starts,
        // so an R1 one on a node that dies would stop every instance until that node is back.
        const replicas = info.config.num_replicas;
        await jsm.streams.add({ name: `${stream}_DLQ`, subjects: [dlqSubject], num_replicas: replicas }).catch((err) => {
          this.#log(`cannot create dead-letter stream ${stream}_DLQ: ${(err as Error).message}`);
        });
      }
    }
    this.#info = { at: Date.now(), info };
    return info;
  }

  /**
   * Deletes the split consumers a killed process (or a torn-down attempt) left behind: they would
   * linger until their inactivity threshold, and nats-server slows under many filtered consumers.
   * Only this process's names are touched (see consumer_names.ts): in cluster mode the other
   * instances' readers are live. Outside it, one database has one writer (fencing), so another
   * live pvflow on this stream is a misconfiguration; if it exists anyway its readers recreate
   * the consumers in place.
   */
  async #deleteLeftoverConsumers(jsm: Awaited<ReturnType<typeof jetstreamManager>>): Promise<void> {
    const { stream } = this.#config;
    const tag = instanceTag(this.#config.cluster?.instanceId);
    const names: string[] = [];
    try {
      for await (const ci of jsm.consumers.list(stream)) if (isOwnConsumer(ci.name, tag)) names.push(ci.name);
    } catch {
      return; // best effort (a timeout included): they expire by themselves
    }
    if (names.length === 0) return;
    // Not awaited: a delete of a consumer on a dead node is answered only by the API timeout (5 s
    // per attempt start after a node kill). The listing above precedes this attempt's readers, so
    // none of their consumers is in it.
    void Promise.all(names.map((n) => jsm.consumers.delete(stream, n).then(() => true, () => false))).then((done) => {
      const n = done.filter(Boolean).length;
      this.#log(`deleted ${n} consumers left behind by an earlier run${n < names.length ? ` (${names.length - n} not answered; they expire by themselves)` : ""}`);
    });
  }

  /** The stream's info, cached for a second; the last known one while `nc` is undefined (no NATS). */
  async streamInfo(nc: NatsConnection | undefined): Promise<StreamInfo | undefined> {
    const c = this.#info;
    if ((c && Date.now() - c.at < CACHE_MS) || !nc) return c?.info;
    try {
      const info = await (await jetstreamManager(nc)).streams.info(this.#config.stream);
      this.#info = { at: Date.now(), info };
      return info;
    } catch {
      return c?.info;
    }
  }

  /**
   * The stream's first sequence, read now (a checkpoint verifies its positions against it, see
   * src/attempt.ts); throws while `nc` is undefined (no NATS) or the read fails.
   */
  async firstSequence(nc: NatsConnection | undefined): Promise<number> {
    if (!nc) throw new Error("NATS is disconnected: cannot read the stream's first sequence");
    const info = await (await this.#jsm(nc)).streams.info(this.#config.stream);
    this.#info = { at: Date.now(), info };
    return info.state.first_seq;
  }

  /** Consumer `name`'s pending count, read now; throws while `nc` is undefined or the read fails. */
  async consumerPending(nc: NatsConnection | undefined, name: string): Promise<number> {
    if (!nc) throw new Error("NATS is disconnected: cannot read a consumer's pending count");
    return (await (await this.#jsm(nc)).consumers.info(this.#config.stream, name)).num_pending;
  }

  /** A manager for `nc`, made once per connection (making one asks the server for the account). */
  #jsm(nc: NatsConnection): Promise<JetStreamManager> {
    if (this.#managerOf?.nc !== nc) this.#managerOf = { nc, jsm: jetstreamManager(nc) };
    const jsm = this.#managerOf.jsm;
    jsm.catch(() => { if (this.#managerOf?.jsm === jsm) this.#managerOf = undefined; });
    return jsm;
  }

  /** Each split's last stream sequence (0: no event yet), cached like {@link streamInfo}. */
  async splitLastSequences(nc: NatsConnection | undefined): Promise<Record<string, number> | undefined> {
    const c = this.#splitLast;
    if ((c && Date.now() - c.at < CACHE_MS) || !nc) return c?.seqs;
    try {
      const jsm = await jetstreamManager(nc);
      const seqs: Record<string, number> = {};
      await Promise.all(this.#config.subjects.map(async (s) => {
        seqs[s] = (await jsm.streams.getMessage(this.#config.stream, { last_by_subj: s }))?.seq ?? 0;
      }));
      this.#splitLast = { at: Date.now(), seqs };
      return seqs;
    } catch {
      return c?.seqs;
    }
  }
}

/**
 * Refuses splits the stream cannot serve: JetStream only accepts a consumer whose filter is a
 * subset of one of the stream's subjects, so such a split would fail on every restart. A stream
 * without subjects of its own (sourced or mirrored) is not checked.
 */
export function checkSplitsInStream(config: Readonly<Config>, streamSubjects: readonly string[] | undefined): void {
  if (!streamSubjects || streamSubjects.length === 0) return;
  for (const split of config.subjects) {
    if (!streamSubjects.some((s) => subjectIsSubset(split, s))) {
      throw new ConfigRefusedError(
        `PVFLOW_SUBJECTS must be subjects within the subjects of stream ${config.stream} (${streamSubjects.join(", ")}), ` +
          `got ${JSON.stringify(split)}`,
      );
    }
  }
}

/**
 * Whether events after `position` are gone from the stream: its first sequence is past
 * `position + 1` (retention limits, a purge). 0 is "nothing read yet", never a gap.
 */
export function purgedPastPosition(position: number, firstSeq: number): boolean {
  return position > 0 && firstSeq > position + 1;
}

/**
 * Refuses to resume from positions that cannot belong to this stream: beyond its last sequence,
 * or recorded for a stream with another creation time (deleted and recreated); and from a
 * position whose next events the stream no longer holds (they would be skipped silently).
 */
export function checkPositions(config: Readonly<Config>, restored: RestoredCheckpoint, info: StreamInfo): void {
  const { positions, streamCreated } = restored;
  for (const split of config.subjects) {
    const pos = positions[split] ?? 0;
    if (pos > info.state.last_seq) {
      throw new FatalJobError(
        `split ${split} resumes after sequence ${pos} but stream ${config.stream} ends at ${info.state.last_seq}: ` +
          "the stream was deleted or recreated; refusing to count from a wrong place (use a new PVFLOW_DB_URL to start over)",
      );
    }
  }
  // Positions are per split: a new split that overlaps an old one would re-read what the old one
  // already counted (e.g. pv.> replaced by pv.0 .. pv.3).
  for (const split of config.subjects) {
    if (split in positions) continue;
    const old = Object.keys(positions).find((o) => positions[o] > 0 && subjectsOverlap(o, split));
    if (old !== undefined) {
      throw new FatalJobError(
        `PVFLOW_SUBJECTS changed: new split ${split} overlaps split ${old} of the checkpoint, whose events are ` +
          `counted up to sequence ${positions[old]}; resuming would count some of them twice. Keep the old splits ` +
          "or start over with a new PVFLOW_DB_URL",
      );
    }
  }
  if (streamCreated !== undefined && streamCreated !== info.created) {
    throw new FatalJobError(
      `stream ${config.stream} was created at ${info.created}, but the checkpointed positions belong to the ` +
        `stream created at ${streamCreated}: it was deleted and recreated; refusing to count from a wrong place ` +
        "(use a new PVFLOW_DB_URL to start over)",
    );
  }
  const firstSeq = info.state.first_seq;
  for (const split of config.subjects) {
    const pos = positions[split] ?? 0;
    if (purgedPastPosition(pos, firstSeq)) {
      throw new FatalJobError(
        `split ${split} resumes after sequence ${pos}, but stream ${config.stream} now starts at sequence ${firstSeq}: ` +
          `events ${pos + 1} to ${firstSeq - 1} were removed (retention limits or a purge) before they were counted; ` +
          "refusing to skip them silently. Put them back (e.g. restore the stream), or start over with a new " +
          "PVFLOW_DB_URL to count what the stream still holds; if the stream's limits remove events faster than " +
          "pvflow reads them, raise them",
      );
    }
  }
}

