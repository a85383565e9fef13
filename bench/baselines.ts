/**
 * @module
 * What pvflow is measured against, each reading the same prefilled stream in this process:
 * - `ceiling`: raw JetStream consume, `ack_policy: none`, nothing else;
 * - `naive`: what a user writes without pvflow: parse, upsert the key's count per event with the
 *   project's own database client (`@libsql/client`, a file in WAL mode), ack per event;
 *   `naive_bun_sqlite` is the same loop on Bun's built-in SQLite, the fastest local driver;
 * - `rival`: the simplest correct exactly-once design: one thread, a no-ack consumer per split,
 *   counts in a Map, counts + positions committed every interval in one SQLite transaction.
 */
import { Database } from "bun:sqlite";
import { createClient } from "@libsql/client";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";

async function pullConsumer(url: string, stream: string, ack: AckPolicy, filter?: string) {
  const nc = await connect({ servers: url });
  const jsm = await jetstreamManager(nc);
  const name = `bench_${crypto.randomUUID().slice(0, 8)}`;
  await jsm.consumers.add(stream, {
    name, ack_policy: ack, deliver_policy: DeliverPolicy.All, filter_subject: filter,
    max_ack_pending: ack === AckPolicy.None ? undefined : 20_000,
  });
  const consumer = await jetstream(nc).consumers.get(stream, name);
  return { nc, consumer, done: async () => { await jsm.consumers.delete(stream, name).catch(() => {}); await nc.close(); } };
}

/** Raw consume of `n` events; events/s. */
export async function ceiling(url: string, stream: string, n: number): Promise<number> {
  const { consumer, done } = await pullConsumer(url, stream, AckPolicy.None);
  const t0 = performance.now();
  let i = 0;
  for await (const _m of await consumer.consume({ max_messages: 4096 })) if (++i >= n) break;
  const rate = (n / (performance.now() - t0)) * 1000;
  await done();
  return rate;
}

/** Naive per-event upsert + ack of the first `n` events, with `@libsql/client` or `bun:sqlite`; events/s. */
export async function naive(url: string, stream: string, n: number, dbFile: string, driver: "libsql" | "bun"): Promise<number> {
  let upsert: (key: string) => unknown;
  let close: () => void;
  const sql = "INSERT INTO counts (key, count) VALUES (?, 1) ON CONFLICT (key) DO UPDATE SET count = count + 1";
  const schema = "CREATE TABLE IF NOT EXISTS counts (key TEXT PRIMARY KEY, count INTEGER NOT NULL)";
  if (driver === "libsql") {
    const db = createClient({ url: `file:${dbFile}` });
    await db.execute("PRAGMA journal_mode = WAL");
    await db.execute("PRAGMA synchronous = NORMAL");
    await db.execute(schema);
    upsert = (key) => db.execute({ sql, args: [key] });
    close = () => db.close();
  } else {
    const db = new Database(dbFile);
    db.run("PRAGMA journal_mode = WAL");
    db.run("PRAGMA synchronous = NORMAL");
    db.run(schema);
    const stmt = db.prepare(sql);
    upsert = (key) => stmt.run(key);
    close = () => db.close();
  }
  const { consumer, done } = await pullConsumer(url, stream, AckPolicy.Explicit);
  const t0 = performance.now();
  let i = 0;
  for await (const m of await consumer.consume({ max_messages: 1000 })) {
    await upsert(m.json<{ site: string }>().site);
    m.ack();
    if (++i >= n) break;
  }
  const rate = (n / (performance.now() - t0)) * 1000;
  await done();
  close();
  return rate;
}

/** The one-thread rival over four splits, committing every `intervalMs`; events/s until all committed. */
export async function rival(url: string, stream: string, prefix: string, n: number, dbFile: string, intervalMs: number): Promise<number> {
  const db = new Database(dbFile);
  db.run("PRAGMA journal_mode = WAL");
  db.run("PRAGMA synchronous = NORMAL");
  db.run("CREATE TABLE IF NOT EXISTS counts (key TEXT PRIMARY KEY, count INTEGER NOT NULL)");
  db.run("CREATE TABLE IF NOT EXISTS positions (split TEXT PRIMARY KEY, seq INTEGER NOT NULL)");
  const putCount = db.prepare("INSERT INTO counts (key, count) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET count = excluded.count");
  const putPos = db.prepare("INSERT INTO positions (split, seq) VALUES (?, ?) ON CONFLICT (split) DO UPDATE SET seq = excluded.seq");
  const counts = new Map<string, number>();
  let changed = new Set<string>();
  const positions = new Map<string, number>();
  const commit = db.transaction(() => {
    for (const k of changed) putCount.run(k, counts.get(k)!);
    for (const [s, seq] of positions) putPos.run(s, seq);
  });
  const consumers = await Promise.all([0, 1, 2, 3].map((i) => pullConsumer(url, stream, AckPolicy.None, `${prefix}.${i}`)));
  const dec = new TextDecoder();
  let seen = 0;
  let finished!: () => void;
  const all = new Promise<void>((r) => (finished = r));
  const t0 = performance.now();
  const timer = setInterval(() => { commit(); changed = new Set(); }, intervalMs);
  // One loop per split, all on this thread; the others stay parked when the last event arrives.
  consumers.forEach(async ({ consumer }, i) => {
    const split = `${prefix}.${i}`;
    for await (const m of await consumer.consume({ max_messages: 4096 })) {
      const key = (JSON.parse(dec.decode(m.data)) as { site: string }).site;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      changed.add(key);
      positions.set(split, m.seq);
      if (++seen >= n) {
        finished();
        break;
      }
    }
  });
  await all;
  clearInterval(timer);
  commit();
  const rate = (n / (performance.now() - t0)) * 1000;
  for (const c of consumers) await c.done();
  db.close();
  return rate;
}
