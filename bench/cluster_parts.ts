/**
 * @module
 * Parts of the cluster benchmarks: an instance's environment, the committed state read straight
 * from the shared libSQL server (every split's position and lease epoch, the sum of the counts),
 * a paced publisher for the live scenarios, and per-split commit gaps from polled samples.
 */
import { createClient, type Client } from "@libsql/client";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { attemptFence } from "../src/cluster/fence_token.ts";

/** The splits of every cluster scenario: six, so 1, 2 and 3 instances each own an equal share. */
export const SPLIT_COUNT = 6;

/** Environment of one pvflow instance; `cluster` undefined: single-instance mode. Defaults otherwise. */
export function instanceEnv(o: {
  natsUrls: string; dbUrl: string; subjects: string[]; cluster?: string; id?: string; stream?: string;
}): Record<string, string> {
  return {
    NATS_URL: o.natsUrls, PVFLOW_STREAM: o.stream ?? "PV", PVFLOW_SUBJECTS: o.subjects.join(","), PVFLOW_DB_URL: o.dbUrl,
    PVFLOW_CREATE_STREAM: "false",
    ...(o.cluster ? { PVFLOW_CLUSTER: o.cluster, PVFLOW_INSTANCE_ID: o.id ?? "a" } : {}),
  };
}

/** One split's committed row: its position and the lease epoch of the instance that wrote it. */
export interface SplitRow { seq: number; epoch: number | null }

/** A fencing token's lease epoch (tokens are epoch, then the attempt number: see `attemptFence`). */
const TOKENS_PER_EPOCH = attemptFence({ s: 1 }, 0).s;
export const leaseEpochOf = (token: number): number => Math.floor(token / TOKENS_PER_EPOCH);

/** The committed state in the shared database (what every instance's `/counts` answers from). */
export class Committed {
  readonly #db: Client;
  constructor(url: string, private readonly stream = "PV") {
    this.#db = createClient({ url });
  }

  /** Every split's committed position and lease epoch (from its fencing token; none before the first claim). */
  async positions(): Promise<Map<string, SplitRow>> {
    const rs = await this.#db.execute({ sql: "SELECT subject, seq, epoch FROM positions WHERE stream = ?", args: [this.stream] })
      .catch((e: Error) => (/no such table/.test(e.message) ? { rows: [] } : Promise.reject(e)));
    return new Map(rs.rows.map((r) => [String(r[0]), { seq: Number(r[1]), epoch: r[2] === null ? null : leaseEpochOf(Number(r[2])) }]));
  }

  /** `SELECT sum(count) FROM counts` (0 before the schema exists). */
  async total(): Promise<number> {
    const rs = await this.#db.execute("SELECT coalesce(sum(count), 0) FROM counts")
      .catch((e: Error) => (/no such table/.test(e.message) ? { rows: [[0]] } : Promise.reject(e)));
    return Number(rs.rows[0][0]);
  }

  close(): void {
    this.#db.close();
  }
}

/** Samples of every split's committed position over time, for commit gaps. */
export class PositionSamples {
  readonly samples: { at: number; rows: Map<string, SplitRow> }[] = [];

  add(at: number, rows: Map<string, SplitRow>): void {
    this.samples.push({ at, rows });
  }

  /**
   * The longest time `split`'s committed position stood still in a stretch that overlaps
   * [from, to] (a stretch begun before `from` counts whole; one running past `to` ends there).
   */
  maxGap(split: string, from: number, to: number): number {
    let lastMove: number | undefined;
    let prev: number | undefined;
    let gap = 0;
    for (const s of this.samples) {
      const seq = s.rows.get(split)?.seq;
      if (seq === undefined) continue;
      if (prev === undefined || seq !== prev) {
        if (lastMove !== undefined && s.at > from) gap = Math.max(gap, Math.min(s.at, to) - lastMove);
        lastMove = s.at;
      }
      prev = seq;
      if (s.at >= to) break;
    }
    return lastMove === undefined ? NaN : Math.max(gap, to - lastMove);
  }
}

/** Deletes and recreates `stream` on `<prefix>.>` as an R3 stream (the 3-node cluster's). */
export async function createStream(natsUrls: string, stream: string, prefix: string): Promise<void> {
  const nc = await connect({ servers: natsUrls.split(",") });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(stream).catch(() => {});
  await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`], num_replicas: 3 });
  await nc.close();
}

/** A paced publisher: see {@link startPublisher}. */
export interface Publisher {
  /** Events stored so far (acknowledged by the stream). */
  readonly published: number;
  stop(): Promise<void>;
}

/** Publishes about `ratePerSec` events (JetStream-acknowledged, 1000 keys) to `subjects` round-robin until stopped. */
export async function startPublisher(natsUrls: string, subjects: string[], ratePerSec: number): Promise<Publisher> {
  const nc = await connect({ servers: natsUrls.split(",") });
  const js = jetstream(nc);
  const enc = new TextEncoder();
  let stop = false;
  let published = 0;
  const tickMs = 50;
  const perTick = Math.max(1, Math.round((ratePerSec * tickMs) / 1000));
  const running = (async () => {
    const t0 = performance.now();
    for (let tick = 1; !stop; tick++) {
      const batch = [];
      for (let k = 0; k < perTick; k++) {
        const i = published + k;
        batch.push(js.publish(subjects[i % subjects.length], enc.encode(`{"site":"s${i % 1000}","user":"u${i}","ts":${Date.now()}}`),
          { msgID: `l${i}`, timeout: 10_000 }));
      }
      await Promise.all(batch);
      published += perTick;
      await Bun.sleep(Math.max(0, t0 + tick * tickMs - performance.now()));
    }
  })();
  return {
    get published() {
      return published;
    },
    async stop() {
      stop = true;
      await running;
      await nc.close();
    },
  };
}

/** Polls `check` every `everyMs` until true; throws with `what` after `timeoutMs`. */
export async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string, everyMs = 20): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(everyMs);
  }
}
