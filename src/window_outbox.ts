/**
 * @module
 * Publishes committed window results from the `window_outbox` table to `PVFLOW_OUTPUT_SUBJECT`,
 * after the checkpoint that holds them committed: each as JSON `{key, windowStart, windowEnd,
 * count, revision}` with the deterministic `Nats-Msg-Id` `<stream>:<key>:<windowStart>:<revision>`,
 * and its row deleted only once JetStream has stored it. After a crash the rows still there are
 * published again at the next start (JetStream drops a repeat within its duplicate window), so each
 * result is stored once. Without an output subject the rows are just deleted.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { CheckpointStore, StoredWindow } from "./checkpoint/store.ts";

/** Rows read and published per round. */
const ROUND = 1000;

/** The message id of one result: the same whoever publishes it, however often. */
export function windowMsgId(stream: string, r: { key: string; windowStart: number; revision: number }): string {
  return `${stream}:${r.key}:${r.windowStart}:${r.revision}`;
}

/** The payload of one result. */
export function windowPayload(r: StoredWindow): string {
  return JSON.stringify({ key: r.key, windowStart: r.windowStart, windowEnd: r.windowEnd, count: r.count, revision: r.revision });
}

/** Drains the outbox, one drain at a time; `kick` after every commit. */
export class WindowOutbox {
  #store: CheckpointStore;
  #stream: string;
  #subject: string | undefined;
  #log: (line: string) => void;
  #running = false;
  #again = false;
  #drained: Array<() => void> = [];
  /** Results published (stored by JetStream) by this process. */
  published = 0;

  constructor(o: { store: CheckpointStore; stream: string; subject?: string; log(line: string): void }) {
    this.#store = o.store;
    this.#stream = o.stream;
    this.#subject = o.subject;
    this.#log = o.log;
  }

  /** Starts a drain over `nc` (or marks one to follow the running one). */
  kick(nc: NatsConnection | undefined): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    this.#drain(nc).catch((err) => this.#log(`publishing window results: ${(err as Error).message}; retried after the next checkpoint`))
      .finally(() => {
        this.#running = false;
        if (this.#again) {
          this.#again = false;
          this.kick(nc);
        } else {
          for (const resolve of this.#drained.splice(0)) resolve();
        }
      });
  }

  /** Resolves once no drain runs or is due (a graceful stop publishes the final checkpoint's results). */
  idle(): Promise<void> {
    if (!this.#running) return Promise.resolve();
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  async #drain(nc: NatsConnection | undefined): Promise<void> {
    const subject = this.#subject;
    const stored = subject !== undefined && nc !== undefined
      ? await (await jetstreamManager(nc)).streams.find(subject).then(() => true, () => false)
      : false;
    const js = nc && jetstream(nc);
    for (;;) {
      const rows = await this.#store.readOutbox(ROUND);
      if (rows.length === 0) return;
      if (subject !== undefined) {
        if (nc === undefined) throw new Error("not connected to NATS");
        if (stored) {
          await Promise.all(rows.map((r) => js!.publish(subject, windowPayload(r), { msgID: windowMsgId(this.#stream, r) })));
        } else {
          const { headers } = await import("@nats-io/nats-core");
          for (const r of rows) {
            const h = headers();
            h.set("Nats-Msg-Id", windowMsgId(this.#stream, r));
            nc.publish(subject, windowPayload(r), { headers: h });
          }
          await nc.flush();
        }
        this.published += rows.length;
      }
      await this.#store.deleteFromOutbox(rows);
    }
  }
}
