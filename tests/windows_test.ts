/**
 * Event-time windows end to end, with a verifier that recomputes every (key, window) from the
 * published events: in-order and out-of-order events (within the bound), late events far behind,
 * an idle split (pv.3 never gets an event), and kill -9 twice — once just as the first results are
 * published, once in the middle of the traffic — and stragglers within the allowed lateness (new
 * revisions of fired windows). Then, for every closed window: the last revision's
 * count + the late events of that window = the published events of it, exactly; one output
 * message per (key, window, revision); each late event stored once; running totals exact; and
 * `GET /windows` answers the same results.
 */
import { createClient } from "@libsql/client";
import { expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AckPolicy, jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { ensureBinary } from "./support/binary.ts";
import { committedCounts } from "./support/committed.ts";
import { openStream } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { pipelineEnv, PvflowProcess, waitFor } from "./support/pvflow_process.ts";

const T0 = 1_700_000_040_000; // a multiple of the window size
const SIZE = 1000;
const OOO = 2000;
const LATENESS = 3000;
const KEYS = ["a", "b", "c", "d", "e"];
/** Splits that get events; pv.3 stays idle (it must not hold the watermark back). */
const BUSY = ["pv.0", "pv.1", "pv.2"];

interface Published {
  seq: number;
  key: string;
  ts: number;
}

/** Publishes events of event time `from` ≤ t < `to`, `perSecond` per busy split, jittered back by < OOO. */
async function publishTraffic(js: JetStreamClient, out: Published[], from: number, to: number, perSecond: number, seed: number) {
  let i = 0;
  const pending: Promise<void>[] = [];
  for (let t = from; t < to; t += 1000 / perSecond) {
    for (const subject of BUSY) {
      i++;
      const key = KEYS[(Math.imul(i + seed, 2654435761) >>> 0) % KEYS.length];
      const jitter = (Math.imul((i + seed * 7919) ^ 0x9e3779b9, 0x85ebca6b) >>> 7) % (OOO - 500); // out of order, within the bound
      const ts = Math.max(from, Math.floor(t) - jitter);
      pending.push(js.publish(subject, JSON.stringify({ site: key, ts })).then((a) => { out.push({ seq: a.seq, key, ts }); }));
      if (pending.length >= 200) await Promise.all(pending.splice(0));
    }
  }
  await Promise.all(pending);
}

/** Every message of `stream` (ack-less ordered read), with headers and payload. */
async function readAll(nc: NatsConnection, stream: string) {
  const jsm = await jetstreamManager(nc);
  const n = (await jsm.streams.info(stream)).state.messages;
  const name = `read${Math.random().toString(36).slice(2, 8)}`;
  await jsm.consumers.add(stream, { name, ack_policy: AckPolicy.None });
  const c = await jetstream(nc).consumers.get(stream, name);
  const out: { headers: Record<string, string>; data: string }[] = [];
  while (out.length < n) {
    for await (const m of await c.fetch({ max_messages: Math.min(1000, n - out.length), expires: 2000 })) {
      const headers: Record<string, string> = {};
      for (const [k, v] of m.headers ?? []) headers[k] = v[0];
      out.push({ headers, data: m.string() });
    }
  }
  await jsm.consumers.delete(stream, name);
  return out;
}

const windowOf = (ts: number) => ts - (ts % SIZE);

test("windows - every closed window: output + late = published, once each, across kill -9", async () => {
  const binary = await ensureBinary();
  const dir = await mkdtemp(join(tmpdir(), "pvflow-windows-"));
  await using nats = await NatsServer.start();
  const { nc, js } = await openStream(nats.url);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "LATE", subjects: ["pvflow.late"] });
  await jsm.streams.add({ name: "OUT", subjects: ["pvflow.windows"] });
  const db = join(dir, "pv.db");
  const env = pipelineEnv(nats.url, db, {
    PVFLOW_WINDOW_MS: String(SIZE), PVFLOW_OUT_OF_ORDERNESS_MS: String(OOO), PVFLOW_ALLOWED_LATENESS_MS: String(LATENESS),
    PVFLOW_IDLE_TIMEOUT_MS: "1000", PVFLOW_LATE_SUBJECT: "pvflow.late", PVFLOW_OUTPUT_SUBJECT: "pvflow.windows",
  });
  const published: Published[] = [];
  const surelyLate: number[] = [];
  const outCount = async () => (await jsm.streams.info("OUT")).state.messages;
  try {
    // Run 1: traffic up to T0 + 12 s; killed as soon as the first results are published.
    {
      await using pv = await PvflowProcess.start({ binary, env });
      await publishTraffic(js, published, T0, T0 + 12_000, 20, 1);
      await waitFor(async () => (await outCount()) > 0, 30_000, () => pv.log);
      await pv.kill("SIGKILL");
    }
    // Run 2: once the window of T0 + 8 s has fired (watermark ≥ T0 + 8999 ≥ every cleanup time of
    // windows up to T0 + 5 s), events of T0 .. T0 + 5 s are surely late; then more traffic, killed halfway.
    {
      await using pv = await PvflowProcess.start({ binary, env });
      await waitFor(async () => (await pv.json(`/windows?start=${T0 + 8000}`)).body.windows?.length > 0, 30_000, () => pv.log);
      for (let i = 0; i < 30; i++) {
        const key = KEYS[i % KEYS.length];
        const ts = T0 + (i * 170) % 5000;
        const a = await js.publish(BUSY[i % BUSY.length], JSON.stringify({ site: key, ts }));
        published.push({ seq: a.seq, key, ts });
        surelyLate.push(a.seq);
      }
      await publishTraffic(js, published, T0 + 12_000, T0 + 18_000, 20, 2);
      await Bun.sleep(300);
      await pv.kill("SIGKILL");
    }
    // Run 3: the rest, then events far ahead on every busy split, so every earlier window closes.
    await using pv = await PvflowProcess.start({ binary, env });
    await publishTraffic(js, published, T0 + 18_000, T0 + 24_000, 20, 3);
    // Stragglers for a window that has fired but is within the allowed lateness: new revisions.
    await waitFor(async () => (await pv.json(`/windows?start=${T0 + 20_000}`)).body.windows?.length > 0, 30_000, () => pv.log);
    for (let i = 0; i < 10; i++) {
      const key = KEYS[i % KEYS.length];
      const a = await js.publish(BUSY[i % BUSY.length], JSON.stringify({ site: key, ts: T0 + 20_500 }));
      published.push({ seq: a.seq, key, ts: T0 + 20_500 });
    }
    const FLUSH = T0 + 60_000;
    for (const subject of BUSY) {
      const a = await js.publish(subject, JSON.stringify({ site: "flush", ts: FLUSH }));
      published.push({ seq: a.seq, key: "flush", ts: FLUSH });
    }
    const finalWatermark = FLUSH - OOO;
    const closed = (start: number) => start + SIZE - 1 + LATENESS <= finalWatermark;

    // The verifier's expectation, from the published events alone.
    const perWindow = new Map<string, number>();
    const totals = new Map<string, number>();
    for (const e of published) {
      totals.set(e.key, (totals.get(e.key) ?? 0) + 1);
      if (!closed(windowOf(e.ts))) continue;
      const id = `${e.key}|${windowOf(e.ts)}`;
      perWindow.set(id, (perWindow.get(id) ?? 0) + 1);
    }
    const verify = async () => {
      const out = await readAll(nc, "OUT");
      const late = await readAll(nc, "LATE");
      const last = new Map<string, { count: number; revision: number }>();
      const ids = new Set<string>();
      const problems: string[] = [];
      for (const m of out) {
        const r = JSON.parse(m.data) as { key: string; windowStart: number; windowEnd: number; count: number; revision: number };
        const msgId = `PV:${r.key}:${r.windowStart}:${r.revision}`;
        if (m.headers["Nats-Msg-Id"] !== msgId) problems.push(`message id ${m.headers["Nats-Msg-Id"]}, expected ${msgId}`);
        if (ids.has(msgId)) problems.push(`${msgId} published twice`);
        ids.add(msgId);
        if (r.windowEnd !== r.windowStart + SIZE) problems.push(`${msgId}: end ${r.windowEnd}`);
        const id = `${r.key}|${r.windowStart}`;
        const prev = last.get(id);
        if (!prev || r.revision > prev.revision) last.set(id, { count: r.count, revision: r.revision });
      }
      const lateSeqs = new Set<number>();
      const latePer = new Map<string, number>();
      for (const m of late) {
        const seq = Number(m.headers["Pvflow-Stream-Seq"]);
        if (m.headers["Pvflow-Reason"] !== "late") problems.push(`late event ${seq} with reason ${m.headers["Pvflow-Reason"]}`);
        if (lateSeqs.has(seq)) problems.push(`late event ${seq} stored twice`);
        lateSeqs.add(seq);
        const e = JSON.parse(m.data) as { site: string; ts: number };
        const id = `${e.site}|${windowOf(e.ts)}`;
        latePer.set(id, (latePer.get(id) ?? 0) + 1);
      }
      for (const seq of surelyLate) if (!lateSeqs.has(seq)) problems.push(`event ${seq} published after its window closed is not in LATE`);
      for (const [id, n] of perWindow) {
        const got = (last.get(id)?.count ?? 0) + (latePer.get(id) ?? 0);
        if (got !== n) problems.push(`window ${id}: output ${last.get(id)?.count ?? 0} + late ${latePer.get(id) ?? 0} != published ${n}`);
      }
      for (const id of last.keys()) {
        const start = Number(id.split("|")[1]);
        if (closed(start) && !perWindow.has(id)) problems.push(`output for window ${id} that has no published event`);
      }
      const maxRevision = Math.max(0, ...[...last.values()].map((l) => l.revision));
      return { problems, out: out.length, late: late.length, last, maxRevision };
    };
    let result = await verify();
    await waitFor(async () => {
      result = await verify();
      return result.problems.length === 0;
    }, 60_000, () => `${result.problems.slice(0, 10).join("\n")}\n(${result.problems.length} problems)\n${pv.log.slice(-3000)}`);
    expect(result.problems).toEqual([]);
    expect(result.maxRevision).toBeGreaterThan(1); // the stragglers updated fired windows
    console.log(`windows test: ${published.length} events, ${result.out} results, ${result.last.size} windows, ${result.late} late`);
    expect(result.late).toBeGreaterThanOrEqual(surelyLate.length);
    // running totals: every event, late ones included
    await waitFor(async () => [...(await committedCounts(db)).values()].reduce((a, b) => a + b, 0) === published.length, 30_000, () => pv.log);
    expect(await committedCounts(db)).toEqual(totals);
    // GET /windows answers the committed results: the last revision of each of a's windows
    const a = (await pv.json(`/windows?key=a&from=${T0}&to=${T0 + 24_000}`)).body.windows as { windowStart: number; count: number; revision: number }[];
    const lastOfA = new Map<number, number>();
    for (const r of a) lastOfA.set(r.windowStart, r.count);
    for (const [start, count] of lastOfA) expect(result.last.get(`a|${start}`)?.count).toBe(count);
    expect(lastOfA.size).toBeGreaterThan(10);
    expect((await pv.json("/windows")).status).toBe(400);
    const metrics = await (await fetch(pv.url + "/metrics")).text();
    expect(metrics).toContain('pvflow_dead_lettered_total{reason="late"}');
    expect(metrics).toMatch(/^pvflow_window_watermark_ms \d{13}$/m);
    expect(metrics).toMatch(/^pvflow_window_results_published_total [1-9]\d*$/m);
    // the subtasks report every half second: wait for the report after the last watermark
    await waitFor(async () => (await pv.json("/status")).body.windows.watermark === finalWatermark, 10_000, () => pv.log);
    const status = (await pv.json("/status")).body;
    expect(status.windows.watermark).toBe(finalWatermark); // only the flush events are past it
    expect(status.windows.openWindows).toBe(1); // the flush events' window: every other one dropped
    expect(await pv.kill("SIGTERM")).toBe(0);
    // a graceful stop publishes what its final checkpoint committed: nothing left in the outbox
    const client = createClient({ url: `file:${db}` });
    expect(Number((await client.execute("SELECT count(*) FROM window_outbox")).rows[0][0])).toBe(0);
    client.close();
  } finally {
    await nc.close();
    await rm(dir, { recursive: true, force: true });
  }
}, 240_000);
