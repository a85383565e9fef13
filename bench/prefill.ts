/**
 * @module
 * Fills a stream with `n` page views of ~50 bytes over the splits `<prefix>.0..k-1` (four by
 * default) and `keys` distinct keys, and waits until stored. On one server: core publish (the
 * fastest ingest). On a replicated stream: acknowledged publishes in windows, because core
 * publishes routed to the stream leader of a cluster can be dropped under load (a route falling
 * behind) and the fill would never complete.
 */
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";

/** The split subjects of `prefix`: `<prefix>.0 … <prefix>.<count-1>`. */
export const splits = (prefix: string, count = 4) => Array.from({ length: count }, (_, i) => `${prefix}.${i}`);

/** Options of {@link prefill}. */
export interface PrefillOptions {
  /** Number of splits. @default 4 */
  splits?: number;
  /** Replicas of the stream (3 on a 3-node cluster). @default 1 */
  replicas?: number;
}

/** The `i`-th page view: keys spread by a multiplicative hash so every split sees every key. */
export function payload(i: number, keys: number): string {
  const k = (Math.imul(i, 2654435761) >>> 0) % keys;
  return `{"site":"s${k}","user":"u${i % 9973}","ts":${1_700_000_000_000 + i}}`;
}

/** Deletes and recreates `stream` on `<prefix>.>` holding exactly `n` events. `url` may list several servers (comma-separated). */
export async function prefill(url: string, stream: string, prefix: string, n: number, keys: number, o: PrefillOptions = {}): Promise<void> {
  const nc = await connect({ servers: url.split(",") });
  const jsm = await jetstreamManager(nc);
  const replicas = o.replicas ?? 1;
  await jsm.streams.delete(stream).catch(() => {});
  await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`], num_replicas: replicas });
  const enc = new TextEncoder();
  const subjects = splits(prefix, o.splits);
  const k = subjects.length;
  if (replicas === 1) {
    for (let i = 0; i < n; i++) {
      nc.publish(subjects[i % k], enc.encode(payload(i, keys)));
      if ((i & 4095) === 4095) await nc.flush();
    }
    await nc.flush();
  } else {
    const js = jetstream(nc);
    const WINDOW = 2000;
    for (let from = 0; from < n; from += WINDOW) {
      const batch = [];
      for (let i = from; i < Math.min(n, from + WINDOW); i++) {
        batch.push(js.publish(subjects[i % k], enc.encode(payload(i, keys)), { msgID: `p${i}`, timeout: 10_000 }));
      }
      await Promise.all(batch);
    }
  }
  for (;;) {
    const { state } = await jsm.streams.info(stream);
    if (state.messages >= n) break;
    await Bun.sleep(100);
  }
  await nc.close();
}
