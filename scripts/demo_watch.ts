/**
 * @module
 * The demo's live view: a legend, then every 2 s one line from pvflow's status server — job
 * state, records in / counted / committed / dead-lettered, lag, the latest completed checkpoint
 * (id, duration) and the top 5 committed counts (the exactly-once view, as of that checkpoint).
 *
 * Environment: `DEMO_STATUS_URL` (default `http://127.0.0.1:8080`), `DEMO_SECONDS` (stop after
 * this many seconds; default: until SIGINT/SIGTERM), `DEMO_INTERVAL_MS` (default 2000).
 *
 * Run: `node_modules/.bin/bun scripts/demo_watch.ts`
 */
export {}; // a module: top-level await

const base = (process.env.DEMO_STATUS_URL || "http://127.0.0.1:8080").replace(/\/$/, "");
const seconds = Number(process.env.DEMO_SECONDS || 0);
const intervalMs = Number(process.env.DEMO_INTERVAL_MS || 2000);

interface Status {
  state: string;
  splits: { lag: number | null }[];
  records: { in: number; counted: number; committed?: number; deadLettered: number };
  restarts: number;
  checkpoints: { completed: number; failed: number; latestCompleted: { id: number; durationMs: number } | null };
}
interface Counts {
  checkpointId: number | null;
  counts: Record<string, number>;
}

async function get<T>(path: string): Promise<T> {
  const res = await fetch(base + path, { signal: AbortSignal.timeout(1500) });
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

const pad = (v: unknown, n: number) => String(v).padStart(n);
const padEnd = (v: unknown, n: number) => String(v).padEnd(n);

let stopping = false;
let wake: (() => void) | undefined;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    stopping = true;
    wake?.();
  });
}

console.log([
  "legend:",
  "  in          events read from JetStream (malformed ones included)",
  "  counted     events counted in memory by the count subtasks",
  "  committed   events in the latest completed checkpoint: the sum of the counts stored in libSQL",
  "              (the exactly-once view a restart resumes from; it trails counted by up to a",
  "              checkpoint interval; the closing line checks it against what was published)",
  "  dead        malformed events sent to the dead-letter subject",
  "  lag         events in the stream not yet read, all splits",
  "  checkpoint  latest completed checkpoint: #id and its duration, trigger to committed",
  "  top 5       the largest committed counts (GET /counts?top=5)",
  "",
].join("\n"));
console.log(
  `${pad("t", 5)}  ${padEnd("state", 10)}${pad("in", 10)}${pad("counted", 10)}${pad("committed", 10)}${pad("dead", 7)}${pad("lag", 8)}` +
    `  ${padEnd("checkpoint", 14)}top 5 committed`,
);
const t0 = Date.now();
const deadline = seconds > 0 ? t0 + seconds * 1000 : Infinity;
for (let tick = 1; !stopping; tick++) {
  const next = t0 + tick * intervalMs;
  if (next > deadline) {
    await new Promise<void>((r) => { wake = r; setTimeout(r, Math.max(0, deadline - Date.now())); });
    break;
  }
  await new Promise<void>((r) => { wake = r; setTimeout(r, Math.max(0, next - Date.now())); });
  if (stopping) break;
  const t = `${Math.round((Date.now() - t0) / 1000)}s`;
  try {
    const [s, c] = await Promise.all([get<Status>("/status"), get<Counts>("/counts?top=5")]);
    const lagKnown = s.splits.some((x) => x.lag !== null);
    const lag = lagKnown ? s.splits.reduce((a, x) => a + (x.lag ?? 0), 0) : "-";
    const cp = s.checkpoints.latestCompleted;
    const top = Object.entries(c.counts).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`).join(" ");
    const extra = (s.restarts ? `  restarts=${s.restarts}` : "") + (s.checkpoints.failed ? `  failed-ckpts=${s.checkpoints.failed}` : "");
    console.log(
      `${pad(t, 5)}  ${padEnd(s.state, 10)}${pad(s.records.in, 10)}${pad(s.records.counted, 10)}${pad(s.records.committed ?? "-", 10)}` +
        `${pad(s.records.deadLettered, 7)}${pad(lag, 8)}  ${padEnd(cp ? `#${cp.id} ${cp.durationMs.toFixed(1)}ms` : "-", 14)}` +
        `${top || "-"}${extra}`,
    );
  } catch (err) {
    console.log(`${pad(t, 5)}  status server not answering: ${(err as Error).message}`);
  }
}
