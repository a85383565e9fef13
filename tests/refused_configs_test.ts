/**
 * End-to-end: unsafe configurations never run. The compiled binary, given each one, exits with
 * code 2 and prints one line naming the variable — before doing anything for the ones the config
 * alone shows, after asking the real nats-server for a split outside the stream, after opening
 * the real libSQL file for a changed key field (whose counts stay untouched). Events purged
 * past a checkpointed position make the job FAILED with the reason instead of being skipped.
 */
import { describe, expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { join } from "node:path";
import { committedCounts } from "./support/committed.ts";
import { openStream, publishRange, total } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { PvflowProcess, waitFor } from "./support/pvflow_process.ts";
import { Sqld } from "./support/sqld.ts";
import { withTempDirAndBinary } from "./support/suite.ts";

let dir: string;
let binary: string;
withTempDirAndBinary("pvflow-refused-", (d, b) => {
  dir = d;
  binary = b;
});

/** Runs the binary to its exit (killed after 20 s); its exit code, stdout and stderr lines. */
async function runToExit(env: Record<string, string>): Promise<{ code: number; stdout: string; lines: string[] }> {
  const proc = Bun.spawn([binary], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", TMPDIR: process.env.TMPDIR ?? "/tmp", PVFLOW_HTTP_PORT: "0", ...env },
    stdin: "ignore", stdout: "pipe", stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, lines: stderr.split("\n").filter((l) => l !== "") };
}

describe("refused configs - by the config alone: exit 2, one stderr line, nothing else", () => {
  const cases: Array<[string, Record<string, string>, string]> = [
    ["overlapping splits pv.>,pv.0", { PVFLOW_SUBJECTS: "pv.>,pv.0" },
      'PVFLOW_SUBJECTS must be subjects that do not overlap (pv.> and pv.0 match common subjects, whose events would be counted twice), got "pv.>,pv.0"'],
    ["overlapping splits pv.*,pv.0", { PVFLOW_SUBJECTS: "pv.1,pv.*,pv.0" },
      'PVFLOW_SUBJECTS must be subjects that do not overlap (pv.1 and pv.* match common subjects'],
    ["a dead-letter subject inside a split", { PVFLOW_SUBJECTS: "pv.>", PVFLOW_DLQ_SUBJECT: "pv.dlq" },
      'PVFLOW_DLQ_SUBJECT must be a subject outside PVFLOW_SUBJECTS (split pv.> would read the dead letters back and dead-letter them again, forever), got "pv.dlq"'],
    ["a NATS_URL port that is not a number", { NATS_URL: "nats://127.0.0.1:80x" },
      'NATS_URL must be nats://host:port (or tls://, ws://, wss://), comma-separated, with a port from 1 to 65535, got "nats://127.0.0.1:80x"'],
    ["a NATS_URL port out of range, in a list", { NATS_URL: "nats://127.0.0.1:4222,nats://127.0.0.1:70000" },
      'NATS_URL must be nats://host:port (or tls://, ws://, wss://), comma-separated, with a port from 1 to 65535, got "nats://127.0.0.1:70000"'],
    ["credentials in NATS_URL, which the NATS client would ignore", { NATS_URL: "nats://me:pa#ss@127.0.0.1:4222" },
      'NATS_URL must be nats://host:port (or tls://, ws://, wss://), comma-separated, without credentials (set NATS_TOKEN, NATS_USER/NATS_PASSWORD or NATS_CREDS instead), got "nats://***@127.0.0.1:4222"'],
    ["a database directory that does not exist", { PVFLOW_DB_URL: "file:/no/such/dir/x.db" },
      'PVFLOW_DB_URL must be file:<path> in an existing directory (/no/such/dir: ENOENT), got "file:/no/such/dir/x.db"'],
    ["a file: URL with three slashes and a missing directory", { PVFLOW_DB_URL: "file:///no/such/dir/x.db" },
      'PVFLOW_DB_URL must be file:<path> in an existing directory (/no/such/dir: ENOENT), got "file:///no/such/dir/x.db"'],
    ["a file: URL with a query the libSQL client refuses", { PVFLOW_DB_URL: "file:x.db?mode=ro" },
      'PVFLOW_DB_URL must be file:<path> without query parameters (the libSQL client accepts none for a file), got "file:x.db"'],
    ["a late subject inside a split", { PVFLOW_SUBJECTS: "pv.>", PVFLOW_WINDOW_MS: "60000", PVFLOW_LATE_SUBJECT: "pv.late" },
      'PVFLOW_LATE_SUBJECT must be a subject outside PVFLOW_SUBJECTS (split pv.> would read it back), got "pv.late"'],
    ["windows with at-least-once checkpoints", { PVFLOW_WINDOW_MS: "60000", PVFLOW_CHECKPOINT_MODE: "at_least_once" },
      'PVFLOW_CHECKPOINT_MODE must be exactly_once when PVFLOW_WINDOW_MS is set (window results need aligned checkpoints), got "at_least_once"'],
    ["cluster mode on a file database", { PVFLOW_CLUSTER: "c1", PVFLOW_DB_URL: "file:x.db" },
      'PVFLOW_DB_URL must be a libSQL server URL (http(s)://, libsql://) shared by the instances when PVFLOW_CLUSTER is set, not a file, got "file:x.db"'],
    ["cluster mode with windows", { PVFLOW_CLUSTER: "c1", PVFLOW_DB_URL: "http://127.0.0.1:1", PVFLOW_WINDOW_MS: "60000" },
      'PVFLOW_WINDOW_MS must be unset when PVFLOW_CLUSTER is set (windows are not supported in cluster mode yet), got "60000"'],
    ["the status server on 0.0.0.0 without a token", { PVFLOW_HTTP_HOST: "0.0.0.0" },
      'PVFLOW_HTTP_HOST must be a loopback address (127.0.0.1, ::1 or localhost) unless PVFLOW_ADMIN_TOKEN is set (or PVFLOW_ALLOW_UNAUTHENTICATED=true), got "0.0.0.0"'],
  ];
  for (const [what, env, message] of cases) {
    test(`refused configs - ${what}`, async () => {
      const r = await runToExit(env);
      expect(r).toMatchObject({ code: 2, stdout: "" });
      expect(r.lines).toHaveLength(1);
      expect(r.lines[0]).toStartWith(`pvflow: ${message}`);
    });
  }

  test("refused configs - a non-loopback status server runs with PVFLOW_ALLOW_UNAUTHENTICATED=true or a token", async () => {
    const extras: Record<string, string>[] = [{ PVFLOW_ALLOW_UNAUTHENTICATED: "true" }, { PVFLOW_ADMIN_TOKEN: "t0ken-for-the-test" }];
    for (const extra of extras) {
      await using pv = await PvflowProcess.start({
        binary, cwd: dir,
        env: { NATS_URL: "nats://127.0.0.1:1", PVFLOW_HTTP_HOST: "0.0.0.0", PVFLOW_DB_URL: `file:${join(dir, "open.db")}`, ...extra },
      });
      expect(pv.url).toStartWith("http://0.0.0.0:");
      expect((await fetch(pv.url.replace("0.0.0.0", "127.0.0.1") + "/healthz")).status).toBe(200);
      expect(await pv.kill("SIGTERM")).toBe(0);
    }
  }, 60_000);
});

describe("refused configs - found with the real servers", () => {
  test("refused configs - a cluster instance with other splits than the live members': exit 2 naming PVFLOW_SUBJECTS, the cluster untouched", async () => {
    await using nats = await NatsServer.start();
    await using sqld = await Sqld.start();
    const { nc } = await openStream(nats.url);
    const env = { NATS_URL: nats.url, PVFLOW_DB_URL: sqld.url, PVFLOW_CLUSTER: "c1", PVFLOW_SUBJECTS: "pv.0,pv.1" };
    await using a = await PvflowProcess.start({ binary, cwd: dir, env: { ...env, PVFLOW_INSTANCE_ID: "a" } });
    await a.waitReady(30_000);
    const r = await runToExit({ ...env, PVFLOW_INSTANCE_ID: "b", PVFLOW_SUBJECTS: "pv.0" });
    expect(r).toMatchObject({ code: 2, stdout: "" });
    const line = 'pvflow: PVFLOW_SUBJECTS must be the same on every instance of the cluster: instance a uses "pv.0,pv.1", got "pv.0"';
    expect(r.lines.filter((l) => l.startsWith("pvflow: "))).toEqual([line]);
    // The refused instance never took a split: a still owns both.
    const owned = (await a.json("/status")).body.cluster.owned.map((o: { split: string }) => o.split);
    expect(owned).toEqual(["pv.0", "pv.1"]);
    await nc.close();
  }, 60_000);

  test("refused configs - a split outside the stream's subjects: exit 2 after asking NATS, the line naming PVFLOW_SUBJECTS last", async () => {
    await using nats = await NatsServer.start();
    const { nc } = await openStream(nats.url); // PV on pv.>
    const r = await runToExit({
      NATS_URL: nats.url, PVFLOW_SUBJECTS: "pv.0,other.1", PVFLOW_DB_URL: `file:${join(dir, "outside.db")}`,
    });
    expect(r).toMatchObject({ code: 2, stdout: "" });
    const line = 'pvflow: PVFLOW_SUBJECTS must be subjects within the subjects of stream PV (pv.>), got "other.1"';
    expect(r.lines.at(-1)).toBe(line);
    // The other lines are the timestamped log of the start (store, status server, FAILED).
    expect(r.lines.filter((l) => l.startsWith("pvflow: "))).toEqual([line]);
    expect(r.lines.some((l) => / pvflow: FAILED: PVFLOW_SUBJECTS must be/.test(l))).toBe(true);
    await nc.close();
  }, 60_000);

  test("refused configs - a changed PVFLOW_KEY_FIELD: exit 2 with one line, the counts by the old field untouched", async () => {
    await using nats = await NatsServer.start();
    const { nc, js } = await openStream(nats.url);
    const expected = new Map<string, number>();
    await publishRange(js, 0, 500, expected);
    const db = join(dir, "keyfield.db");
    const env = { NATS_URL: nats.url, PVFLOW_SUBJECTS: "pv.>", PVFLOW_DB_URL: `file:${db}`, PVFLOW_CHECKPOINT_INTERVAL_MS: "200" };
    {
      await using pv = await PvflowProcess.start({ binary, cwd: dir, env });
      await waitFor(async () => total((await pv.json("/counts")).body.counts) === 500, 20_000, () => pv.log);
      expect(await pv.kill("SIGTERM")).toBe(0);
    }
    const before = await committedCounts(db);
    expect(total(before)).toBe(500);
    const r = await runToExit({ ...env, PVFLOW_KEY_FIELD: "user" });
    expect(r).toMatchObject({ code: 2, stdout: "" });
    expect(r.lines).toEqual([
      'pvflow: PVFLOW_KEY_FIELD must be "site", the field the counts in this PVFLOW_DB_URL are by ' +
        '(to count by another field, start fresh with a new PVFLOW_DB_URL), got "user"',
    ]);
    expect(await committedCounts(db)).toEqual(before);
    // The old field still runs, and a new database takes the new one.
    {
      await using pv = await PvflowProcess.start({ binary, cwd: dir, env });
      await pv.waitReady();
      expect(await pv.kill("SIGTERM")).toBe(0);
    }
    {
      await using pv = await PvflowProcess.start({
        binary, cwd: dir, env: { ...env, PVFLOW_KEY_FIELD: "user", PVFLOW_DB_URL: `file:${join(dir, "keyfield-2.db")}` },
      });
      await waitFor(async () => total((await pv.json("/counts")).body.counts) === 500, 20_000, () => pv.log);
      expect(Object.keys((await pv.json("/counts")).body.counts)).toHaveLength(500); // one per user
      expect(await pv.kill("SIGTERM")).toBe(0);
    }
    await nc.close();
  }, 90_000);

  test("refused configs - events purged past a split's position: FAILED naming the split, position and first sequence; nothing skipped", async () => {
    await using nats = await NatsServer.start();
    const { nc, js } = await openStream(nats.url);
    await publishRange(js, 0, 1_000, new Map());
    const db = join(dir, "purged.db");
    const env = { NATS_URL: nats.url, PVFLOW_SUBJECTS: "pv.>", PVFLOW_DB_URL: `file:${db}`, PVFLOW_CHECKPOINT_INTERVAL_MS: "200" };
    {
      await using pv = await PvflowProcess.start({ binary, cwd: dir, env });
      await waitFor(async () => total((await pv.json("/counts")).body.counts) === 1_000, 20_000, () => pv.log);
      expect(await pv.kill("SIGTERM")).toBe(0);
    }
    const before = await committedCounts(db);
    await publishRange(js, 1_000, 1_500, new Map());
    await (await jetstreamManager(nc)).streams.purge("PV", { seq: 1_201 }); // removes 1..1200
    await using pv = await PvflowProcess.start({ binary, cwd: dir, env });
    await waitFor(async () => (await pv.json("/status")).body.state === "FAILED", 20_000, () => pv.log);
    const status = (await pv.json("/status")).body;
    expect(status.stateReason).toStartWith(
      "split pv.> resumes after sequence 1000, but stream PV now starts at sequence 1201: events 1001 to 1200 were removed",
    );
    expect(status.stateReason).toContain("new PVFLOW_DB_URL");
    expect(status.restarts).toBe(0); // fatal at once, not retried
    expect(await committedCounts(db)).toEqual(before); // 1201..1500 not counted past the gap
    expect(await pv.kill("SIGTERM")).toBe(1);
    await nc.close();
  }, 90_000);
});
