/**
 * @module
 * Every lease write a cluster's KV bucket stores, as it is stored: an ordered consumer on the
 * bucket's stream (`KV_pvflow_<cluster>`, subjects `$KV.<bucket>.splits.<split>`), so writes the
 * server refused (a failed renew or release) never show. Each entry has the server's timestamp:
 * an expiry stores nothing, so a release marker proves a lease was given up, not left to expire.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { DeliverPolicy, jetstream, type ConsumerMessages } from "@nats-io/jetstream";
import { decodeKeyToken } from "../../src/cluster/kv_key.ts";

/** One stored lease write. */
export interface LeaseWrite {
  split: string;
  seq: number;
  /** The server's timestamp, epoch ms. */
  at: number;
  /** An acquire or renew (with its owner), or a release marker. */
  op: "put" | "release";
  owner?: string;
}

/** See the module doc; `await using` stops it. */
export class LeaseLog implements AsyncDisposable {
  readonly writes: LeaseWrite[] = [];
  #messages: ConsumerMessages | undefined;
  #done: Promise<void> = Promise.resolve();

  private constructor(readonly bucket: string) {}

  /** Starts recording the writes stored from now on. */
  static async start(nc: NatsConnection, bucket: string): Promise<LeaseLog> {
    const log = new LeaseLog(bucket);
    const prefix = `$KV.${bucket}.splits.`;
    const consumer = await jetstream(nc).consumers.get(`KV_${bucket}`, { filter_subjects: `${prefix}>`, deliver_policy: DeliverPolicy.New });
    log.#messages = await consumer.consume();
    log.#done = (async () => {
      for await (const m of log.#messages!) {
        const release = m.headers?.get("KV-Operation") === "DEL";
        log.writes.push({
          split: decodeKeyToken(m.subject.slice(prefix.length)), seq: m.seq, at: Math.floor(Number(m.info.timestampNanos) / 1e6),
          op: release ? "release" : "put", owner: release ? undefined : m.json<{ owner: string }>().owner,
        });
      }
    })();
    return log;
  }

  /** The writes of `split`, in stream order. */
  of(split: string): LeaseWrite[] {
    return this.writes.filter((w) => w.split === split);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#messages?.close();
    await this.#done.catch(() => {});
  }
}
