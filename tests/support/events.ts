/**
 * @module
 * Deterministic page-view traffic with known per-key counts, published to JetStream with a
 * window of outstanding acks (every event is stored before the publisher reports it).
 */
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

/** The subjects of the four test splits. */
export const SPLITS = ["pv.0", "pv.1", "pv.2", "pv.3"];

/** Connects and creates stream `name` on `pv.>` (if missing). */
export async function openStream(url: string, name = "PV"): Promise<{ nc: NatsConnection; js: JetStreamClient }> {
  const nc = await connect({ servers: url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name, subjects: ["pv.>"] }).catch(async (err) => {
    if (!/already in use/i.test((err as Error).message)) throw err;
  });
  return { nc, js: jetstream(nc) };
}

/** The `i`-th event of a run: its split and payload; keys are skewed so counts differ. */
export function event(i: number, keys: number, seed = 1): { subject: string; key: string; data: string } {
  const k = (Math.imul(i + seed, 2654435761) >>> 0) % keys;
  const key = `site${k % 3 === 0 ? k % 7 : k}`;
  return { subject: SPLITS[i % SPLITS.length], key, data: JSON.stringify({ site: key, user: `u${i}`, ts: 1_700_000_000_000 + i }) };
}

/** Publishes events `from` ≤ i < `to`, adding each key to `expected`. */
export async function publishRange(
  js: JetStreamClient,
  from: number,
  to: number,
  expected: Map<string, number>,
  opts: { keys?: number; window?: number } = {},
): Promise<void> {
  const keys = opts.keys ?? 100;
  const window = opts.window ?? 500;
  let inflight: Promise<unknown>[] = [];
  for (let i = from; i < to; i++) {
    const e = event(i, keys);
    inflight.push(js.publish(e.subject, e.data));
    expected.set(e.key, (expected.get(e.key) ?? 0) + 1);
    if (inflight.length >= window) {
      await Promise.all(inflight);
      inflight = [];
    }
  }
  await Promise.all(inflight);
}

/** Sum of all counts. */
export function total(counts: Map<string, number> | Record<string, number>): number {
  let n = 0;
  for (const v of counts instanceof Map ? counts.values() : Object.values(counts)) n += v;
  return n;
}
