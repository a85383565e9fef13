/**
 * A database written by release 0.1.0 (its real binary, built from the release commit) is opened
 * by this binary: migrated in place to the drizzle schema without losing a count or a position,
 * and the job resumes from them — counts stay exact after more events, none counted twice.
 * On a libSQL file and on a libSQL server (sqld over HTTP).
 */
import { createClient, type Client } from "@libsql/client";
import { beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { committedCountsAt } from "./support/committed.ts";
import { openStream, publishRange, total } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { pipelineEnv, PvflowProcess, waitFor } from "./support/pvflow_process.ts";
import { releaseBinary } from "./support/release_binary.ts";
import { Sqld } from "./support/sqld.ts";
import { withTempDirAndBinary } from "./support/suite.ts";

let dir = "";
let binary = "";
let binary010 = "";
withTempDirAndBinary("pvflow-upgrade-", (d, b) => ((dir = d), (binary = b)));
beforeAll(async () => {
  binary010 = await releaseBinary();
}, 60_000);

/** Rows as plain arrays (bigint → number). */
async function rows(db: Client, sql: string): Promise<unknown[][]> {
  const rs = await db.execute(sql);
  return rs.rows.map((r) => Array.from({ length: r.length }, (_, i) => (typeof r[i] === "bigint" ? Number(r[i]) : r[i])));
}

const POSITIONS = "SELECT stream, subject, seq, checkpoint_id FROM positions ORDER BY stream, subject";

for (const kind of ["file", "sqld"] as const) {
  describe(`upgrade - ${kind}`, () => {
    test(`upgrade - ${kind}: a 0.1.0 database is migrated keeping every count and position; the job resumes exactly`, async () => {
      await using nats = await NatsServer.start();
      await using sqld = kind === "sqld" ? await Sqld.start() : undefined;
      const url = sqld ? sqld.url : `file:${join(dir, "v010.db")}`;
      const env = pipelineEnv(nats.url, "unused", { PVFLOW_DB_URL: url });
      const { nc, js } = await openStream(nats.url);
      const expected = new Map<string, number>();
      await publishRange(js, 0, 3_000, expected);

      // Release 0.1.0 counts the first 3,000 events and stops with a final checkpoint.
      {
        await using old = await PvflowProcess.start({ binary: binary010, env });
        expect(old.log).toContain("pvflow 0.1.0");
        await waitFor(async () => total(await committedCountsAt(url)) >= 3_000, 30_000, () => old.log);
        expect(await old.kill("SIGTERM")).toBe(0);
      }
      const db = createClient({ url });
      try {
        // What 0.1.0 wrote: its schema (no journal, no owner, no epoch) and its state.
        const tables = (await rows(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")).flat();
        expect(tables).toEqual(["checkpoints", "counts", "meta", "positions"]);
        const counts010 = await committedCountsAt(url);
        expect(counts010).toEqual(expected);
        const positions010 = await rows(db, POSITIONS);
        expect(positions010.map((r) => r[1])).toEqual(["pv.0", "pv.1", "pv.2", "pv.3"]);
        const [[latest010]] = await rows(db, "SELECT max(id) FROM checkpoints");
        expect(latest010).toBeGreaterThan(0);

        // This binary (run from another cwd: the migrations come from inside it) migrates and resumes.
        await using pv = await PvflowProcess.start({ binary, env, cwd: dir });
        await pv.waitReady();
        expect((await rows(db, "SELECT count(*) FROM __drizzle_migrations"))[0][0]).toBeGreaterThanOrEqual(1);
        expect(await rows(db, "SELECT name FROM pragma_table_info('checkpoints') WHERE name = 'epoch'")).toEqual([["epoch"]]);
        // 0.1.0's checkpoints are kept (NULL epoch); its positions were restored unchanged.
        expect(await rows(db, `SELECT count(*) FROM checkpoints WHERE id <= ${latest010} AND epoch IS NULL`)).toEqual([[latest010]]);
        expect(pv.log).toContain(`from checkpoint ${latest010} (${counts010.size} keys)`);
        expect((await rows(db, POSITIONS)).map((r) => r.slice(0, 3))).toEqual(positions010.map((r) => r.slice(0, 3)));
        expect(await committedCountsAt(url)).toEqual(counts010);

        // More events: counted once each on top of 0.1.0's counts (a lost position would recount all).
        await publishRange(js, 3_000, 6_000, expected);
        await waitFor(async () => total(await committedCountsAt(url)) >= 6_000, 30_000, () => pv.log);
        expect(await pv.kill("SIGTERM")).toBe(0);
        expect(await committedCountsAt(url)).toEqual(expected);
        const positions = await rows(db, POSITIONS);
        for (let i = 0; i < 4; i++) expect(positions[i][2] as number).toBeGreaterThan(positions010[i][2] as number);
        expect((await rows(db, `SELECT count(*) FROM checkpoints WHERE id > ${latest010} AND epoch = 1`))[0][0]).toBeGreaterThan(0);
      } finally {
        db.close();
      }
      await nc.close();
    }, 120_000);
  });
}
