/**
 * @module
 * The checkpoint store in libSQL: an embedded file (`file:`) or a libSQL server (`http(s)://`,
 * `libsql://`). One transaction per completed checkpoint writes the checkpoint row, every split's
 * position and the absolute counts of the changed keys, so the `counts` table — the job's sink —
 * always equals the state of the latest completed checkpoint. Opening claims the database (a new
 * owner epoch, see `schema.ts`); every commit carries that epoch and is refused whole once another
 * process has claimed the database since.
 */
import { hostname } from "node:os";
import { createClient, type Client, type InStatement } from "@libsql/client";
import { redactUrl } from "../config.ts";
import { retentionStatement } from "./retention.ts";
import { applySchema, CLAIM, FENCED_MESSAGE, OWNER } from "./schema.ts";
import type { KeyCounts, SplitPositions } from "../types.ts";
import type { CheckpointData } from "./coordinator.ts";

/** The id of the latest completed checkpoint (0: none). */
const LATEST_ID = "SELECT coalesce(max(id), 0) FROM checkpoints";

/**
 * Rows whose key libSQL can read back exactly: a key with a NUL byte (accepted by versions before
 * `key_contains_nul`) is bound faithfully but read back only up to the NUL, so it would restore
 * — and show — as another key. Such rows are left out of every read.
 */
const FAITHFUL_KEY = "instr(CAST(key AS BLOB), x'00') = 0";

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
}

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
}

/** Whether an error message is a fenced commit's (another process owns the database). */
export function isFenced(message: string): boolean {
  return message.includes(FENCED_MESSAGE);
}

/** Reads and writes checkpoints. */
export class CheckpointStore {
  readonly client: Client;
  readonly #stream: string;
  readonly #url: string;
  /** The owner epoch this store commits under. */
  readonly epoch: number;
  readonly #retention: InStatement | undefined;

  private constructor(client: Client, stream: string, url: string, epoch: number, history?: number) {
    this.client = client;
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
      await applySchema(client);
      // A real write at startup: a read-only or full database stops startup with one clear line
      // instead of failing every checkpoint later. The claim is in the same transaction.
      const stmts: InStatement[] = [{
        sql: "INSERT INTO meta (key, value) VALUES ('opened_at', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        args: [new Date().toISOString()],
      }];
      if (epoch === undefined) stmts.push({ sql: CLAIM, args: [process.pid, hostname(), new Date().toISOString()] });
      const rs = await client.batch(stmts, "write");
      epoch ??= Number(rs[1].rows[0][0]);
    } catch (err) {
      client.close();
      throw fail(err);
    }
    return new CheckpointStore(client, options.stream, options.url, epoch, options.checkpointHistory);
  }

  /** The process that owns the database now (the last to claim it). */
  async owner(): Promise<{ epoch: number; pid: number; host: string; startedAt: string } | undefined> {
    const rs = await this.client.execute(OWNER);
    const r = rs.rows[0];
    return r && { epoch: Number(r[0]), pid: Number(r[1]), host: String(r[2]), startedAt: String(r[3]) };
  }

  /** The latest completed checkpoint: its id, this stream's positions, and all counts. */
  async loadLatest(): Promise<RestoredCheckpoint> {
    const [cp, pos, cnt] = await this.client.batch([
      LATEST_ID,
      { sql: "SELECT subject, seq, stream_created FROM positions WHERE stream = ?", args: [this.#stream] },
      `SELECT key, count FROM counts WHERE ${FAITHFUL_KEY}`,
    ], "read");
    const positions: SplitPositions = {};
    let streamCreated: string | undefined;
    for (const r of pos.rows) {
      positions[r[0] as string] = Number(r[1]);
      streamCreated ??= (r[2] as string | null) ?? undefined;
    }
    const n = cnt.rows.length;
    const counts: KeyCounts = { keys: new Array(n), counts: new Array(n) };
    for (let i = 0; i < n; i++) {
      const r = cnt.rows[i];
      counts.keys[i] = r[0] as string;
      counts.counts[i] = Number(r[1]);
    }
    return { checkpointId: Number(cp.rows[0][0]), positions, streamCreated, counts };
  }

  /** Writes one checkpoint in ONE transaction; resolves with the bytes of data written. */
  async commit(data: CheckpointData, streamCreated?: string): Promise<{ bytes: number }> {
    const { record, positions, keys, counts } = data;
    const now = Date.now();
    const id = record.id;
    const subjects = Object.keys(positions);
    let bytes = 0;
    const stmts: InStatement[] = [];
    if (subjects.length > 0) {
      const args: (string | number | null)[] = [];
      for (const s of subjects) {
        args.push(this.#stream, s, positions[s], id, streamCreated ?? null);
        bytes += s.length + 16;
      }
      stmts.push({
        sql: `INSERT INTO positions (stream, subject, seq, checkpoint_id, stream_created)
              VALUES ${placeholders(subjects.length, 5)}
              ON CONFLICT (stream, subject) DO UPDATE SET seq = excluded.seq, checkpoint_id = excluded.checkpoint_id,
                stream_created = excluded.stream_created`,
        args,
      });
    }
    for (let start = 0; start < keys.length; start += ROWS_PER_STATEMENT) {
      const end = Math.min(keys.length, start + ROWS_PER_STATEMENT);
      const args: (string | number)[] = [];
      for (let i = start; i < end; i++) {
        args.push(keys[i], counts[i]);
        bytes += keys[i].length + 8;
      }
      stmts.push({
        sql: `INSERT INTO counts (key, count, checkpoint_id) VALUES ${placeholders(end - start, 2, String(id))}
              ON CONFLICT (key) DO UPDATE SET count = excluded.count, checkpoint_id = excluded.checkpoint_id`,
        args,
      });
    }
    // The checkpoint row FIRST: its insert is where the fence trigger checks the epoch, so a fenced
    // commit fails before the server does any other work (and the whole transaction aborts).
    stmts.unshift({
      sql: `INSERT INTO checkpoints (id, trigger_time, completed_time, duration_ms, alignment_ms, rows, bytes, epoch)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      // End to end as of the commit: the commit itself ends within a few ms of this.
      args: [id, record.triggerTime, now, now - record.triggerTime, record.alignmentMs ?? 0, keys.length, bytes, this.epoch],
    });
    if (this.#retention) stmts.push(this.#retention); // after the new row: the newest are kept
    try {
      await this.client.batch(stmts, "write");
    } catch (err) {
      // libsql 0.5 leaves a statement that failed with SQLITE_BUSY in progress, and every later COMMIT
      // on that connection then fails (tursodatabase/libsql-client-ts#352): replace the connections.
      if (this.client.protocol === "file") await this.client.reconnect();
      if (isFenced((err as Error).message)) throw new Error(await this.#fencedReason());
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

  /** The id of the latest completed checkpoint (0: none). */
  async latestCheckpointId(): Promise<number> {
    const rs = await this.client.execute(LATEST_ID);
    return Number(rs.rows[0][0]);
  }

  /**
   * One page of committed counts with the checkpoint it reflects, read in one transaction:
   * `{ limit, after }` is keyset pagination in key order (UTF-8 byte order, SQLite's BINARY
   * collation) starting after key `after`; `{ top }` is the `top` largest, by count then key.
   */
  async readCounts(query: CountsQuery): Promise<CountsPage> {
    const paged = !("top" in query);
    const [cp, rs] = await this.client.batch([
      LATEST_ID,
      paged
        ? {
          // One row more than asked: whether there is a next page, without a second query.
          sql: `SELECT key, count FROM counts WHERE key > ? AND ${FAITHFUL_KEY} ORDER BY key LIMIT ?`,
          args: [query.after ?? "", query.limit + 1],
        }
        : { sql: `SELECT key, count FROM counts WHERE ${FAITHFUL_KEY} ORDER BY count DESC, key LIMIT ?`, args: [query.top] },
    ], "read");
    const n = paged ? Math.min(rs.rows.length, query.limit) : rs.rows.length;
    const page: CountsPage = { checkpointId: Number(cp.rows[0][0]), keys: new Array(n), counts: new Array(n) };
    for (let i = 0; i < n; i++) {
      page.keys[i] = rs.rows[i][0] as string;
      page.counts[i] = Number(rs.rows[i][1]);
    }
    if (paged) page.next = rs.rows.length > n ? page.keys[n - 1] : null;
    return page;
  }

  /** The committed count of one key, or undefined when never counted. */
  async readCount(key: string): Promise<{ count: number; checkpointId: number } | undefined> {
    // Such a key is never stored (it is dead-lettered), and binding it would look up another
    // key: libSQL turns a lone surrogate into U+FFFD.
    if (!isStorableKey(key)) return undefined;
    const [cp, rs] = await this.client.batch([
      LATEST_ID,
      { sql: "SELECT count FROM counts WHERE key = ?", args: [key] },
    ], "read");
    if (rs.rows.length === 0) return undefined;
    return { count: Number(rs.rows[0][0]), checkpointId: Number(cp.rows[0][0]) };
  }

  /** One completed checkpoint, or undefined. */
  async getCheckpoint(id: number): Promise<StoredCheckpoint | undefined> {
    return (await this.#selectCheckpoints("WHERE id = ?", [id]))[0];
  }

  /** Completed checkpoints, newest first. */
  listCheckpoints(limit: number): Promise<StoredCheckpoint[]> {
    return this.#selectCheckpoints("ORDER BY id DESC LIMIT ?", [limit]);
  }

  async #selectCheckpoints(where: string, args: number[]): Promise<StoredCheckpoint[]> {
    const rs = await this.client.execute({
      sql: `SELECT id, trigger_time, completed_time, duration_ms, alignment_ms, rows, bytes FROM checkpoints ${where}`,
      args,
    });
    return rs.rows.map((r) => ({
      id: Number(r[0]), triggerTime: Number(r[1]), completedTime: Number(r[2]), durationMs: Number(r[3]),
      alignmentMs: Number(r[4]), rows: Number(r[5]), bytes: Number(r[6]),
    }));
  }

  close(): void {
    this.client.close();
  }
}

/** `(?, ?, ...), (...)` for `rows` rows of `cols` parameters, plus optional literal columns. */
function placeholders(rows: number, cols: number, literal?: string): string {
  const one = `(${Array(cols).fill("?").join(", ")}${literal === undefined ? "" : ", " + literal})`;
  return Array(rows).fill(one).join(", ");
}
