/**
 * End-to-end, the other side of tests/retention_behind_test.ts: a stream that keeps only 2,000
 * events (`max_msgs`), read at its end by a pvflow that keeps up while 40,000 events go by (the
 * front moves 20 times the stream's length), with one split idle among busy ones. No event is
 * lost, so the job must stay RUNNING, with no restart, and count exactly — the probes that verify
 * the splits' positions (./src/source/front_guard.ts) must keep ahead of the front, and an idle
 * split must not be taken for a loss, during the run or at a restart. The publisher never runs
 * more than half the stream's length ahead of what pvflow has read (`deliveredSequence`), so
 * nothing can be removed before pvflow reads it, whatever the machine's speed.
 */
import { expect, test } from "bun:test";
import { jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { join } from "node:path";
import { committedCounts } from "./support/committed.ts";
import { openStream, SPLITS, total } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { pipelineEnv, PvflowProcess, waitFor } from "./support/pvflow_process.ts";
import { withTempDirAndBinary } from "./support/suite.ts";

let dir = "";
let binary = "";
withTempDirAndBinary("pvflow-retention-keeping-up-", (d, b) => { dir = d; binary = b; });

/** The stream keeps this many events. */
const MAX_MSGS = 2_000;
const EVENTS = 40_000;
const CHUNK = 200;

interface SplitStatus { split: string; committedPosition: number; deliveredSequence: number }

/** Publishes `n` events round-robin over `subjects` (key = subject), counting them in `expected`; the last sequence. */
async function publish(js: JetStreamClient, subjects: string[], n: number, expected: Map<string, number>): Promise<number> {
  const acks = [];
  for (let i = 0; i < n; i++) {
    const subject = subjects[i % subjects.length];
    acks.push(js.publish(subject, JSON.stringify({ site: subject })));
    expected.set(subject, (expected.get(subject) ?? 0) + 1);
  }
  return Math.max(...(await Promise.all(acks)).map((a) => a.seq));
}

const cases = [
  { name: "four splits, pv.3 idle among the busy ones", subjects: SPLITS, busy: ["pv.0", "pv.1", "pv.2"], sources: "2" },
  { name: "one split covering the stream", subjects: ["pv.>"], busy: ["pv.0", "pv.1", "pv.2"], sources: "1" },
];

for (const c of cases) {
  test(`retention keeping up - ${c.name}: max_msgs ${MAX_MSGS}, ${EVENTS} events read at the stream's end: RUNNING, no restart, exact, and after a restart`, async () => {
    await using nats = await NatsServer.start();
    const { nc, js } = await openStream(nats.url, "SEED");
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete("SEED");
    await jsm.streams.add({ name: "PV", subjects: ["pv.>"], max_msgs: MAX_MSGS });
    const db = join(dir, `keeping_up_${c.subjects.length}.db`);
    // Checkpoints (each verifies its positions) far apart: the probes between them must keep up.
    const env = pipelineEnv(nats.url, db, {
      PVFLOW_SUBJECTS: c.subjects.join(","), PVFLOW_SOURCE_PARALLELISM: c.sources, PVFLOW_CHECKPOINT_INTERVAL_MS: "2000",
    });
    const expected = new Map<string, number>();
    const splits = async (pv: PvflowProcess): Promise<SplitStatus[]> => (await pv.json("/status")).body.splits;
    try {
      {
        await using pv = await PvflowProcess.start({ binary, cwd: dir, env });
        await publish(js, ["pv.3"], 100, expected); // then pv.3 goes quiet
        let last = 0;
        for (let sent = 0; sent < EVENTS; sent += CHUNK) {
          // pvflow has read every busy split up to half the stream's length behind its end
          const behind = last - MAX_MSGS / 2;
          await waitFor(async () => (await splits(pv)).every((s) => s.split === "pv.3" || s.deliveredSequence >= behind), 30_000, () => pv.log);
          last = await publish(js, c.busy, CHUNK, expected);
        }
        await waitFor(async () => total(await committedCounts(db)) === EVENTS + 100, 30_000, () => pv.log);
        const first = (await jsm.streams.info("PV")).state.first_seq;
        expect(first).toBeGreaterThan(EVENTS - MAX_MSGS); // the front moved past every split's early events
        const status = (await pv.json("/status")).body;
        expect(status.state).toBe("RUNNING");
        expect(status.restarts).toBe(0);
        expect(pv.log).not.toContain("removed from stream");
        // The quiet split keeps up with the stream's end, so the restart below is not a false loss.
        await waitFor(async () => (await splits(pv)).every((s) => s.committedPosition >= first - 1), 20_000, () => pv.log);
        expect(await pv.kill("SIGTERM")).toBe(0);
      }
      expect(await committedCounts(db)).toEqual(expected);
      await publish(js, ["pv.3"], 10, expected);
      {
        await using pv = await PvflowProcess.start({ binary, cwd: dir, env });
        await waitFor(async () => total(await committedCounts(db)) === EVENTS + 110, 30_000, () => pv.log);
        const status = (await pv.json("/status")).body;
        expect(status.state).toBe("RUNNING");
        expect(status.restarts).toBe(0);
        expect(await pv.kill("SIGTERM")).toBe(0);
      }
      expect(await committedCounts(db)).toEqual(expected);
    } finally {
      await nc.close();
    }
  }, 180_000);
}
