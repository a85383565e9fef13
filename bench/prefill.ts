/**
 * @module
 * Fills a stream with `n` page views of ~50 bytes over four splits (`<prefix>.0..3`) and `keys`
 * distinct keys, by core publish into the stream (the fastest ingest), and waits until stored.
 */
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";

/** The four split subjects of `prefix`. */
export const splits = (prefix: string) => [0, 1, 2, 3].map((i) => `${prefix}.${i}`);

/** Deletes and recreates `stream` on `<prefix>.>` holding exactly `n` events. */
export async function prefill(url: string, stream: string, prefix: string, n: number, keys: number): Promise<void> {
  const nc = await connect({ servers: url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(stream).catch(() => {});
  await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`] });
  const enc = new TextEncoder();
  const subjects = splits(prefix);
  for (let i = 0; i < n; i++) {
    // Keys spread by a multiplicative hash so every split sees every key.
    const k = (Math.imul(i, 2654435761) >>> 0) % keys;
    nc.publish(subjects[i & 3], enc.encode(`{"site":"s${k}","user":"u${i % 9973}","ts":${1_700_000_000_000 + i}}`));
    if ((i & 4095) === 4095) await nc.flush();
  }
  await nc.flush();
  for (;;) {
    const { state } = await jsm.streams.info(stream);
    if (state.messages >= n) break;
    await Bun.sleep(100);
  }
  await nc.close();
}
