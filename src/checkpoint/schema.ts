/**
 * @module
 * The checkpoint store's schema as drizzle tables — the source `drizzle-kit generate` diffs to
 * write the migrations in `migrations/` (see `drizzle.config.ts`) — and the ownership fence: an
 * `owner` row whose epoch every checkpoint insert must carry, so that only the process that
 * claimed the database last can commit.
 *
 * Two things drizzle cannot declare are added by hand to the generated migration 0000 (drizzle-kit
 * keeps hand edits: it diffs these tables against `migrations/meta/*_snapshot.json`, never the SQL):
 * `WITHOUT ROWID` on `counts`, and the fence trigger. A later migration that makes drizzle-kit
 * rebuild `counts` (it recreates a SQLite table for some column changes) must add `WITHOUT ROWID`
 * to its `CREATE TABLE` again; a trigger on a rebuilt `checkpoints` must be created again.
 * Migration 0002 adds by hand the split fence of cluster mode (`positions_fence`).
 * Migration 0001 likewise adds by hand the trigger that fills `window_outbox` from new
 * `window_counts` rows, and the index of `window_counts` by window start.
 */
import { sql } from "drizzle-orm";
import { check, integer, primaryKey, real, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** Completed checkpoints, one row each. */
export const checkpoints = sqliteTable("checkpoints", {
  id: integer("id").primaryKey(),
  triggerTime: integer("trigger_time").notNull(),
  completedTime: integer("completed_time").notNull(),
  durationMs: real("duration_ms").notNull(),
  alignmentMs: real("alignment_ms").notNull(),
  rows: integer("rows").notNull(),
  bytes: integer("bytes").notNull(),
  /** The owner epoch the checkpoint was committed under (NULL: written by 0.1.0). Last, as 0.1.0 databases got it by ALTER TABLE. */
  epoch: integer("epoch"),
});

/** Every split's position (stream sequence) as of the checkpoint that last moved it. */
export const positions = sqliteTable("positions", {
  stream: text("stream").notNull(),
  subject: text("subject").notNull(),
  seq: integer("seq").notNull(),
  checkpointId: integer("checkpoint_id").notNull(),
  streamCreated: text("stream_created"),
  /** Windows on: the split's max event time as of the checkpoint (NULL: none seen, or windows off). */
  maxEventTime: integer("max_event_time"),
  /** Windows on: the watermark the split's source had emitted (restored as its floor). */
  watermark: integer("watermark"),
  /**
   * Cluster mode: the fencing token (lease epoch) of the instance that owns the split — set when
   * it claims the split and carried by each of its commits; the `positions_fence` trigger
   * (migration 0002) aborts a write with an older epoch. NULL: never owned in cluster mode.
   */
  epoch: integer("epoch"),
}, (t) => [primaryKey({ columns: [t.stream, t.subject] })]);

/** A window result's columns: the results table and its outbox hold the same rows. */
const windowResult = () => ({
  key: text("key").notNull(),
  windowStart: integer("window_start").notNull(),
  windowEnd: integer("window_end").notNull(),
  count: integer("count").notNull(),
  revision: integer("revision").notNull(),
  checkpointId: integer("checkpoint_id").notNull(),
});

/** Committed window results (fired windows), one row per (key, window, revision). */
export const windowCounts = sqliteTable("window_counts", windowResult(),
  (t) => [primaryKey({ columns: [t.key, t.windowStart, t.revision] })]);

/** Window results committed but not yet acknowledged by JetStream (published after COMMIT, deleted once stored). */
export const windowOutbox = sqliteTable("window_outbox", windowResult(),
  (t) => [primaryKey({ columns: [t.key, t.windowStart, t.revision] })]);

/** The open windows of the latest completed checkpoint (replaced whole by each checkpoint with windows on). */
export const windowState = sqliteTable("window_state", {
  key: text("key").notNull(),
  windowStart: integer("window_start").notNull(),
  count: integer("count").notNull(),
  /** The last revision emitted (0: none yet). */
  revision: integer("revision").notNull(),
  /** 1 when the window has fired. */
  fired: integer("fired").notNull(),
}, (t) => [primaryKey({ columns: [t.key, t.windowStart] })]);

/** Facts about the database: `opened_at`, `key_field` (see `store_meta.ts`). */
export const meta = sqliteTable("meta", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});

/** The job's sink: every key's count as of the latest completed checkpoint (WITHOUT ROWID, see above). */
export const counts = sqliteTable("counts", {
  key: text("key").primaryKey(),
  count: integer("count").notNull(),
  checkpointId: integer("checkpoint_id").notNull(),
});

/** The one process allowed to commit (one row; epoch + 1 at every claim). */
export const owner = sqliteTable("owner", {
  id: integer("id").primaryKey(),
  epoch: integer("epoch").notNull(),
  pid: integer("pid").notNull(),
  host: text("host").notNull(),
  startedAt: text("started_at").notNull(),
}, (t) => [check("owner_one_row", sql`${t.id} = 1`)]);

/** The text a fenced commit fails with (RAISE takes a literal only: migration 0000 repeats it). */
export const FENCED_MESSAGE = "fenced: another pvflow process took over the database";

/** The text a commit or claim fenced by a split's newer lease fails with (migration 0002 repeats it). */
export const SPLIT_FENCED_MESSAGE = "fenced: a newer lease owns the split";

/** Who claims the database. */
export interface Instance {
  pid: number;
  host: string;
  startedAt: string;
}

/** The claim: epoch + 1 (1 on a fresh database) with the claimer's identity; returns the epoch. */
export const CLAIM = `INSERT INTO owner (id, epoch, pid, host, started_at) VALUES (1, 1, ?, ?, ?)
  ON CONFLICT (id) DO UPDATE SET epoch = owner.epoch + 1, pid = excluded.pid, host = excluded.host,
    started_at = excluded.started_at
  RETURNING epoch`;
