/**
 * End-to-end: events removed from the stream WHILE pvflow runs behind (its consumers have not
 * delivered them yet). pvflow is frozen (SIGSTOP) while far more events than the stream keeps
 * (`max_msgs`) — or a purge — go by; the server's consumers then skip to the stream's new first
 * sequence without a gap in their delivery sequences. The job must end FAILED with the reason (in
 * `/status` and the log), never skip them: the committed counts are exactly the events up to the
 * committed positions, and a restart on the same database fails again rather than resume past
 * them. Both kinds of split: four splits of `pv.>` (judged by the verified position, ./front_guard.ts)
 * and one split covering the stream (its sequences must be contiguous: the loss is exact).
 * The negative cases (a keeping-up pvflow, idle splits): tests/retention_keeping_up_test.ts.
 */
import { expect, test } from "bun:test";
import { createClient } from "@libsql/client";
import { jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { committedCounts } from "./support/committed.ts";
import { event, openStream, SPLITS, total } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { pipelineEnv, PvflowProcess, waitFor } from "./support/pvflow_process.ts";
import { withTempDirAndBinary } from "./support/suite.ts";

let dir = "";
let binary = "";
withTempDirAndBinary("pvflow-retention-behind-", (d, b) => { dir = d; binary = b; });

/** One published event: its stream sequence (from the publish ack), subject and key. */
interface Published { seq: number; subject: string; key: string }

/** Publishes events `from` ≤ i < `to` (tests/support/events.ts `event`), recording each in `log`. */
async function publish(js: JetStreamClient, from: number, to: number, log: Published[]): Promise<void> {
  for (let i = from; i < to; i += 500) {
    const batch = [];
    for (let j = i; j < Math.min(to, i + 500); j++) {
      const e = event(j, 50);
      batch.push(js.publish(e.subject, e.data).then((ack) => log.push({ seq: ack.seq, subject: e.subject, key: e.key })));
    }
    await Promise.all(batch);
  }
}

/** Every committed position of the database, split → sequence. */
async function committedPositions(db: string): Promise<Record<string, number>> {
  const c = createClient({ url: pathToFileURL(db).href });
  try {
    const rs = await c.execute("SELECT subject, seq FROM positions");
    return Object.fromEntries(rs.rows.map((r) => [r[0] as string, Number(r[1])]));
  } finally {
    c.close();
  }
}

/** The counts of exactly the events at or before their split's position (`splitOf` maps a subject to its split). */
function countsUpTo(log: Published[], positions: Record<string, number>, splitOf: (subject: string) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of log) if (e.seq <= (positions[splitOf(e.subject)] ?? 0)) m.set(e.key, (m.get(e.key) ?? 0) + 1);
  return m;
}

interface Case {
  name: string;
  subjects: string[];
  splitOf: (subject: string) => string;
  /** The stream's limits, or undefined for a stream without limits (the events are purged). */
  maxMsgs?: number;
  /** Consumers' inactivity threshold: shorter than the pause, the server deletes them (recreated at position + 1). */
  inactiveMs?: number;
  /** The reason must say this. */
  reason: RegExp;
}

const FOUR: Case["splitOf"] = (s) => s;
const cases: Case[] = [
  {
    name: "four splits, max_msgs, consumers kept: the server skips past the removed events",
    subjects: SPLITS, splitOf: FOUR, maxMsgs: 4_000,
    reason: /split pv\.\d: events of the split between sequences \d+ and \d+ may have been removed from stream PV before pvflow read them \(it now starts at sequence \d+; max_msgs 4000\)/,
  },
  {
    name: "one split covering the stream, max_msgs: the exact range",
    subjects: ["pv.>"], splitOf: () => "pv.>", maxMsgs: 4_000,
    reason: /split pv\.>: events \d+ to \d+ were removed from stream PV before pvflow read them \(the split's next event is sequence \d+; max_msgs 4000\)/,
  },
  {
    name: "four splits, max_msgs, consumers deleted for inactivity during the pause",
    subjects: SPLITS, splitOf: FOUR, maxMsgs: 4_000, inactiveMs: 1_000,
    reason: /split pv\.\d: events of the split between sequences \d+ and \d+ may have been removed from stream PV/,
  },
  {
    name: "four splits, a stream without limits, purged",
    subjects: SPLITS, splitOf: FOUR,
    reason: /split pv\.\d: events of the split between sequences \d+ and \d+ may have been removed from stream PV before pvflow read them \(it now starts at sequence \d+; no limits \(a purge\)\)/,
  },
];

for (const c of cases) {
  test(`retention behind - ${c.name}: FAILED with the reason, committed counts exactly the events up to the committed positions, a restart fails again`, async () => {
    await using nats = await NatsServer.start();
    const { nc, js } = await openStream(nats.url, "SEED");
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete("SEED");
    await jsm.streams.add({ name: "PV", subjects: ["pv.>"], ...(c.maxMsgs ? { max_msgs: c.maxMsgs } : {}) });
    const db = join(dir, `${c.name.replace(/\W+/g, "_")}.db`);
    const env = pipelineEnv(nats.url, db, {
      PVFLOW_SUBJECTS: c.subjects.join(","),
      PVFLOW_SOURCE_PARALLELISM: String(Math.min(2, c.subjects.length)),
      ...(c.inactiveMs ? { PVFLOW_CONSUMER_INACTIVE_MS: String(c.inactiveMs) } : {}),
    });
    const log: Published[] = [];
    try {
      {
        await using pv = await PvflowProcess.start({ binary, cwd: dir, env });
        await publish(js, 0, 2_000, log);
        await waitFor(async () => total(await committedCounts(db)) === 2_000, 30_000, () => pv.log);
        pv.proc.kill("SIGSTOP");
        // 10,000 per split: more than a consumer's pull (4,096) and the stream keeps (or all purged).
        await publish(js, 2_000, 42_000, log);
        if (!c.maxMsgs) await jsm.streams.purge("PV", { seq: 41_001 }); // the unread ones, all but the last 1,000
        if (c.inactiveMs) await Bun.sleep(c.inactiveMs * 3); // the fault: frozen past the inactivity threshold
        pv.proc.kill("SIGCONT");
        await publish(js, 42_000, 43_000, log);
        await waitFor(async () => (await pv.json("/status")).body.state === "FAILED", 30_000, () => pv.log);
        const status = (await pv.json("/status")).body;
        expect(status.stateReason).toMatch(c.reason);
        expect(status.stateReason).toContain("Refusing to skip them silently");
        expect(pv.log).toMatch(c.reason);
        expect((await fetch(pv.url + "/healthz")).status).toBe(503);
      }
      // Exactly the events up to the committed positions: nothing past a loss was committed.
      const positions = await committedPositions(db);
      const committed = await committedCounts(db);
      expect(committed).toEqual(countsUpTo(log, positions, c.splitOf));
      expect(total(committed)).toBeGreaterThanOrEqual(2_000);
      const first = (await jsm.streams.info("PV")).state.first_seq;
      for (const split of c.subjects) expect(positions[split]).toBeLessThan(first - 1); // some of its events are gone
      // Restarted on the same database: FAILED again, naming the removed range (never resumed past it).
      {
        await using pv = await PvflowProcess.start({ binary, cwd: dir, env });
        await waitFor(async () => (await pv.json("/status")).body.state === "FAILED", 30_000, () => pv.log);
        expect((await pv.json("/status")).body.stateReason).toMatch(/resumes after sequence \d+, but stream PV now starts at sequence \d+: events \d+ to \d+ were removed/);
      }
      expect(await committedCounts(db)).toEqual(committed);
    } finally {
      await nc.close();
    }
  }, 120_000);
}
