/**
 * Hostile keys end to end, with the binary and a real nats-server: keys that are object-prototype
 * names, emoji, combining marks, control characters, URL-special and 1 KiB keys are counted
 * exactly — over HTTP (paged `/counts`, `/counts/<key>`) and in SQL — across several `kill -9`
 * restores while events arrive; keys that cannot be stored exactly (NUL, lone surrogates) are in
 * the dead-letter stream once each with their reason. Progress after the last restore must come
 * well within the consumers' 30 s inactivity threshold (a stalled source would only resume once
 * its consumer was deleted).
 */
import { expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { ensureBinary } from "./support/binary.ts";
import { committedCounts } from "./support/committed.ts";
import { allCounts } from "./support/counts.ts";
import { openStream, publishRange, SPLITS, total } from "./support/events.ts";
import { expectedReason } from "./support/hostile_keys.ts";
import { NatsServer } from "./support/nats_server.ts";
import { PvflowProcess, waitFor } from "./support/pvflow_process.ts";

const GOOD = [
  "__proto__", "constructor", "toString", "hasOwnProperty", "😀", "👩‍👩‍👧", "e\u0301", "\u0301x", "\u0001ctl", "\u007f",
  "tab\tkey", "line\u2028sep", "a/b", "%2F", "%25", "%00", "x\ufffd", "a b?c#d&e=f+g", "\ufeffbom", "k".repeat(1024),
  "é".repeat(512), "😀".repeat(256),
];
const BAD = ["a\u0000b", "a\u0000c", "\u0000", "x\ud800", "x\udc00", "\udc00\ud800", "\ud83d"];
const CHUNKS = 12;

test("hostile keys - counted exactly over HTTP and SQL across kill -9 restores; unstorable ones dead-lettered once with their reason", async () => {
  for (const k of GOOD) expect(expectedReason(k)).toBeUndefined();
  for (const k of BAD) expect(expectedReason(k)).toBeDefined();
  const binary = await ensureBinary();
  const dir = await mkdtemp(join(tmpdir(), "pvflow-hostile-"));
  await using nats = await NatsServer.start();
  const { nc, js } = await openStream(nats.url);
  const db = join(dir, "pv.db");
  const env = {
    NATS_URL: nats.url, PVFLOW_SUBJECTS: SPLITS.join(","), PVFLOW_PARALLELISM: "2", PVFLOW_SOURCE_PARALLELISM: "2",
    PVFLOW_CHECKPOINT_INTERVAL_MS: "100", PVFLOW_DB_URL: `file:${db}`,
  };
  const expected = new Map<string, number>();
  const dead = new Map<number, string>(); // stream sequence → reason
  let published = 0;
  const publishing = (async () => {
    for (let c = 0; c < CHUNKS; c++) {
      await publishRange(js, c * 2_000, (c + 1) * 2_000, expected, { keys: 3_000 });
      // each good key c+1 times (counts differ per key), each bad key once, spread over the splits
      for (const [i, key] of GOOD.entries()) {
        for (let n = 0; n <= c % 3; n++) {
          await js.publish(SPLITS[(i + n) % SPLITS.length], JSON.stringify({ site: key, user: `h${c}` }));
          expected.set(key, (expected.get(key) ?? 0) + 1);
        }
      }
      for (const [i, key] of BAD.entries()) {
        const ack = await js.publish(SPLITS[(i + c) % SPLITS.length], JSON.stringify({ site: key, user: `b${c}` }));
        dead.set(ack.seq, expectedReason(key)!);
      }
      published = c + 1;
      await Bun.sleep(150);
    }
  })();
  const jsm = await jetstreamManager(nc);
  try {
    // kill -9 at moments that differ: while restoring or running, and while a checkpoint is in flight
    for (let k = 0; k < 6; k++) {
      const pv = await PvflowProcess.start({ binary, env });
      if (k % 2 === 0) {
        await Bun.sleep(300 + k * 150);
      } else {
        await pv.waitReady();
        for (let i = 0; i < 100; i++) {
          if ((await pv.json("/status")).body.checkpoints.inProgress !== null) break;
          await Bun.sleep(5);
        }
      }
      expect(await pv.kill("SIGKILL")).not.toBe(0);
    }
    await publishing;
    expect(published).toBe(CHUNKS);
    await using pv = await PvflowProcess.start({ binary, env });
    await pv.waitReady();
    const dlqCount = async () => (await jsm.streams.info("PV_DLQ").catch(() => undefined))?.state.messages ?? 0;
    // Everything committed (nats-server 2.9 can serve slowly for a while after many kill -9 restores:
    // this bounds it generously; stalls are detected and tested on their own, see stall_watch).
    await waitFor(async () => total(await allCounts(pv)) === total(expected) && (await dlqCount()) >= dead.size,
      60_000, () => `${total(expected)} counts and ${dead.size} dead letters expected:\n${pv.log}`);

    expect(await allCounts(pv, 7)).toEqual(expected); // small pages: hostile keys as cursors
    for (const key of GOOD) {
      const r = await pv.json(`/counts/${encodeURIComponent(key)}`);
      expect({ key, r }).toEqual({ key, r: { status: 200, body: { key, count: expected.get(key)!, checkpointId: r.body.checkpointId } } });
    }
    const top = (await pv.json(`/counts?top=${GOOD.length}`)).body.counts as Record<string, number>;
    for (const [k, v] of Object.entries(top)) expect(v).toBe(expected.get(k)!);
    const metrics = await (await fetch(pv.url + "/metrics")).text();
    expect(metrics).toContain('pvflow_dead_lettered_total{reason="key_contains_nul"}');
    expect(metrics).toContain('pvflow_dead_lettered_total{reason="key_lone_surrogate"}');
    expect(await pv.kill("SIGTERM")).toBe(0);

    expect(await committedCounts(db)).toEqual(expected);
    expect(await dlqCount()).toBe(dead.size); // once each, across every replay
    await jsm.consumers.add("PV_DLQ", { name: "check", ack_policy: AckPolicy.None });
    const consumer = await jetstream(nc).consumers.get("PV_DLQ", "check");
    const letters = new Map<number, string>();
    for await (const m of await consumer.fetch({ max_messages: dead.size, expires: 2000 })) {
      const seq = Number(m.headers!.get("Pvflow-Stream-Seq"));
      expect(letters.has(seq)).toBe(false);
      letters.set(seq, m.headers!.get("Pvflow-Reason"));
    }
    expect(letters).toEqual(dead);
  } finally {
    await publishing.catch(() => {});
    await nc.close();
    await rm(dir, { recursive: true, force: true });
  }
}, 180_000);
