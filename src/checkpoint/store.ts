/**
 * @module
 * The checkpoint store in libSQL: an embedded file (`file:`) or a libSQL server (`http(s)://`,
 * `libsql://`). One transaction per completed checkpoint writes the checkpoint row, every split's
 * position and the absolute counts of the changed keys, so the `counts` table — the job's sink —
 * always equals the state of the latest completed checkpoint. Opening claims the database (a new
 * owner epoch, see `schema.ts`); every commit carries that epoch and is refused whole once another
 * process has claimed the database since. The cold reads (`/counts`, checkpoint history, the owner)
 * are drizzle queries; the hot commit and the restore stay hand-built (their figures at each).
 */
import { hostname } from "node:os";
import { createClient, type Client, type InStatement } from "@libsql/client";
import { and, desc, eq, gt, sql, type SQL } from "drizzle-orm";
import { drizzle, type LibSQLDatabase } from "drizzle-orm/libsql";
import { redactUrl } from "../config.ts";
import { checkpoints, CLAIM, counts as countsTable, FENCED_MESSAGE, owner as ownerTable, SPLIT_FENCED_MESSAGE } from "./schema.ts";
import { migrateSchema } from "./schema_migrate.ts";
import { encodeCountRows } from "./count_rows.ts";
import { retentionStatement } from "./retention.ts";
import type { KeyCounts, SplitPositions } from "../types.ts";
import type { WindowSnapshot } from "../operators/window_state.ts";
import type { CheckpointData, CheckpointWindows } from "./coordinator.ts";

/** The id of the latest completed checkpoint (0: none); the hand-built restore's copy below. */
const LATEST_ID = sql<number>`coalesce(max(${checkpoints.id}), 0)`.mapWith(Number);
const LATEST_ID_SQL = "SELECT coalesce(max(id), 0) FROM checkpoints";

/**
 * Rows whose key libSQL can read back exactly: a key with a NUL byte (accepted by versions before
 * `key_contains_nul`) is bound faithfully but read back only up to the NUL, so it would restore
 * — and show — as another key. Such rows are left out of every read.
 */
const FAITHFUL_KEY_SQL = "instr(CAST(key AS BLOB), x'00') = 0";
const FAITHFUL_KEY: SQL = sql.raw(FAITHFUL_KEY_SQL);

/** A checkpoint row as {@link StoredCheckpoint} (without its epoch). */
const CHECKPOINT_FIELDS = {
  id: checkpoints.id, triggerTime: checkpoints.triggerTime, completedTime: checkpoints.completedTime,
  durationMs: checkpoints.durationMs, alignmentMs: checkpoints.alignmentMs, rows: checkpoints.rows, bytes: checkpoints.bytes,
};

/** Whether `key` can be stored and read back exactly (see the event parser's key checks). */
export function isStorableKey(key: string): boolean {
  return key.indexOf("\u0000") === -1 && key.isWellFormed();
}

/** What {@link CheckpointStore.readCounts} reads: a page in key order, or the top N. */
export type CountsQuery = { limit: number; after?: string } | { top: number };

/** Committed counts in order (key order for a page, count order for top N) and their checkpoint. */
export interface CountsPage {
  checkpointId: number;
  keys: string[];
  counts: number[];
  /** For a page: the `after` of the next page, or null when this is the last one. */
  next?: string | null;
}

/** How long a write waits for another connection's lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

/**
 * Changed counts in ONE statement per part (a count subtask's snapshot) whose SQL never changes:
 * the rows travel as one JSON parameter (`[[key, count], ...]`, `count_rows.ts`) that SQLite
 * unpacks with `json_each`. A multi-row `VALUES`
 * statement per 500 rows compiled ~140 kB of bytecode per statement on every commit (the driver
 * prepares each statement it runs), which the libsql driver frees only when the garbage collector
 * finalizes the statement long after: 230k changed keys left ~65 MB of native memory per commit.
 * Keys and counts read back exactly (JSON escapes are undone by SQLite; keys hold no NUL and no
 * lone surrogate, see `event_parser.ts`; counts are integers below 2^53). `WHERE true` keeps
 * SQLite from reading `ON CONFLICT` as a join constraint.
 */
const UPSERT_COUNTS = `INSERT INTO counts (key, count, checkpoint_id)
  SELECT j.value ->> 0, j.value ->> 1, ? FROM json_each(?) AS j WHERE true
  ON CONFLICT (key) DO UPDATE SET count = excluded.count, checkpoint_id = excluded.checkpoint_id`;

/** Cluster mode: the id the commit's checkpoint row took, in the same transaction (it is inserted first). */
const CLUSTER_CHECKPOINT_ID = "(SELECT max(id) FROM checkpoints)";

/**
 * Cluster mode: the same, adding each delta to the shared count, under the checkpoint id this
 * transaction's checkpoint row just took (instances allocate ids independently).
 */
const ADD_COUNT_DELTAS = `INSERT INTO counts (key, count, checkpoint_id)
  SELECT j.value ->> 0, j.value ->> 1, ${CLUSTER_CHECKPOINT_ID} FROM json_each(?) AS j WHERE true
  ON CONFLICT (key) DO UPDATE SET count = counts.count + excluded.count, checkpoint_id = excluded.checkpoint_id`;

/** Rows per multi-row upsert (2 or 3 parameters each, well under SQLite's limit). */
const ROWS_PER_STATEMENT = 500;

/** The restored state: the latest completed checkpoint. */
export interface RestoredCheckpoint {
  /** 0 when no checkpoint was ever completed. */
  checkpointId: number;
  positions: SplitPositions;
  /** Creation time of the stream the positions belong to (JetStream's `created`), if known. */
  streamCreated?: string;
  counts: KeyCounts;
  /** Cluster mode: the oldest checkpoint that moved one of the claimed splits (the dead-letter scan starts there). */
  oldestCheckpointId?: number;
  /** Rows left out because their key cannot be read back exactly (NUL, from versions before `key_contains_nul`). */
  unreadable?: { keys: number; events: number };
  /** Windows: per split, its max event time and its source's watermark (only splits that have them). */
  maxEventTimes?: Record<string, number>;
  watermarks?: Record<string, number>;
  /** Windows: the open windows of every key (only when some are stored). */
  windows?: WindowSnapshot;
}

/** A window result as committed (`GET /windows`). */
export interface StoredWindow {
  key: string;
  windowStart: number;
  windowEnd: number;
  count: number;
  revision: number;
  checkpointId: number;
}

/** What {@link CheckpointStore.readWindows} reads: one key's windows (optionally in a time range), or every key's window starting at `start`. */
export type WindowsQuery = { key: string; from?: number; to?: number } | { start: number };

/** A completed checkpoint as stored. */
export interface StoredCheckpoint {
  id: number;
  triggerTime: number;
  completedTime: number;
  durationMs: number;
  alignmentMs: number;
  rows: number;
  bytes: number;
}

/** How to open a store. */
export interface StoreOptions {
  url: string;
  authToken?: string;
  stream: string;
  /**
   * Commit under this epoch, claimed by another store of this process (the commit thread joins
   * the main thread's claim). @default claim the database: a new epoch
   */
  epoch?: number;
  /** Rows each commit leaves in the `checkpoints` history (see `retention.ts`). @default all */
  checkpointHistory?: number;
  /**
   * Cluster mode: the cluster's name. Its instances share one claim of the database (the first to
   * open bumps the owner epoch, the others join it), and fence each other per split instead
   * (see {@link CheckpointStore.claimSplits}). @default one instance owns the database
   */
  cluster?: string;
}

/** Whether an error message is a fenced commit's (another process owns the database). */
export function isFenced(message: string): boolean {
  return message.includes(FENCED_MESSAGE);
}

/** Whether an error message is a cluster commit's or claim's fenced by a split's newer lease. */
export function isSplitFenced(message: string): boolean {
  return message.includes(SPLIT_FENCED_MESSAGE);
}

/**
 * The claim of a cluster's instances: the first to open bumps the owner epoch (fencing out a
 * single instance still running on the database) and marks the owner as the cluster; the others
 * find the mark and join its epoch. One write transaction, so two opening at once cannot both bump.
 */
function clusterClaim(cluster: string): InStatement[] {
  return [
    {
      sql: `INSERT INTO owner (id, epoch, pid, host, started_at) VALUES (1, 1, 0, ?, ?)
            ON CONFLICT (id) DO UPDATE SET epoch = owner.epoch + 1, pid = 0, host = excluded.host, started_at = excluded.started_at
            WHERE owner.host IS NOT excluded.host`,
      args: [`cluster:${cluster}`, new Date().toISOString()],
    },
    "SELECT epoch FROM owner WHERE id = 1",
  ];
}

/** Reads and writes checkpoints. */
export class CheckpointStore {
  readonly client: Client;
  /** The same connection, for drizzle's queries. */
  readonly #db: LibSQLDatabase;
  readonly #stream: string;
  readonly #url: string;
  /** The owner epoch this store commits under. */
  readonly epoch: number;
  readonly #retention: InStatement | undefined;

  private constructor(client: Client, stream: string, url: string, epoch: number, history?: number) {
    this.client = client;
    this.#db = drizzle(client);
    this.#stream = stream;
    this.#url = url;
    this.epoch = epoch;
    this.#retention = history === undefined ? undefined : retentionStatement(history);
  }

  /** Opens the database, creates or upgrades the schema, and claims it (unless `epoch` is given). */
  static async open(options: StoreOptions): Promise<CheckpointStore> {
    const fail = (err: unknown) =>
      new Error(`cannot open the checkpoint store ${redactUrl(options.url)}: ${(err as Error).message}`);
    let client: Client;
    try {
      // `timeout` (busy timeout, file: only) applies to every pooled connection; a PRAGMA would reach one.
      client = createClient({ url: options.url, authToken: options.authToken, timeout: BUSY_TIMEOUT_MS });
    } catch (err) {
      throw fail(err); // a file in a missing directory fails here
    }
    let epoch = options.epoch;
    try {
      if (options.url.startsWith("file:")) {
        // WAL + NORMAL: a COMMIT survives a crash of the process (kill -9), not of the machine.
        await client.execute("PRAGMA journal_mode = WAL");
        await client.execute("PRAGMA synchronous = NORMAL");
      }
      // A store joining its process's claim (the commit thread) opens a database already migrated.
      if (epoch === undefined) await migrateSchema(client);
      // A real write at startup: a read-only or full database stops startup with one clear line
      // instead of failing every checkpoint later. The claim is in the same transaction.
      const stmts: InStatement[] = [{
        sql: "INSERT INTO meta (key, value) VALUES ('opened_at', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        args: [new Date().toISOString()],
      }];
      if (epoch === undefined && options.cluster !== undefined) stmts.push(...clusterClaim(options.cluster));
      else if (epoch === undefined) stmts.push({ sql: CLAIM, args: [process.pid, hostname(), new Date().toISOString()] });
      const rs = await client.batch(stmts, "write");
      epoch ??= Number(rs[rs.length - 1].rows[0][0]);
    } catch (err) {
      client.close();
      throw fail(err);
    }
    return new CheckpointStore(client, options.stream, options.url, epoch, options.checkpointHistory);
  }

  /** The process that owns the database now (the last to claim it). */
  async owner(): Promise<{ epoch: number; pid: number; host: string; startedAt: string } | undefined> {
    const { epoch, pid, host, startedAt } = ownerTable;
    return await this.#db.select({ epoch, pid, host, startedAt }).from(ownerTable).where(eq(ownerTable.id, 1)).get();
  }

  /**
   * The latest completed checkpoint: its id, this stream's positions, and all counts.
   * Hand-built, not drizzle: it reads every key (up to millions) on each start and restart, and
   * drizzle's row mapping made it 1.1–1.35× slower (1546 vs 1149 ms median for 310k keys;
   * `bench/drizzle_upsert.ts`), time the job spends not counting.
   */
  async loadLatest(): Promise<RestoredCheckpoint> {
    const [cp, pos, cnt, win, unfaithful] = await this.client.batch([
      LATEST_ID_SQL,
      { sql: "SELECT subject, seq, stream_created, max_event_time, watermark FROM positions WHERE stream = ?", args: [this.#stream] },
      `SELECT key, count FROM counts WHERE ${FAITHFUL_KEY_SQL}`,
      "SELECT key, window_start, count, revision, fired FROM window_state",
      `SELECT count(*), coalesce(sum(count), 0) FROM counts WHERE NOT ${FAITHFUL_KEY_SQL}`,
    ], "read");
    const positions: SplitPositions = {};
    let streamCreated: string | undefined;
    let maxEventTimes: Record<string, number> | undefined;
    let watermarks: Record<string, number> | undefined;
    for (const r of pos.rows) {
      positions[r[0] as string] = Number(r[1]);
      streamCreated ??= (r[2] as string | null) ?? undefined;
      if (r[3] !== null) (maxEventTimes ??= {})[r[0] as string] = Number(r[3]);
      if (r[4] !== null) (watermarks ??= {})[r[0] as string] = Number(r[4]);
    }
    let windows: WindowSnapshot | undefined;
    if (win.rows.length > 0) {
      windows = { watermark: -Infinity, keys: [], starts: [], counts: [], revisions: [], fired: [] };
      const fired = new Set<number>();
      for (const r of win.rows) {
        windows.keys.push(r[0] as string);
        windows.starts.push(Number(r[1]));
        windows.counts.push(Number(r[2]));
        windows.revisions.push(Number(r[3]));
        if (Number(r[4]) === 1) fired.add(Number(r[1]));
      }
      windows.fired = [...fired];
    }
    const n = cnt.rows.length;
    const counts: KeyCounts = { keys: new Array(n), counts: new Array(n) };
    for (let i = 0; i < n; i++) {
      const r = cnt.rows[i];
      counts.keys[i] = r[0] as string;
      counts.counts[i] = Number(r[1]);
    }
    const left = { keys: Number(unfaithful.rows[0][0]), events: Number(unfaithful.rows[0][1]) };
    return {
      checkpointId: Number(cp.rows[0][0]), positions, streamCreated, counts, maxEventTimes, watermarks, windows,
      ...(left.keys > 0 ? { unreadable: left } : {}),
    };
  }

  /** The latest checkpoint id as a drizzle query; in a `db.batch` (one deferred transaction) with the read it dates. */
  #latestId() {
    return this.#db.select({ id: LATEST_ID }).from(checkpoints);
  }

  /**
   * Writes one checkpoint in ONE transaction; resolves with the bytes of data written.
   * Hand-built multi-row statements, not drizzle: for 10k changed keys drizzle's query building
   * made the whole commit 3.2–4.0× slower in three runs (e.g. 79 vs 20 ms median, its building
   * alone 48 ms; `bench/drizzle_upsert.ts`) — on the commit thread, once per checkpoint.
   */
  async commit(data: CheckpointData, streamCreated?: string): Promise<{ bytes: number }> {
    const { record, positions, keys, counts, windows, encoded = [] } = data;
    const now = Date.now();
    const id = record.id;
    const subjects = Object.keys(positions);
    let bytes = 0;
    const stmts: InStatement[] = [];
    const fence = data.fence;
    // Cluster mode: instances allocate checkpoint ids independently, so the stored row takes the
    // next free id inside the (serialized) write transaction, and this commit's rows point at it
    // (CLUSTER_CHECKPOINT_ID).
    if (subjects.length > 0) {
      const args: (string | number | null)[] = [];
      for (const s of subjects) {
        args.push(this.#stream, s, positions[s], streamCreated ?? null,
          finiteOrNull(windows?.maxEventTimes[s]), finiteOrNull(windows?.watermarks[s]));
        // The id as a parameter (one instance) keeps the SQL the same in every commit.
        args.push(fence ? fence[s] ?? null : id);
        bytes += s.length + 16;
      }
      const epochCol = fence ? ", epoch" : "";
      stmts.push({
        sql: `INSERT INTO positions (stream, subject, seq, stream_created, max_event_time, watermark${epochCol}, checkpoint_id)
              VALUES ${placeholders(subjects.length, 7, fence ? CLUSTER_CHECKPOINT_ID : undefined)}
              ON CONFLICT (stream, subject) DO UPDATE SET seq = excluded.seq, checkpoint_id = excluded.checkpoint_id,
                stream_created = excluded.stream_created, max_event_time = excluded.max_event_time,
                watermark = excluded.watermark${fence ? ", epoch = excluded.epoch" : ""}`,
        args,
      });
    }
    if (windows) bytes += windowStatements(windows, id, stmts);
    // Each part is one statement (a part is a count subtask's snapshot, in key order: one sweep).
    const parts = keys.length > 0 ? [encodeCountRows({ keys, counts }), ...encoded] : encoded;
    let rows = 0;
    for (const part of parts) {
      if (part.rows === 0) continue;
      bytes += part.bytes;
      rows += part.rows;
      // One instance writes absolute counts; cluster instances add their deltas to the shared sink.
      stmts.push(fence ? { sql: ADD_COUNT_DELTAS, args: [part.json] } : { sql: UPSERT_COUNTS, args: [id, part.json] });
    }
    // The checkpoint row FIRST: its insert is where the fence trigger checks the epoch, so a fenced
    // commit fails before the server does any other work (and the whole transaction aborts).
    stmts.unshift({
      sql: `INSERT INTO checkpoints (id, trigger_time, completed_time, duration_ms, alignment_ms, rows, bytes, epoch)
            VALUES (${fence ? "(SELECT coalesce(max(id), 0) + 1 FROM checkpoints)" : "?"}, ?, ?, ?, ?, ?, ?, ?)`,
      // End to end as of the commit: the commit itself ends within a few ms of this.
      args: [...(fence ? [] : [id]), record.triggerTime, now, now - record.triggerTime, record.alignmentMs ?? 0, rows, bytes, this.epoch],
    });
    if (this.#retention) stmts.push(this.#retention); // after the new row: the newest are kept
    try {
      await this.client.batch(stmts, "write");
    } catch (err) {
      // libsql 0.5 leaves a statement that failed with SQLITE_BUSY in progress, and every later COMMIT
      // on that connection then fails (tursodatabase/libsql-client-ts#352): replace the connections.
      if (this.client.protocol === "file") await this.client.reconnect();
      if (isFenced((err as Error).message)) throw new Error(await this.#fencedReason());
      if (isSplitFenced((err as Error).message)) throw new Error(await this.#splitFencedReason(fence ?? {}));
      throw err;
    }
    return { bytes };
  }

  /** Why a commit was fenced, naming the process that owns the database now. */
  async #fencedReason(): Promise<string> {
    const o = await this.owner().catch(() => undefined);
    const who = o ? `pid ${o.pid} on ${o.host}, started ${o.startedAt}, epoch ${o.epoch}` : "owner unknown";
    return `${FENCED_MESSAGE} ${redactUrl(this.#url)} (${who}); this process holds epoch ${this.epoch} and stops committing`;
  }

  /** Why a cluster commit or claim was fenced: the splits a newer lease has claimed. */
  async #splitFencedReason(fence: Record<string, number>): Promise<string> {
    const rs = await this.client.execute({ sql: "SELECT subject, epoch FROM positions WHERE stream = ?", args: [this.#stream] })
      .catch(() => undefined);
    const newer = (rs?.rows ?? []).filter((r) => r[0] as string in fence && Number(r[1]) > fence[r[0] as string])
      .map((r) => `${r[0]} (epoch ${r[1]} > ${fence[r[0] as string]})`);
    return `${SPLIT_FENCED_MESSAGE}: ${newer.length > 0 ? newer.join(", ") : "a split"} was claimed by another instance; this one stops committing it`;
  }

  /**
   * Cluster mode's restore: claims the splits under their lease epochs and reads their positions,
   * in ONE write transaction. From its commit on, a commit of an older owner (a zombie, or this
   * instance's own earlier attempt) that writes any of these splits aborts whole; and what such a
   * commit landed before it is in the positions read here, with its deltas in the sink. Counts are
   * not restored: each attempt counts deltas from zero (the sink holds the sum). Fails with
   * {@link SPLIT_FENCED_MESSAGE} when a newer lease already claimed one of the splits.
   */
  async claimSplits(fence: Record<string, number>): Promise<RestoredCheckpoint> {
    const splits = Object.keys(fence);
    const stmts: InStatement[] = splits.map((s) => ({
      sql: `INSERT INTO positions (stream, subject, seq, checkpoint_id, epoch) VALUES (?, ?, 0, 0, ?)
            ON CONFLICT (stream, subject) DO UPDATE SET epoch = excluded.epoch`,
      args: [this.#stream, s, fence[s]],
    }));
    stmts.push(
      { sql: "SELECT subject, seq, stream_created, checkpoint_id FROM positions WHERE stream = ?", args: [this.#stream] },
      LATEST_ID_SQL,
    );
    let rs;
    try {
      rs = await this.client.batch(stmts, "write");
    } catch (err) {
      if (isSplitFenced((err as Error).message)) throw new Error(await this.#splitFencedReason(fence));
      throw err;
    }
    const positions: SplitPositions = {};
    let streamCreated: string | undefined;
    // The oldest checkpoint among these splits' positions: where the dead-letter scan starts.
    let since: number | undefined;
    for (const r of rs[rs.length - 2].rows) {
      const split = r[0] as string;
      if (!(split in fence)) continue; // another instance's: moving on without this one reading it
      positions[split] = Number(r[1]);
      streamCreated ??= (r[2] as string | null) ?? undefined;
      if (Number(r[3]) > 0) since = Math.min(since ?? Infinity, Number(r[3]));
    }
    return {
      checkpointId: Number(rs[rs.length - 1].rows[0][0]), positions, streamCreated,
      counts: { keys: [], counts: [] }, oldestCheckpointId: since,
    };
  }

  /** The id of the latest completed checkpoint (0: none). */
  async latestCheckpointId(): Promise<number> {
    return (await this.#latestId())[0].id;
  }

  /**
   * One page of committed counts with the checkpoint it reflects, read in one transaction:
   * `{ limit, after }` is keyset pagination in key order (UTF-8 byte order, SQLite's BINARY
   * collation) starting after key `after`; `{ top }` is the `top` largest, by count then key.
   */
  async readCounts(query: CountsQuery): Promise<CountsPage> {
    const paged = !("top" in query);
    const rows = this.#db.select({ key: countsTable.key, count: countsTable.count }).from(countsTable);
    const [cp, rs] = await this.#db.batch([
      this.#latestId(),
      paged
        // One row more than asked: whether there is a next page, without a second query.
        ? rows.where(and(gt(countsTable.key, query.after ?? ""), FAITHFUL_KEY)).orderBy(countsTable.key).limit(query.limit + 1)
        : rows.where(FAITHFUL_KEY).orderBy(desc(countsTable.count), countsTable.key).limit(query.top),
    ]);
    const n = paged ? Math.min(rs.length, query.limit) : rs.length;
    const page: CountsPage = { checkpointId: cp[0].id, keys: new Array(n), counts: new Array(n) };
    for (let i = 0; i < n; i++) {
      page.keys[i] = rs[i].key;
      page.counts[i] = rs[i].count;
    }
    if (paged) page.next = rs.length > n ? page.keys[n - 1] : null;
    return page;
  }

  /** The committed count of one key, or undefined when never counted. */
  async readCount(key: string): Promise<{ count: number; checkpointId: number } | undefined> {
    // Such a key is never stored (it is dead-lettered), and binding it would look up another
    // key: libSQL turns a lone surrogate into U+FFFD.
    if (!isStorableKey(key)) return undefined;
    const [cp, rs] = await this.#db.batch([
      this.#latestId(),
      this.#db.select({ count: countsTable.count }).from(countsTable).where(eq(countsTable.key, key)),
    ]);
    if (rs.length === 0) return undefined;
    return { count: rs[0].count, checkpointId: cp[0].id };
  }

  /** One completed checkpoint, or undefined. */
  async getCheckpoint(id: number): Promise<StoredCheckpoint | undefined> {
    return await this.#db.select(CHECKPOINT_FIELDS).from(checkpoints).where(eq(checkpoints.id, id)).get();
  }

  /** Completed checkpoints, newest first. */
  async listCheckpoints(limit: number): Promise<StoredCheckpoint[]> {
    return await this.#db.select(CHECKPOINT_FIELDS).from(checkpoints).orderBy(desc(checkpoints.id)).limit(limit);
  }

  /** Committed window results in window order, then revision (at most `limit`). */
  async readWindows(query: WindowsQuery, limit: number): Promise<StoredWindow[]> {
    const sel = "SELECT key, window_start, window_end, count, revision, checkpoint_id FROM window_counts";
    const rs = "key" in query
      ? await this.client.execute({
        sql: `${sel} WHERE key = ? AND window_start >= ? AND window_start < ? ORDER BY window_start, revision LIMIT ?`,
        args: [query.key, query.from ?? 0, query.to ?? Number.MAX_SAFE_INTEGER, limit],
      })
      : await this.client.execute({ sql: `${sel} WHERE window_start = ? ORDER BY key, revision LIMIT ?`, args: [query.start, limit] });
    return rs.rows.map((r) => ({
      key: r[0] as string, windowStart: Number(r[1]), windowEnd: Number(r[2]), count: Number(r[3]),
      revision: Number(r[4]), checkpointId: Number(r[5]),
    }));
  }

  /** Results committed and not yet published (oldest first, at most `limit`). */
  async readOutbox(limit: number): Promise<StoredWindow[]> {
    const rs = await this.client.execute({
      sql: "SELECT key, window_start, window_end, count, revision, checkpoint_id FROM window_outbox ORDER BY checkpoint_id, window_start LIMIT ?",
      args: [limit],
    });
    return rs.rows.map((r) => ({
      key: r[0] as string, windowStart: Number(r[1]), windowEnd: Number(r[2]), count: Number(r[3]),
      revision: Number(r[4]), checkpointId: Number(r[5]),
    }));
  }

  /** Forgets outbox rows once JetStream stored them. */
  async deleteFromOutbox(rows: { key: string; windowStart: number; revision: number }[]): Promise<void> {
    const stmts: InStatement[] = [];
    for (let start = 0; start < rows.length; start += ROWS_PER_STATEMENT) {
      const part = rows.slice(start, start + ROWS_PER_STATEMENT);
      stmts.push({
        sql: `DELETE FROM window_outbox WHERE (key, window_start, revision) IN (VALUES ${placeholders(part.length, 3)})`,
        args: part.flatMap((r) => [r.key, r.windowStart, r.revision]),
      });
    }
    if (stmts.length > 0) await this.client.batch(stmts, "write");
  }

  close(): void {
    this.client.close();
  }
}

/** A finite number, or NULL for "none" (-Infinity) and for windows off. */
function finiteOrNull(n: number | undefined): number | null {
  return n === undefined || !Number.isFinite(n) ? null : n;
}

/**
 * The window part of a checkpoint: the changed entries upserted and the dropped windows deleted
 * from `window_state`, and the results inserted into `window_counts` — a result already there
 * (carried again) is skipped, a new one enters the outbox by the trigger of migration 0001.
 * Returns the bytes written.
 */
function windowStatements(w: CheckpointWindows, checkpointId: number, stmts: InStatement[]): number {
  let bytes = 0;
  for (const d of w.deltas) {
    for (let start = 0; start < d.keys.length; start += ROWS_PER_STATEMENT) {
      const end = Math.min(d.keys.length, start + ROWS_PER_STATEMENT);
      const args: (string | number)[] = [];
      for (let i = start; i < end; i++) {
        args.push(d.keys[i], d.starts[i], d.counts[i], d.revisions[i], d.fired[i]);
        bytes += d.keys[i].length + 32;
      }
      stmts.push({
        sql: `INSERT INTO window_state (key, window_start, count, revision, fired) VALUES ${placeholders(end - start, 5)}
              ON CONFLICT (key, window_start) DO UPDATE SET count = excluded.count, revision = excluded.revision, fired = excluded.fired`,
        args,
      });
    }
  }
  const dropped = [...new Set(w.deltas.flatMap((d) => d.dropped))];
  for (let start = 0; start < dropped.length; start += ROWS_PER_STATEMENT) {
    const part = dropped.slice(start, start + ROWS_PER_STATEMENT);
    stmts.push({ sql: `DELETE FROM window_state WHERE window_start IN (${part.map(() => "?").join(", ")})`, args: part });
  }
  for (let start = 0; start < w.results.length; start += ROWS_PER_STATEMENT) {
    const part = w.results.slice(start, start + ROWS_PER_STATEMENT);
    const args: (string | number)[] = [];
    for (const r of part) {
      args.push(r.key, r.windowStart, r.windowEnd, r.count, r.revision);
      bytes += r.key.length + 40;
    }
    stmts.push({
      sql: `INSERT INTO window_counts (key, window_start, window_end, count, revision, checkpoint_id)
            VALUES ${placeholders(part.length, 5, String(checkpointId))} ON CONFLICT DO NOTHING`,
      args,
    });
  }
  return bytes;
}

/** `(?, ?, ...), (...)` for `rows` rows of `cols` parameters, plus optional literal columns. */
function placeholders(rows: number, cols: number, literal?: string): string {
  const one = `(${Array(cols).fill("?").join(", ")}${literal === undefined ? "" : ", " + literal})`;
  return Array(rows).fill(one).join(", ");
}
