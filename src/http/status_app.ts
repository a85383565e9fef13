/**
 * @module
 * The status server as a Hono app factory: health, readiness, status, checkpoint history, the
 * committed counts (the exactly-once view), Prometheus metrics and a manual checkpoint trigger.
 * Errors are JSON with the right status code, never a stack trace.
 */
import { Hono, type Context } from "hono";
import type { CheckpointStore, CountsPage, CountsQuery } from "../checkpoint/store.ts";
import type { DeadLetterReason } from "../types.ts";
import { bearerMatches } from "./auth.ts";
import type { RateHistory } from "../rate_history.ts";
import { jobStatus, rateHistoryJson, type JobView } from "./job_status.ts";
import { MetricsText } from "./metrics_text.ts";
import { opsMetricsText } from "./ops_metrics.ts";
import { mountSavepointRoute, type SavepointDeps } from "./savepoint_route.ts";
import { mountWindowsRoute } from "./windows_route.ts";

/** What the app serves from. */
export interface StatusAppDeps {
  job: JobView;
  store: Pick<CheckpointStore, "readCounts" | "readCount" | "listCheckpoints" | "getCheckpoint">;
  version: string;
  /** When set, every POST needs `Authorization: Bearer <adminToken>`. */
  adminToken?: string;
  /** Optional HTML for `GET /`. */
  dashboardHtml?: string;
  /** Server-side rates (`/status` `rates`, `GET /status/history`), sampled every `sampleIntervalMs`. */
  rates?: { history: RateHistory; sampleIntervalMs: number };
  /** When set, `POST /savepoints` writes savepoints with it. */
  savepoints?: SavepointDeps;
  /** With windows on: where `GET /windows` reads committed results. */
  windows?: Pick<CheckpointStore, "readWindows">;
}

/** Largest `top` accepted by `/counts` (every answer is built on the main thread: keep it bounded). */
export const MAX_TOP = 10_000;

/** Keys per `/counts` page when `limit` is not given, and the largest `limit`. */
export const DEFAULT_LIMIT = 1000;
export const MAX_LIMIT = 10_000;

/** Every dead-letter reason (a record, so the compiler checks it is complete): each series exists at 0. */
const DEAD_LETTER_REASONS = Object.keys({
  too_large: 0, not_utf8: 0, not_json: 0, not_object: 0, key_missing: 0, key_not_string: 0, key_empty: 0, key_too_long: 0,
  key_contains_nul: 0, key_lone_surrogate: 0, time_missing: 0, time_invalid: 0, late: 0,
} satisfies Record<DeadLetterReason, 0>) as DeadLetterReason[];

const jsonError = (c: Context, status: 400 | 401 | 404 | 405 | 429 | 500 | 503, error: string, extra = {}) =>
  c.json({ error, ...extra }, status);

/** Creates the status app. */
export function createStatusApp(deps: StatusAppDeps): Hono {
  const { job, store } = deps;
  const app = new Hono();

  app.use("*", async (c, next) => {
    if (c.req.method === "POST" && deps.adminToken && !bearerMatches(c.req.header("authorization"), deps.adminToken)) {
      c.header("WWW-Authenticate", 'Bearer realm="pvflow"');
      return jsonError(c, 401, "missing or wrong bearer token");
    }
    await next();
  });

  if (deps.dashboardHtml) {
    const html = deps.dashboardHtml;
    app.get("/", (c) => c.html(html));
  }

  // Liveness: a FAILED job will not recover by itself (it waits for a restart of the process).
  app.get("/healthz", (c) =>
    job.state === "FAILED"
      ? c.json({ status: "failed", state: job.state, reason: job.stateReason ?? null }, 503)
      : c.json({ status: "ok" }));

  app.get("/readyz", (c) => {
    const stalled = job.stalledSplits();
    const ready = job.state === "RUNNING" && job.natsConnected && stalled.length === 0;
    const reason = job.stateReason ??
      (stalled.length > 0 ? `stalled: ${stalled.map((s) => `${s.split} (no progress for ${Math.round(s.forMs / 1000)} s)`).join(", ")}` : null);
    const body = { ready, state: job.state, natsConnected: job.natsConnected, stalled: stalled.map((s) => s.split), reason };
    return c.json(body, ready ? 200 : 503);
  });

  app.get("/status", async (c) => c.json(await jobStatus(job, deps.version, store, deps.rates?.history)));
  if (deps.rates) {
    const { history, sampleIntervalMs } = deps.rates;
    app.get("/status/history", (c) => c.json(rateHistoryJson(history, sampleIntervalMs)));
  }

  app.get("/checkpoints", async (c) => {
    const recent = job.checkpointHistory;
    const known = new Set(recent.map((r) => r.id));
    const stored = recent.length >= 100 ? [] : await store.listCheckpoints(100);
    const older = stored.filter((s) => !known.has(s.id)).map((s) => ({
      id: s.id, status: "COMPLETED", triggerTime: s.triggerTime, durationMs: s.durationMs,
      alignmentMs: s.alignmentMs, rows: s.rows, bytes: s.bytes, subtasks: [],
    }));
    const all = [...recent, ...older].sort((a, b) => b.id - a.id).slice(0, 100);
    return c.json({ checkpoints: all.map(({ subtasks: _, ...r }) => r) });
  });

  app.get("/checkpoints/:id", async (c) => {
    const raw = c.req.param("id");
    const id = /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
    if (!(id >= 1)) return jsonError(c, 400, `checkpoint id must be a positive integer, got ${JSON.stringify(raw)}`);
    const rec = job.checkpointHistory.find((r) => r.id === id);
    if (rec) return c.json(rec);
    const stored = await store.getCheckpoint(id);
    if (stored) return c.json({ ...stored, status: "COMPLETED", subtasks: [] });
    return jsonError(c, 404, `checkpoint ${id} not found`);
  });

  app.post("/checkpoints", (c) => {
    // A manual trigger honours PVFLOW_CHECKPOINT_MIN_PAUSE_MS like the periodic ones do.
    const wait = job.state === "RUNNING" ? (job.coordinator?.pauseRemainingMs() ?? 0) : 0;
    if (wait > 0) {
      const retryAfterMs = Math.ceil(wait);
      c.header("Retry-After", String(Math.ceil(wait / 1000)));
      return jsonError(c, 429,
        `the last checkpoint ended less than PVFLOW_CHECKPOINT_MIN_PAUSE_MS (${job.config.checkpointMinPauseMs} ms) ago; retry in ${retryAfterMs} ms`,
        { retryAfterMs });
    }
    const t = job.triggerCheckpoint();
    if (!t) return jsonError(c, 503, `cannot trigger a checkpoint while the job is ${job.state}`, { state: job.state });
    return c.json({ id: t.id }, 202);
  });

  if (deps.savepoints) mountSavepointRoute(app, job, deps.savepoints);
  if (deps.windows) mountWindowsRoute(app, deps.windows);

  app.get("/counts", async (c) => {
    const { top, limit, after } = c.req.query();
    let query: CountsQuery;
    if (top !== undefined) {
      if (limit !== undefined || after !== undefined) return jsonError(c, 400, "top cannot be combined with limit or after");
      const n = /^\d+$/.test(top) ? Number(top) : NaN;
      if (!(n >= 1 && n <= MAX_TOP)) return jsonError(c, 400, `top must be an integer from 1 to ${MAX_TOP}, got ${JSON.stringify(top)}`);
      query = { top: n };
    } else {
      const n = limit === undefined ? DEFAULT_LIMIT : /^\d+$/.test(limit) ? Number(limit) : NaN;
      if (!(n >= 1 && n <= MAX_LIMIT)) return jsonError(c, 400, `limit must be an integer from 1 to ${MAX_LIMIT}, got ${JSON.stringify(limit)}`);
      query = { limit: n, after };
    }
    c.header("Content-Type", "application/json");
    return c.body(countsJson(await store.readCounts(query)));
  });

  app.get("/counts/:key", async (c) => {
    // Hono passes a segment with a malformed %-escape through undecoded: never let "%E0" alias the key "%E0".
    const raw = new URL(c.req.url).pathname.slice("/counts/".length);
    if (!wellEscaped(raw)) return jsonError(c, 400, `the key in the path must be percent-encoded UTF-8, got ${JSON.stringify(raw)}`);
    const key = c.req.param("key");
    const r = await store.readCount(key);
    if (!r) return jsonError(c, 404, `key ${JSON.stringify(key)} has no committed count`, { key });
    return c.json({ key, count: r.count, checkpointId: r.checkpointId });
  });

  app.get("/metrics", async (c) => {
    const ops = await opsMetricsText({ job, store, version: deps.version });
    c.header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    return c.body(metricsText(job) + ops);
  });

  const routes: Array<[string, string]> = [
    ["/healthz", "GET, HEAD"], ["/readyz", "GET, HEAD"], ["/status", "GET, HEAD"], ["/checkpoints", "GET, HEAD, POST"],
    ["/checkpoints/:id", "GET, HEAD"], ["/counts", "GET, HEAD"], ["/counts/:key", "GET, HEAD"], ["/metrics", "GET, HEAD"],
  ];
  if (deps.dashboardHtml) routes.push(["/", "GET, HEAD"]);
  if (deps.rates) routes.push(["/status/history", "GET, HEAD"]);
  if (deps.savepoints) routes.push(["/savepoints", "POST"]);
  for (const [r, allow] of routes) {
    app.all(r, (c) => {
      c.header("Allow", allow);
      return jsonError(c, 405, `method ${c.req.method} not allowed on ${c.req.path}`, { allow });
    });
  }

  app.notFound((c) => jsonError(c, 404, `no route ${c.req.method} ${c.req.path}`));
  app.onError((err, c) => {
    console.error(`status server: ${c.req.method} ${c.req.path}: ${err.message}`);
    return jsonError(c, 500, "internal error");
  });
  return app;
}

/**
 * `{"checkpointId": n, "counts": {...}[, "next": key | null]}`, written directly in the page's
 * order: no object is built, so a key like `__proto__` is just another key.
 */
function countsJson(page: CountsPage): string {
  const { keys, counts } = page;
  const parts = new Array<string>(keys.length);
  for (let i = 0; i < keys.length; i++) parts[i] = `${JSON.stringify(keys[i])}:${counts[i]}`;
  const next = page.next === undefined ? "" : `,"next":${JSON.stringify(page.next)}`;
  return `{"checkpointId":${page.checkpointId},"counts":{${parts.join(",")}}${next}}`;
}

/** Whether every `%` in a URL path segment starts an escape that decodes (as UTF-8). */
function wellEscaped(segment: string): boolean {
  if (!segment.includes("%")) return true;
  try {
    decodeURIComponent(segment);
    return true;
  } catch {
    return false;
  }
}

/** The Prometheus exposition of the job's metrics. */
export function metricsText(job: JobView): string {
  const t = job.metrics.totals();
  const m = new MetricsText()
    .counter("pvflow_records_in_total", "Events read from JetStream.", t.recordsIn)
    .counter("pvflow_records_out_total", "Events routed to count subtasks.", t.recordsOut)
    .counter("pvflow_records_counted_total", "Events counted by count subtasks.", t.counted)
    .counter("pvflow_dead_lettered_total", "Malformed events sent to the dead-letter subject, by reason.",
      DEAD_LETTER_REASONS.map((reason) => [{ reason }, t.deadLettered[reason] ?? 0]))
    .counter("pvflow_checkpoints_completed_total", "Completed checkpoints.", job.metrics.checkpointsCompleted)
    .counter("pvflow_checkpoints_failed_total", "Failed or aborted checkpoints.", job.metrics.checkpointsFailed)
    .gauge("pvflow_checkpoint_in_progress", "1 while a checkpoint is in flight.", job.coordinator?.inProgress ? 1 : 0)
    .gauge("pvflow_last_checkpoint_id", "Id of the latest completed checkpoint.", job.committed.checkpointId)
    .histogram("pvflow_checkpoint_duration_seconds", "End-to-end duration of completed checkpoints.", job.metrics.checkpointDuration)
    .histogram("pvflow_checkpoint_alignment_seconds", "Longest barrier alignment of completed checkpoints.", job.metrics.checkpointAlignment)
    .counter("pvflow_restarts_total", "Job restarts after failures.", job.restarts)
    .gauge("pvflow_keys", "Distinct keys in the count subtasks.", job.metrics.keys)
    .gauge("pvflow_up", "1 while the job is RUNNING.", job.state === "RUNNING" ? 1 : 0)
    .gauge("pvflow_nats_connected", "1 while the NATS connection is up.", job.natsConnected ? 1 : 0);
  const splits = job.splits ?? job.config.subjects; // cluster mode: the owned ones
  const cluster = job.cluster?.status();
  if (cluster) {
    m.gauge("pvflow_cluster_members", "Live members of this instance's cluster (by heartbeat).", cluster.members.length)
      .gauge("pvflow_cluster_owned_splits", "Splits this instance holds the lease of.", cluster.owned.length)
      .gauge("pvflow_cluster_unowned_splits", "Splits nobody holds a lease of (moving, or no member left).", cluster.unowned.length)
      .counter("pvflow_cluster_rebalances_total", "Changes of this instance's owned splits.", cluster.rebalances);
  }
  m.gauge("pvflow_split_lag", "Events in the stream not yet read, per split.",
    splits.map((s) => [{ split: s }, job.metrics.splits[s]?.pending ?? 0]));
  m.gauge("pvflow_split_committed_position", "Stream sequence of the latest completed checkpoint, per split.",
    splits.map((s) => [{ split: s }, job.committed.positions[s] ?? 0]));
  m.gauge("pvflow_split_delivered_sequence", "Stream sequence of the last event read, per split.",
    splits.map((s) => [{ split: s }, job.metrics.splits[s]?.delivered ?? 0]));
  const stalled = new Set(job.stalledSplits().map((s) => s.split));
  m.gauge("pvflow_split_stalled", "1 while a split has events waiting but its position has not moved for several intervals.",
    splits.map((s) => [{ split: s }, stalled.has(s) ? 1 : 0]));
  m.counter("pvflow_split_consumer_restarts_total", "Times a split's consumer was recreated in place (gap, reconnect, lost consumer).",
    splits.map((s) => [{ split: s }, job.metrics.consumerRestarts(s)]));
  const w = job.metrics.windows();
  if (w) {
    m.gauge("pvflow_windows_open", "Open event-time windows (the most any count subtask holds).", w.openWindows)
      .gauge("pvflow_window_entries", "(key, window) entries held by the count subtasks.", w.entries);
    if (w.watermark !== null) m.gauge("pvflow_window_watermark_ms", "Lowest count-subtask watermark (epoch ms).", w.watermark);
    if (w.sourceWatermark !== null) m.gauge("pvflow_source_watermark_ms", "Lowest source watermark (epoch ms).", w.sourceWatermark);
  }
  if (job.windowOutbox) {
    m.counter("pvflow_window_results_published_total", "Window results stored by JetStream from the outbox (this process).", job.windowOutbox.published);
  }
  return m.toString();
}
