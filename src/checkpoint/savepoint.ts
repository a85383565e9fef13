/**
 * @module
 * Savepoints (Flink's word: a manually triggered, self-contained, portable checkpoint): a
 * consistent single-file copy of the checkpoint store, written with `VACUUM INTO` from a
 * connection of its own. `VACUUM INTO` reads in one transaction, so the copy holds exactly one
 * completed checkpoint — its counts and its positions, never half of a commit — while commits go
 * on (WAL: a reader does not block the writer). Starting pvflow with `PVFLOW_DB_URL=file:<copy>`
 * resumes from that checkpoint. The copy runs on a Worker of its own (`savepoint_worker_entry.ts`)
 * so that copying a large database never blocks the main thread.
 *
 * Only a `file:` database can be copied this way: a libSQL server (sqld) refuses `VACUUM INTO`
 * ("unsupported statement"), and it would write on the server's disk anyway, not here.
 */
import { createClient } from "@libsql/client";
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, statSync, unlinkSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

/** A savepoint as written. */
export interface Savepoint {
  /** Absolute path of the savepoint file. */
  path: string;
  /** The completed checkpoint the savepoint holds (the latest one when it was copied). */
  checkpointId: number;
  /** Keys with a committed count, and the sum of their counts, in the savepoint. */
  keys: number;
  events: number;
  /** Each split's position in the savepoint: `stream → split → sequence`. */
  positions: Record<string, Record<string, number>>;
  bytes: number;
  createdAt: string;
}

/** What to copy, and where to. */
export interface SavepointRequest {
  /** A `file:` libSQL URL. */
  dbUrl: string;
  /** The directory the savepoint goes into (created when missing). */
  dir: string;
}

/** The path a `file:` libSQL URL names, or undefined for a libSQL server URL. */
export function fileDbPath(dbUrl: string): string | undefined {
  const m = /^file:(?:\/\/[^/?#]*)?([^?#]*)/s.exec(dbUrl);
  return m ? decodeURIComponent(m[1]) : undefined;
}

/**
 * Why `dbUrl` cannot have savepoints (a libSQL server), or undefined when it can; the one place
 * that says what to do instead.
 */
export function savepointsUnsupported(dbUrl: string): string | undefined {
  if (fileDbPath(dbUrl) !== undefined) return undefined;
  return "savepoints need a file: PVFLOW_DB_URL; a libSQL server does not run VACUUM INTO (sqld: unsupported statement), " +
    "and would write on its own disk if it did: back up the server's database where it runs (e.g. its data directory while sqld is stopped)";
}

/** `PVFLOW_SAVEPOINT_DIR`, or the database file's directory. */
export function savepointDir(dbUrl: string, configured?: string): string {
  return resolve(configured ?? dirname(fileDbPath(dbUrl) ?? "."));
}

/** `20261203T085501123Z`: sortable, and valid in a file name everywhere. */
const stamp = (d: Date) => d.toISOString().replace(/[-:.]/g, "");

/**
 * Writes a savepoint of the database at `dbUrl` into `dir`, on the calling thread. The copy is
 * written under a temporary name, read back (its checkpoint, counts and positions: what a restore
 * will see) and only then renamed to `savepoint-<checkpointId>-<time>.db`, so a savepoint file
 * is always whole. Throws an error naming the directory when it cannot be written.
 */
export async function writeSavepoint(req: SavepointRequest): Promise<Savepoint> {
  const dir = resolve(req.dir);
  const created = new Date();
  const partial = join(dir, `.savepoint-${stamp(created)}-${process.pid}-${Math.random().toString(36).slice(2, 8)}.partial`);
  const where = `the savepoint directory ${dir} (PVFLOW_SAVEPOINT_DIR)`;
  try {
    mkdirSync(dir, { recursive: true });
    removeStalePartials(dir);
  } catch (err) {
    throw new Error(`cannot create ${where}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    const source = createClient({ url: req.dbUrl, timeout: 5000 });
    try {
      await source.execute({ sql: "VACUUM INTO ?", args: [partial] });
    } catch (err) {
      throw new Error(`cannot write a savepoint into ${where}: ${(err as Error).message}`);
    } finally {
      source.close();
    }
    const content = await readSavepoint(partial);
    if (content.checkpointId === 0) throw new Error("no completed checkpoint in the database: nothing to save");
    const path = join(dir, `savepoint-${content.checkpointId}-${stamp(created)}.db`);
    fsyncPath(partial); // whole on disk before it gets its name, and the name too: a power loss
    renameSync(partial, path); // leaves either no savepoint or a whole one
    fsyncPath(dir);
    return { path, ...content, bytes: statSync(path).size, createdAt: created.toISOString() };
  } finally {
    try {
      unlinkSync(partial);
    } catch {
      // renamed, or never written
    }
  }
}

/** What a restore from the savepoint file `path` starts from. */
export async function readSavepoint(path: string): Promise<Omit<Savepoint, "path" | "bytes" | "createdAt">> {
  // As a file URL: a path holding "#" or "?" is not a fragment or a query.
  const db = createClient({ url: pathToFileURL(path).href });
  try {
    const [cp, cnt, pos] = await db.batch([
      "SELECT coalesce(max(id), 0) FROM checkpoints",
      "SELECT count(*), coalesce(sum(count), 0) FROM counts",
      "SELECT stream, subject, seq FROM positions ORDER BY stream, subject",
    ], "read");
    const positions: Savepoint["positions"] = {};
    for (const r of pos.rows) (positions[String(r[0])] ??= {})[String(r[1])] = Number(r[2]);
    return { checkpointId: Number(cp.rows[0][0]), keys: Number(cnt.rows[0][0]), events: Number(cnt.rows[0][1]), positions };
  } finally {
    db.close();
  }
}

/** Main → savepoint thread, and back. */
export type SavepointReply = { ok: true; savepoint: Savepoint } | { ok: false; error: string };

/**
 * Runs {@link writeSavepoint} on a new Worker (`workerUrl`: `savepoint_worker_entry.ts`, resolved
 * from the root module in a binary) and resolves with its savepoint; the Worker ends with it.
 */
export function writeSavepointOnWorker(workerUrl: URL, req: SavepointRequest): Promise<Savepoint> {
  const worker = new Worker(workerUrl, { type: "module" });
  const { promise, resolve, reject } = Promise.withResolvers<Savepoint>();
  worker.onmessage = (e: MessageEvent<SavepointReply>) => {
    if (e.data.ok) resolve(e.data.savepoint);
    else reject(new Error(e.data.error));
  };
  worker.addEventListener("error", (e) => {
    e.preventDefault(); // handled: Deno would otherwise rethrow it in this thread and exit
    reject(new Error(`savepoint thread crashed: ${(e as ErrorEvent).message}`));
  });
  worker.addEventListener("close", () => reject(new Error("savepoint thread exited")));
  worker.postMessage(req);
  return promise.finally(() => worker.terminate());
}

/** Flushes a file's or a directory's contents to disk. */
function fsyncPath(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Removes partial copies left by a process killed while writing one (older than a minute: not in progress). */
function removeStalePartials(dir: string): void {
  for (const f of readdirSync(dir)) {
    if (!/^\.savepoint-.*\.partial$/.test(f)) continue;
    const p = join(dir, f);
    try {
      if (Date.now() - statSync(p).mtimeMs > 60_000) unlinkSync(p);
    } catch {
      // gone meanwhile
    }
  }
}
