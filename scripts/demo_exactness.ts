/**
 * @module
 * The demo's closing line: events published (the stream's message count, from JetStream) against
 * events committed (the sum of the committed counts, paged from pvflow's `/counts`, plus the
 * dead letters stored in the dead-letter stream). Waits for the last checkpoint — until they
 * match, or `DEMO_EXACT_TIMEOUT_MS` — then prints one line:
 *
 *     published 12000, committed 12000 (11940 counted + 60 dead-lettered): exact
 *
 * or, if they never matched, the difference; exits 0 when exact, 1 otherwise.
 *
 * Environment: `DEMO_STATUS_URL` (default `http://127.0.0.1:8080`), `NATS_URL` (default
 * `nats://127.0.0.1:4222`), `PVFLOW_STREAM` (default `PV`), `PVFLOW_DLQ_SUBJECT` (default
 * `pvflow.dlq`), `DEMO_EXACT_TIMEOUT_MS` (default 30000).
 *
 * Run: `node_modules/.bin/bun scripts/demo_exactness.ts`
 */
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

const base = (process.env.DEMO_STATUS_URL || "http://127.0.0.1:8080").replace(/\/$/, "");
const servers = (process.env.NATS_URL || "nats://127.0.0.1:4222").split(",").map((s) => s.trim()).filter(Boolean);
const stream = process.env.PVFLOW_STREAM || "PV";
const dlqSubject = process.env.PVFLOW_DLQ_SUBJECT || "pvflow.dlq";
const timeoutMs = Number(process.env.DEMO_EXACT_TIMEOUT_MS || 30_000);

/** The sum of every committed count, read page by page. */
async function committedCounts(): Promise<number> {
  let sum = 0;
  let after: string | null = "";
  while (after !== null) {
    const q = after === "" ? "" : `&after=${encodeURIComponent(after)}`;
    const res = await fetch(`${base}/counts?limit=10000${q}`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`GET /counts: HTTP ${res.status}`);
    const page = (await res.json()) as { counts: Record<string, number>; next: string | null };
    for (const v of Object.values(page.counts)) sum += v;
    after = page.next;
  }
  return sum;
}

/** Messages in the stream that holds `subject` (0 when none does). */
async function messagesOn(jsm: JetStreamManager, subject: string): Promise<number> {
  const name = await jsm.streams.find(subject).catch(() => undefined);
  if (!name) return 0;
  return (await jsm.streams.info(name)).state.messages;
}

const nc = await connect({ servers, name: "pvflow-demo-exactness" });
const jsm = await jetstreamManager(nc);
const deadline = Date.now() + timeoutMs;
let line = "";
let exact = false;
for (;;) {
  try {
    const published = (await jsm.streams.info(stream)).state.messages;
    const [counted, dead] = await Promise.all([committedCounts(), messagesOn(jsm, dlqSubject)]);
    const committed = counted + dead;
    exact = committed === published;
    line = `published ${published}, committed ${committed} (${counted} counted + ${dead} dead-lettered): ` +
      (exact ? "exact" : `NOT exact, ${published - committed > 0 ? `${published - committed} missing` : `${committed - published} extra`}`);
  } catch (err) {
    line = `cannot compare published and committed: ${(err as Error).message}`;
  }
  if (exact || Date.now() >= deadline) break;
  await Bun.sleep(250); // the last checkpoint is at most an interval away
}
console.log(line + (exact ? "" : ` (after waiting ${timeoutMs} ms for the last checkpoint)`));
await nc.close();
process.exit(exact ? 0 : 1);
