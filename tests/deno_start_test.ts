/**
 * End-to-end: `deno task start` — pvflow from source under Deno (the pinned npm devDependency),
 * the libSQL native addon and the Workers included — against a real nats-server and a real
 * libSQL file: exact counts, and SIGTERM stops it with a final checkpoint and exit code 0.
 * Skipped, saying so, when node_modules/deno/deno is missing (run scripts/ensure_deps.sh).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { committedCounts } from "./support/committed.ts";
import { allCounts } from "./support/counts.ts";
import { openStream, publishRange, total } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { pipelineEnv, PvflowProcess, waitFor } from "./support/pvflow_process.ts";

const ROOT = resolve(import.meta.dirname, "..");
/** The binary deno.json's tasks run (by path: see README, "Deno"). */
const DENO = join(ROOT, "node_modules/deno/deno");
const HAVE_DENO = existsSync(DENO);
if (!HAVE_DENO) console.warn(`SKIPPING tests/deno_start_test.ts: ${DENO} is missing (run scripts/ensure_deps.sh)`);

let dir = "";
beforeAll(async () => void (dir = await mkdtemp(join(tmpdir(), "pvflow-deno-start-"))));
afterAll(() => rm(dir, { recursive: true, force: true }));

test.skipIf(!HAVE_DENO)("deno start - deno task start counts every event exactly; SIGTERM: final checkpoint, exit 0", async () => {
  await using nats = await NatsServer.start();
  const { nc, js } = await openStream(nats.url);
  const expected = new Map<string, number>();
  await publishRange(js, 0, 4_000, expected); // before start: read from the stream's beginning
  const db = join(dir, "deno.db");
  await using pv = await PvflowProcess.start({
    binary: DENO, args: ["task", "start"], cwd: ROOT, env: pipelineEnv(nats.url, db), startTimeoutMs: 60_000,
  });
  await pv.waitReady(60_000);
  await publishRange(js, 4_000, 6_000, expected); // while running
  await waitFor(async () => total(await allCounts(pv)) >= 6_000, 60_000, () => pv.log);
  expect(await allCounts(pv)).toEqual(expected);
  expect((await pv.json("/status")).body.state).toBe("RUNNING");
  expect(await pv.kill("SIGTERM")).toBe(0);
  expect(pv.log).toMatch(/final checkpoint \d+ completed/);
  expect(await committedCounts(db)).toEqual(expected);
  await nc.close();
}, 120_000);

test.skipIf(!HAVE_DENO)("deno start - a crashing count worker restarts the job in-process with exact counts, under Deno", async () => {
  // Deno rethrows a Worker's unhandled error in the parent (ending the process) unless the job
  // marks the error event handled: this is what shows that it does.
  await using nats = await NatsServer.start();
  const { nc, js } = await openStream(nats.url);
  const expected = new Map<string, number>();
  await publishRange(js, 0, 10_000, expected);
  const db = join(dir, "crash.db");
  await using pv = await PvflowProcess.start({
    binary: DENO, args: ["task", "start"], cwd: ROOT, startTimeoutMs: 60_000,
    env: pipelineEnv(nats.url, db, { PVFLOW_FAULT_COUNT_THROW_AT: "3000", PVFLOW_RESTART_BACKOFF_MS: "100" }),
  });
  await waitFor(async () => total(await allCounts(pv)) >= 10_000, 60_000, () => pv.log);
  const status = (await pv.json("/status")).body;
  expect(status.restarts).toBe(1);
  expect(status.state).toBe("RUNNING");
  expect(pv.log).toContain("injected fault");
  expect(await pv.kill("SIGTERM")).toBe(0);
  expect(await committedCounts(db)).toEqual(expected);
  await nc.close();
}, 120_000);
