/**
 * @module
 * The job's JetStream administration over its management connection: create the stream (and a
 * dead-letter stream) when missing, refuse positions that cannot belong to the stream, and
 * answer the status server's stream questions from a one-second cache.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager, type StreamInfo } from "@nats-io/jetstream";
import type { Config } from "./config.ts";
import type { RestoredCheckpoint } from "./checkpoint/store.ts";

/** A failure that a restart cannot fix (e.g. positions beyond the stream's end). */
export class FatalJobError extends Error {
  override name = "FatalJobError";
}

const CACHE_MS = 1000;

/** Stream creation and cached stream facts for one job. */
export class StreamAdmin {
  #config: Readonly<Config>;
  #log: (line: string) => void;
  #info: { at: number; info: StreamInfo } | undefined;
  #splitLast: { at: number; seqs: Record<string, number> } | undefined;

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
    if (createStream) {
      const captured = await jsm.streams.find(dlqSubject).catch(() => undefined);
      if (!captured) {
        await jsm.streams.add({ name: `${stream}_DLQ`, subjects: [dlqSubject] }).catch((err) => {
          this.#log(`cannot create dead-letter stream ${stream}_DLQ: ${(err as Error).message}`);
        });
      }
    }
    this.#info = { at: Date.now(), info };
    return info;
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
 * Refuses to resume from positions that cannot belong to this stream: beyond its last sequence,
 * or recorded for a stream with another creation time (deleted and recreated).
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
}

/** Whether two NATS subjects (with `*` and `>` wildcards) can match a common subject. */
export function subjectsOverlap(a: string, b: string): boolean {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] === ">" || y[i] === ">") return x[i] !== undefined && y[i] !== undefined;
    if (x[i] === undefined || y[i] === undefined) return false;
    if (x[i] !== y[i] && x[i] !== "*" && y[i] !== "*") return false;
  }
  return true;
}
