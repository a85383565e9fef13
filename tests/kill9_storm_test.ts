/**
 * Exactly-once under kill -9: the binary is SIGKILLed at least 10 times at random moments while
 * a publisher keeps sending — right after start, during processing, while a checkpoint is in
 * flight (alignment or the libSQL transaction, made long by many changed keys per checkpoint) —
 * restarted each time, and the final committed counts must equal the published ones exactly.
 */
import { expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary } from "./support/binary.ts";
import { committedCounts } from "./support/committed.ts";
import { openStream, publishRange, SPLITS, total } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { PvflowProcess, waitFor } from "./support/pvflow_process.ts";
import { allCounts } from "./support/counts.ts";

/** A seeded PRNG so a failing run can be repeated with KILL9_SEED. */
function mulberry32(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("exactly-once - a storm of SIGKILLs while publishing loses nothing and counts nothing twice", async () => {
  const seed = Number(process.env.KILL9_SEED ?? Date.now() % 100000);
  const random = mulberry32(seed);
  const binary = await ensureBinary();
  const dir = await mkdtemp(join(tmpdir(), "pvflow-kill9-"));
  await using nats = await NatsServer.start();
  const { nc, js } = await openStream(nats.url);
  const db = join(dir, "pv.db");
  const env = {
    NATS_URL: nats.url,
    PVFLOW_SUBJECTS: SPLITS.join(","),
    PVFLOW_PARALLELISM: "2",
    PVFLOW_SOURCE_PARALLELISM: "2",
    PVFLOW_CHECKPOINT_INTERVAL_MS: "100",
    PVFLOW_DB_URL: `file:${db}`,
  };
  const expected = new Map<string, number>();
  const N = 100_000;
  const CHUNK = 2_000;
  const KEYS = 20_000; // many changed keys per checkpoint: long libSQL transactions
  // Publish in chunks, spread over the whole kill sequence.
  const publishing = (async () => {
    for (let i = 0; i < N; i += CHUNK) {
      await publishRange(js, i, i + CHUNK, expected, { keys: KEYS });
      await Bun.sleep(100);
    }
  })();

  const kills: string[] = [];
  const checkpointIds: number[] = [];
  let killedInFlight = 0;
  try {
    for (let k = 0; k < 12; k++) {
      const pv = await PvflowProcess.start({ binary, env });
      const how = k % 3;
      if (how === 0) {
        // Anywhere: restoring, running, checkpointing.
        const delay = Math.round(random() * 1500);
        await Bun.sleep(delay);
        kills.push(`after ${delay} ms`);
      } else {
        // While a checkpoint is in flight (aligning, or committing once /status answers again).
        await pv.waitReady();
        await Bun.sleep(Math.round(random() * 400));
        let inFlight = false;
        for (let i = 0; i < 100 && !inFlight; i++) {
          inFlight = (await pv.json("/status")).body.checkpoints.inProgress !== null;
          if (!inFlight) await Bun.sleep(5);
        }
        if (inFlight) killedInFlight++;
        kills.push(inFlight ? "checkpoint in flight" : "running");
      }
      expect(await pv.kill("SIGKILL")).not.toBe(0);
      checkpointIds.push((await committedCheckpoint(db)) ?? 0);
    }
    await publishing;
    await using last = await PvflowProcess.start({ binary, env });
    await last.waitReady();
    await waitFor(async () => total(await allCounts(last)) >= N, 60_000, () => last.log);
    expect(await last.kill("SIGTERM")).toBe(0);
    const got = await committedCounts(db);
    expect(total(expected)).toBe(N);
    expect({ seed, kills, counts: got }).toEqual({ seed, kills, counts: expected });
    // The kills happened while checkpoints were being taken, not all before the first one.
    expect(checkpointIds.at(-1)).toBeGreaterThan(0);
    expect(killedInFlight).toBeGreaterThan(0);
  } finally {
    await publishing.catch(() => {});
    await nc.close();
    await rm(dir, { recursive: true, force: true });
  }
}, 300_000);

async function committedCheckpoint(dbFile: string): Promise<number | undefined> {
  const { createClient } = await import("@libsql/client");
  const db = createClient({ url: `file:${dbFile}` });
  try {
    const rs = await db.execute("SELECT max(id) FROM checkpoints");
    return Number(rs.rows[0][0] ?? 0);
  } catch {
    return undefined;
  } finally {
    db.close();
  }
}
