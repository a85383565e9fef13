/**
 * @module
 * Sample page-view traffic for the demo: `{"site":"site<k>","user":"u<n>","ts":<ms>}` published
 * to JetStream splits `pv.0`..`pv.3` (`SAMPLE_SPLITS` of them; the split is a hash of the site,
 * so one site always lands on one split), with a Zipf-like site distribution and about 0.5%
 * malformed events so the dead-letter path shows. Creates the stream (subjects `pv.>`) if it is
 * missing. Every publish is acknowledged by JetStream, with a window of outstanding acks.
 *
 * Environment:
 * - `NATS_URL` (default `nats://127.0.0.1:4222`, comma-separated), `NATS_TOKEN` or
 *   `NATS_USER`/`NATS_PASSWORD`
 * - `PVFLOW_STREAM` (default `PV`)
 * - `SAMPLE_RATE` events per second (default 2000)
 * - `SAMPLE_TOTAL` stop after this many events (default: until SIGINT/SIGTERM)
 * - `SAMPLE_SITES` number of sites (default 50)
 * - `SAMPLE_SPLITS` number of splits `pv.0`.. (default 4; `deploy/compose.cluster.yaml` reads 6)
 *
 * Run: `node_modules/.bin/bun scripts/sample_traffic.ts`
 */
import { connect, type NodeConnectionOptions } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

/** Zipf exponent: the top site gets ~20% of the traffic with 50 sites. */
const ZIPF_S = 1.1;
/** Share of malformed events. */
const MALFORMED = 0.005;
/** Most publishes awaiting their JetStream ack at once. */
const WINDOW = 1000;
const PROGRESS_MS = 5000;

const log = (line: string) => console.error(`${new Date().toISOString()} sample_traffic: ${line}`);

function intEnv(name: string, fallback: number | undefined): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) {
    console.error(`sample_traffic: ${name} must be a positive integer, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

const rate = intEnv("SAMPLE_RATE", 2000)!;
const total = intEnv("SAMPLE_TOTAL", undefined) ?? Infinity;
const sites = intEnv("SAMPLE_SITES", 50)!;
const SPLITS = Array.from({ length: intEnv("SAMPLE_SPLITS", 4)! }, (_, i) => `pv.${i}`);
const stream = process.env.PVFLOW_STREAM || "PV";
const servers = (process.env.NATS_URL || "nats://127.0.0.1:4222").split(",").map((s) => s.trim()).filter(Boolean);

/** Cumulative Zipf weights of sites 1..sites. */
const cdf = (() => {
  const w = Array.from({ length: sites }, (_, i) => 1 / (i + 1) ** ZIPF_S);
  const sum = w.reduce((a, b) => a + b, 0);
  let acc = 0;
  return w.map((x) => (acc += x / sum));
})();

/** A site index drawn from the Zipf distribution (binary search over the CDF). */
function drawSite(): number {
  const u = Math.random();
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return lo + 1;
}

/** FNV-1a: the split of a site. */
function splitOf(site: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < site.length; i++) h = Math.imul(h ^ site.charCodeAt(i), 0x01000193);
  return SPLITS[(h >>> 0) % SPLITS.length];
}

let malformed = 0;
/** The `n`-th event: its subject and payload. */
function event(n: number): { subject: string; data: string } {
  const site = `site${drawSite()}`;
  const subject = splitOf(site);
  const ts = Date.now();
  if (Math.random() < MALFORMED) {
    malformed++;
    switch (n % 3) {
      case 0: return { subject, data: `{"site":"${site}","user":"u${n}",` }; // not JSON (cut short)
      case 1: return { subject, data: JSON.stringify({ user: `u${n}`, ts }) }; // no site
      default: return { subject, data: JSON.stringify({ site: n, user: `u${n}`, ts }) }; // site not a string
    }
  }
  return { subject, data: JSON.stringify({ site, user: `u${n % 10_000}`, ts }) };
}

const opts: NodeConnectionOptions = { servers, name: "pvflow-sample-traffic", maxReconnectAttempts: -1 };
if (process.env.NATS_TOKEN) opts.token = process.env.NATS_TOKEN;
else if (process.env.NATS_USER) Object.assign(opts, { user: process.env.NATS_USER, pass: process.env.NATS_PASSWORD ?? "" });

let nc: NatsConnection;
try {
  nc = await connect(opts);
} catch (err) {
  console.error(`sample_traffic: cannot connect to NATS at ${servers.join(",")}: ${(err as Error).message}`);
  process.exit(1);
}
const jsm = await jetstreamManager(nc);
try {
  await jsm.streams.info(stream);
} catch {
  await jsm.streams.add({ name: stream, subjects: ["pv.>"] }).catch((err) => {
    if (!/already in use/i.test((err as Error).message)) throw err;
  });
  log(`created stream ${stream} (pv.>)`);
}
const js = jetstream(nc);

let stopping = false;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    if (stopping) process.exit(130);
    stopping = true;
  });
}

log(`publishing to ${stream} on ${SPLITS.join(",")} at ${rate}/s` +
  `${Number.isFinite(total) ? `, ${total} events` : ""}, ${sites} sites (Zipf s=${ZIPF_S}), ~${MALFORMED * 100}% malformed`);

const t0 = performance.now();
let start = t0;  // moved forward when the publisher falls behind, so it never bursts to catch up
let sent = 0;
let lastProgress = t0;
let lastSent = 0;
let failed: Error | undefined;

while (!stopping && sent < total) {
  const now = performance.now();
  if (now - lastProgress >= PROGRESS_MS) {
    const r = Math.round(((sent - lastSent) * 1000) / (now - lastProgress));
    log(`published ${sent} (${malformed} malformed), ${r}/s`);
    lastProgress = now;
    lastSent = sent;
  }
  let due = Math.floor((rate * (now - start)) / 1000) - sent;
  if (due > rate) { // more than a second behind: drop the debt
    start = now - (sent * 1000) / rate;
    due = 0;
  }
  if (due <= 0) {
    await Bun.sleep(Math.max(1, Math.min(20, 1000 / rate)));
    continue;
  }
  const n = Math.min(due, WINDOW, total - sent);
  const acks = [];
  for (let i = 0; i < n; i++) {
    const e = event(sent + i);
    acks.push(js.publish(e.subject, e.data));
  }
  try {
    await Promise.all(acks);
  } catch (err) {
    failed = err as Error;
    break;
  }
  sent += n;
}

const secs = (performance.now() - t0) / 1000;
log(`${failed ? `stopped by a publish error: ${failed.message}; ` : ""}published ${sent} (${malformed} malformed) in ${secs.toFixed(1)} s`);
await nc.drain().catch(() => {});
process.exit(failed ? 1 : 0);
