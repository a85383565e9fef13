/**
 * @module
 * `POST /savepoints` (admin: the status app's bearer check covers every POST): triggers a
 * checkpoint, waits for it to complete, then writes a savepoint — a consistent single-file copy of
 * the checkpoint store (`VACUUM INTO`, see `checkpoint/savepoint.ts`) — and answers 201 with its
 * path and the checkpoint it holds. One savepoint at a time.
 */
import type { Context, Hono } from "hono";
import type { Savepoint } from "../checkpoint/savepoint.ts";
import type { JobView } from "./job_status.ts";

/** How the app takes savepoints. */
export interface SavepointDeps {
  /** Why this database cannot have savepoints (a libSQL server): the route answers 501 with it. */
  unsupported?: string;
  /** Writes the copy of the store as it is now. */
  write(): Promise<Savepoint>;
}

type Status = 409 | 429 | 500 | 501 | 503;
const fail = (c: Context, status: Status, error: string, extra = {}) => c.json({ error, ...extra }, status);

/** Adds `POST /savepoints` to `app`. */
export function mountSavepointRoute(app: Hono, job: Pick<JobView, "state" | "coordinator" | "triggerCheckpoint" | "config">, deps: SavepointDeps): void {
  let busy = false;
  app.post("/savepoints", async (c) => {
    if (deps.unsupported) return fail(c, 501, deps.unsupported);
    if (busy) return fail(c, 409, "a savepoint is being written; retry when it is done");
    if (job.state !== "RUNNING") return fail(c, 503, `cannot take a savepoint while the job is ${job.state}`, { state: job.state });
    const wait = job.coordinator?.pauseRemainingMs() ?? 0;
    if (wait > 0) {
      c.header("Retry-After", String(Math.ceil(wait / 1000)));
      return fail(c, 429,
        `the last checkpoint ended less than PVFLOW_CHECKPOINT_MIN_PAUSE_MS (${job.config.checkpointMinPauseMs} ms) ago; retry in ${Math.ceil(wait)} ms`,
        { retryAfterMs: Math.ceil(wait) });
    }
    const t = job.triggerCheckpoint();
    if (!t) return fail(c, 503, `cannot take a savepoint while the job is ${job.state}`, { state: job.state });
    busy = true;
    try {
      const record = await t.done;
      if (record.status !== "COMPLETED") {
        return fail(c, 503, `checkpoint ${record.id} ${record.status}: ${record.failureReason ?? "unknown reason"}; no savepoint written`,
          { checkpointId: record.id });
      }
      let sp: Savepoint;
      try {
        sp = await deps.write();
      } catch (err) {
        return fail(c, 500, (err as Error).message);
      }
      // A periodic checkpoint may have completed between the two: the copy holds the newest one.
      return c.json({ ...sp, triggeredCheckpointId: record.id }, 201);
    } finally {
      busy = false;
    }
  });
}
