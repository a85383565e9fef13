/**
 * @module
 * Recovery time: a checkpoint store holding `keys` keys at the stream's end (nothing left to
 * read), then the time from process start until `/readyz` answers 200.
 */
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { CheckpointStore } from "../src/checkpoint/store.ts";
import { PvflowProcess } from "../tests/support/pvflow_process.ts";
import { splits } from "./prefill.ts";

/** Writes checkpoint 1 with `keys` counts and every split at its last sequence. */
async function prepare(natsUrl: string, stream: string, keys: number, dbFile: string): Promise<Record<string, number>> {
  const nc = await connect({ servers: natsUrl });
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  const positions: Record<string, number> = {};
  for (const s of splits("pv")) positions[s] = (await jsm.streams.getMessage(stream, { last_by_subj: s }))!.seq;
  await nc.close();
  const store = await CheckpointStore.open({ url: `file:${dbFile}`, stream });
  const ks = Array.from({ length: keys }, (_, i) => `s${i}`);
  const counts = ks.map((_, i) => (i % 97) + 1);
  await store.commit({
    record: { id: 1, status: "COMPLETED", triggerTime: Date.now(), subtasks: [] },
    positions, keys: ks, counts,
  }, info.created);
  store.close();
  return positions;
}

/** Milliseconds from spawning pvflow to ready, restoring `keys` keys. */
export async function recoveryTime(binary: string, natsUrl: string, stream: string, keys: number, dbFile: string): Promise<number> {
  await prepare(natsUrl, stream, keys, dbFile);
  const t0 = performance.now();
  await using pv = await PvflowProcess.start({
    binary,
    env: {
      NATS_URL: natsUrl, PVFLOW_STREAM: stream, PVFLOW_SUBJECTS: splits("pv").join(","),
      PVFLOW_DB_URL: `file:${dbFile}`, PVFLOW_CREATE_STREAM: "false", PVFLOW_PARALLELISM: "2",
    },
  });
  // Poll tightly: this is the figure being measured.
  while ((await fetch(pv.url + "/readyz").catch(() => undefined))?.status !== 200) await Bun.sleep(5);
  const ms = performance.now() - t0;
  // Sanity: the count subtasks hold every key (they report every 500 ms).
  let held = 0;
  for (let i = 0; i < 100 && held !== keys; i++, await Bun.sleep(50)) held = (await pv.json("/status")).body.keys;
  if (held !== keys) throw new Error(`restored ${held} keys, expected ${keys}`);
  await pv.kill("SIGTERM");
  return ms;
}
