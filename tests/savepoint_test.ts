/**
 * End-to-end: savepoints and checkpoint history retention, with the compiled binary, a real
 * nats-server and real libSQL files. A savepoint taken after N events holds exactly N; a new
 * instance started on a copy of it, after the first was killed with M more events published,
 * re-reads from the savepoint's positions and ends with exactly N + M.
 */
import { createClient } from "@libsql/client";
import { expect, test } from "bun:test";
import { copyFile, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { committedCounts } from "./support/committed.ts";
import { allCounts } from "./support/counts.ts";
import { openStream, publishRange, total } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { pipelineEnv, PvflowProcess, waitFor } from "./support/pvflow_process.ts";
import { withTempDirAndBinary } from "./support/suite.ts";

let dir: string;
let binary: string;
withTempDirAndBinary("pvflow-savepoint-", (d, b) => {
  dir = d;
  binary = b;
});

const TOKEN = "savepoint-admin-token";
const HISTORY = 5;

/** The ids of the `checkpoints` table of the libSQL file `db`, ascending. */
async function checkpointIds(db: string): Promise<number[]> {
  const c = createClient({ url: `file:${db}` });
  try {
    return (await c.execute("SELECT id FROM checkpoints ORDER BY id")).rows.map((r) => Number(r[0]));
  } finally {
    c.close();
  }
}

test("savepoints - a savepoint holds exactly N; a copy restored after kill -9 and M more events ends with exactly N + M", async () => {
  await using nats = await NatsServer.start();
  const { nc, js } = await openStream(nats.url);
  const expected = new Map<string, number>();
  const N = 20_000;
  const M = 10_000;
  await publishRange(js, 0, N, expected);
  const atSavepoint = new Map(expected);
  const db = join(dir, "live.db");
  const spDir = join(dir, "savepoints");
  const env = pipelineEnv(nats.url, db, {
    PVFLOW_ADMIN_TOKEN: TOKEN, PVFLOW_SAVEPOINT_DIR: spDir, PVFLOW_CHECKPOINT_HISTORY: String(HISTORY),
  });
  let savepoint: { path: string; checkpointId: number; triggeredCheckpointId: number; events: number; keys: number };
  {
    await using pv = await PvflowProcess.start({ binary, env });
    await pv.waitReady();
    await waitFor(async () => total(await allCounts(pv)) >= N, 30_000, () => pv.log);
    // Enough checkpoints that retention has pruned some.
    await waitFor(async () => (await pv.json("/status")).body.checkpoints.latestCommittedId > HISTORY + 2, 30_000, () => pv.log);

    // Admin only: no token, a wrong one.
    expect((await pv.json("/savepoints", { method: "POST" })).status).toBe(401);
    expect((await pv.json("/savepoints", { method: "POST", headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    expect(await readdir(spDir).catch(() => [])).toEqual([]);

    const r = await pv.json("/savepoints", { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } });
    expect(r.status).toBe(201);
    savepoint = r.body;
    expect(savepoint.path).toBe(join(spDir, savepoint.path.split("/").pop()!));
    expect(savepoint.path).toMatch(new RegExp(`/savepoint-${savepoint.checkpointId}-\\d{8}T\\d{9}Z\\.db$`));
    expect(savepoint.checkpointId).toBeGreaterThanOrEqual(savepoint.triggeredCheckpointId);
    expect(savepoint.events).toBe(N);
    expect(savepoint.keys).toBe(atSavepoint.size);
    expect(await committedCounts(savepoint.path)).toEqual(atSavepoint);
    // The history is bounded, in the live database and in the savepoint, and holds the latest checkpoint.
    const kept = await checkpointIds(savepoint.path);
    expect(kept.length).toBe(HISTORY);
    expect(kept.at(-1)).toBe(savepoint.checkpointId);
    expect((await checkpointIds(db)).length).toBe(HISTORY);

    await publishRange(js, N, N + M, expected);
    await waitFor(async () => total(await allCounts(pv)) >= N + M, 30_000, () => pv.log);
    await pv.kill("SIGKILL");
  }
  expect(await committedCounts(db)).toEqual(expected);

  // Restore: a copy of the savepoint (the restored instance writes into the file it is given).
  const restoredDb = join(dir, "restored.db");
  await copyFile(savepoint.path, restoredDb);
  await using pv2 = await PvflowProcess.start({ binary, env: { ...env, PVFLOW_DB_URL: `file:${restoredDb}` } });
  await pv2.waitReady();
  expect(pv2.log).toContain(`from checkpoint ${savepoint.checkpointId} (`);
  await waitFor(async () => total(await allCounts(pv2)) >= N + M, 30_000, () => pv2.log);
  expect(await pv2.kill("SIGTERM")).toBe(0);
  expect(await committedCounts(restoredDb)).toEqual(expected);
  // The savepoint itself is untouched.
  expect(await committedCounts(savepoint.path)).toEqual(atSavepoint);
  await nc.close();
});

test("savepoints - the binary alone (no node_modules near it) writes one next to its database by default", async () => {
  const alone = await mkdtemp(join(tmpdir(), "pvflow-savepoint-alone-"));
  try {
    await copyFile(binary, join(alone, "pvflow"));
    await Bun.$`chmod +x ${join(alone, "pvflow")}`;
    await using nats = await NatsServer.start();
    const { nc, js } = await openStream(nats.url);
    const expected = new Map<string, number>();
    await publishRange(js, 0, 1_000, expected);
    await using pv = await PvflowProcess.start({
      binary: join(alone, "pvflow"), cwd: alone, env: { NATS_URL: nats.url, PVFLOW_CHECKPOINT_INTERVAL_MS: "200" },
    });
    await pv.waitReady();
    await waitFor(async () => total(await allCounts(pv)) >= 1_000, 30_000, () => pv.log);
    const r = await pv.json("/savepoints", { method: "POST" });
    expect(r.status).toBe(201);
    expect(r.body.path).toStartWith(`${alone}/savepoint-`); // beside the default file:pvflow.db
    expect(await committedCounts(r.body.path)).toEqual(expected);
    expect(await pv.kill("SIGTERM")).toBe(0);
    await nc.close();
  } finally {
    await rm(alone, { recursive: true, force: true });
  }
});

test("savepoints - PVFLOW_CHECKPOINT_HISTORY=0 stops startup with one line naming it", async () => {
  const proc = Bun.spawn([binary], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", PVFLOW_CHECKPOINT_HISTORY: "0", PVFLOW_DB_URL: `file:${join(dir, "never.db")}` },
    stdout: "pipe", stderr: "pipe",
  });
  expect(await proc.exited).toBe(2);
  const err = (await new Response(proc.stderr).text()).trim();
  expect(err).toBe('pvflow: PVFLOW_CHECKPOINT_HISTORY must be an integer >= 1, got "0"');
});
