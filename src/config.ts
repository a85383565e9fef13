/**
 * @module
 * Environment → one frozen, validated {@link Config}. Every variable of the contract table in
 * the README is parsed here and nowhere else; a bad value throws a {@link ConfigError} whose
 * message is the one line that `mod.ts` prints before exiting with code 2.
 */
import { accessSync, constants, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileDbProblem, natsServerProblem, redactUrl } from "./config_urls.ts";
import { isSubject, subjectsOverlap } from "./subjects.ts";

export { isSubject, redactUrl };

/** Exactly-once (aligned barriers) or at-least-once (barriers never hold input). */
export type CheckpointMode = "exactly_once" | "at_least_once";

/**
 * NATS credentials and TLS trust. At most one kind of credential is used, in this order: creds
 * file, token, user/password. Secrets (and the creds file path) never appear in status or logs.
 */
export interface NatsAuth {
  token?: string;
  user?: string;
  password?: string;
  /** A user creds file (JWT + nkey seed), read on every connect. */
  credsFile?: string;
  /** PEM file of the CA(s) trusted for the server's TLS certificate. @default the system CAs */
  caFile?: string;
}

/** The whole configuration of one pvflow process. */
export interface Config {
  /** NATS server URLs. @default ["nats://127.0.0.1:4222"] */
  natsServers: string[];
  natsAuth: NatsAuth;
  /** JetStream stream name. @default "PV" */
  stream: string;
  /** Create the stream (subjects `pv.>`) when it does not exist. @default true */
  createStream: boolean;
  /** Filter subjects, one split each. @default ["pv.>"] */
  subjects: string[];
  /** Event field counted by. @default "site" */
  keyField: string;
  /** Count subtasks. @default CPU count */
  parallelism: number;
  /** Source subtasks. @default min(splits, parallelism) */
  sourceParallelism: number;
  /** Number of key groups; the upper bound of count parallelism. @default 128 */
  maxParallelism: number;
  /** @default 1000 */
  checkpointIntervalMs: number;
  /** @default 60000 */
  checkpointTimeoutMs: number;
  /** Minimum pause between the end of one checkpoint and the trigger of the next. @default 0 */
  checkpointMinPauseMs: number;
  /** @default "exactly_once" */
  checkpointMode: CheckpointMode;
  /** Rows kept in the `checkpoints` history table (see `checkpoint/retention.ts`). @default 1000 */
  checkpointHistory: number;
  /** Where `POST /savepoints` writes (created when missing). @default the database file's directory */
  savepointDir?: string;
  /** libSQL URL. @default "file:pvflow.db" */
  dbUrl: string;
  dbAuthToken?: string;
  /** @default "127.0.0.1" */
  httpHost: string;
  /** @default 8080 (0 picks a free port) */
  httpPort: number;
  /** @default "pvflow.dlq" */
  dlqSubject: string;
  /** Events larger than this go to the dead-letter subject. @default 65536 */
  maxEventBytes: number;
  /** Bearer token required by every POST endpoint when set. */
  adminToken?: string;
  /** Serve a non-loopback `httpHost` without an admin token, deliberately. @default false */
  allowUnauthenticated: boolean;
  /** Records per batch sent over a channel. @default 512 */
  batchSize: number;
  /** Batches a channel may have in flight (its credit). @default 8 */
  channelCredits: number;
  /** Restarts allowed before the job goes FAILED (reset after a completed checkpoint). @default 10 */
  restartAttempts: number;
  /** First restart delay; doubles per consecutive failure. @default 500 */
  restartBackoffMs: number;
  /** Upper bound of the restart delay. @default 10000 */
  restartBackoffMaxMs: number;
  /** Bound on graceful stop (final checkpoint included). @default 10000 */
  shutdownTimeoutMs: number;
  /**
   * The server deletes a split's consumer nobody pulled from for this long (a paused process);
   * the source then recreates it in place. @default 30000
   */
  consumerInactiveMs: number;
  /** Test-only fault injection: a count subtask throws at its N-th record. */
  faultCountThrowAt?: number;
  /** Test-only: how many job attempts inject that fault. @default 1 */
  faultAttempts: number;
}

/** A bad environment value; `message` is the single line printed at startup. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

type Env = Record<string, string | undefined>;

function read(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === "" ? undefined : v.trim();
}

function bad(name: string, value: string, allowed: string): never {
  throw new ConfigError(`${name} must be ${allowed}, got ${JSON.stringify(value)}`);
}

function int(env: Env, name: string, def: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = read(env, name);
  if (v === undefined) return def;
  const allowed = max === Number.MAX_SAFE_INTEGER
    ? `an integer >= ${min}`
    : `an integer from ${min} to ${max}`;
  if (!/^-?\d+$/.test(v)) bad(name, v, allowed);
  const n = Number(v);
  if (n < min || n > max) bad(name, v, allowed);
  return n;
}

function oneOf<T extends string>(env: Env, name: string, def: T, allowed: readonly T[]): T {
  const v = read(env, name);
  if (v === undefined) return def;
  if (!(allowed as readonly string[]).includes(v)) bad(name, v, `one of ${allowed.join(", ")}`);
  return v as T;
}

function bool(env: Env, name: string, def: boolean): boolean {
  const raw = read(env, name);
  const v = raw?.toLowerCase();
  if (raw === undefined) return def;
  if (v === "true" || v === "1" || v === "yes") return true;
  if (v === "false" || v === "0" || v === "no") return false;
  return bad(name, raw, "true or false");
}

/** Why `path` is not a readable regular file (an errno code or "a directory"), or undefined when it is. */
function unreadable(path: string): string | undefined {
  try {
    if (!statSync(path).isFile()) return "not a regular file";
    accessSync(path, constants.R_OK);
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? "unreadable";
  }
}

function list(env: Env, name: string, def: string): string[] {
  const raw = read(env, name) ?? def;
  const items = raw.split(",").map((s) => s.trim());
  if (items.some((s) => s === "")) bad(name, raw, "a comma-separated list without empty items");
  return items;
}

const STREAM_NAME = /^[^\s.*>/\\]+$/;
const NATS_URL_FORM = "nats://host:port (or tls://, ws://, wss://), comma-separated";
const DB_URL = /^(file:.+|https?:\/\/\S+|libsql:\/\/\S+|wss?:\/\/\S+)$/;

/** Parses `env` (default `process.env`) into a frozen {@link Config}; throws {@link ConfigError}. */
export function loadConfig(env: Env = process.env): Readonly<Config> {
  const natsServers = natsUrls(env);
  const stream = read(env, "PVFLOW_STREAM") ?? "PV";
  if (!STREAM_NAME.test(stream)) bad("PVFLOW_STREAM", stream, "a stream name without spaces, '.', '*', '>', '/' or '\\'");
  const subjects = list(env, "PVFLOW_SUBJECTS", "pv.>");
  for (const s of subjects) {
    if (!isSubject(s, true)) bad("PVFLOW_SUBJECTS", s, "NATS subjects such as pv.0 or pv.>");
  }
  if (new Set(subjects).size !== subjects.length) {
    bad("PVFLOW_SUBJECTS", subjects.join(","), "distinct subjects");
  }
  // Each split reads its own consumer: an event matched by two splits would be counted twice.
  for (let i = 0; i < subjects.length; i++) {
    for (let j = i + 1; j < subjects.length; j++) {
      if (subjectsOverlap(subjects[i], subjects[j])) {
        bad("PVFLOW_SUBJECTS", subjects.join(","),
          `subjects that do not overlap (${subjects[i]} and ${subjects[j]} match common subjects, whose events would be counted twice)`);
      }
    }
  }
  const keyField = read(env, "PVFLOW_KEY_FIELD") ?? "site";
  const maxParallelism = int(env, "PVFLOW_MAX_PARALLELISM", 128, 1, 32768);
  const parallelism = int(env, "PVFLOW_PARALLELISM", Math.min(availableParallelism(), maxParallelism), 1, maxParallelism);
  const sourceParallelism = int(
    env, "PVFLOW_SOURCE_PARALLELISM", Math.min(subjects.length, parallelism), 1, subjects.length,
  );
  const checkpointIntervalMs = int(env, "PVFLOW_CHECKPOINT_INTERVAL_MS", 1000, 10);
  const checkpointTimeoutMs = int(env, "PVFLOW_CHECKPOINT_TIMEOUT_MS", 60000, 100);
  const dbUrl = read(env, "PVFLOW_DB_URL") ?? "file:pvflow.db";
  if (!DB_URL.test(dbUrl)) bad("PVFLOW_DB_URL", redactUrl(dbUrl), "file:<path>, http(s)://, ws(s):// or libsql:// URL");
  const fileProblem = dbUrl.startsWith("file:") ? fileDbProblem(dbUrl) : undefined;
  if (fileProblem !== undefined) bad("PVFLOW_DB_URL", redactUrl(dbUrl), fileProblem);
  const httpHost = read(env, "PVFLOW_HTTP_HOST") ?? "127.0.0.1";
  if (/\s|\//.test(httpHost)) bad("PVFLOW_HTTP_HOST", httpHost, "a host name or IP address");
  const adminToken = read(env, "PVFLOW_ADMIN_TOKEN");
  const allowUnauthenticated = bool(env, "PVFLOW_ALLOW_UNAUTHENTICATED", false);
  if (!isLoopbackHost(httpHost) && adminToken === undefined && !allowUnauthenticated) {
    bad("PVFLOW_HTTP_HOST", httpHost,
      "a loopback address (127.0.0.1, ::1 or localhost) unless PVFLOW_ADMIN_TOKEN is set (or PVFLOW_ALLOW_UNAUTHENTICATED=true)");
  }
  const dlqSubject = read(env, "PVFLOW_DLQ_SUBJECT") ?? "pvflow.dlq";
  if (!isSubject(dlqSubject, false)) bad("PVFLOW_DLQ_SUBJECT", dlqSubject, "a NATS subject without wildcards");
  const readBack = subjects.find((s) => subjectsOverlap(s, dlqSubject));
  if (readBack !== undefined) {
    bad("PVFLOW_DLQ_SUBJECT", dlqSubject,
      `a subject outside PVFLOW_SUBJECTS (split ${readBack} would read the dead letters back and dead-letter them again, forever)`);
  }
  const restartBackoffMs = int(env, "PVFLOW_RESTART_BACKOFF_MS", 500, 0);
  const faultAt = read(env, "PVFLOW_FAULT_COUNT_THROW_AT");
  const credsFile = read(env, "NATS_CREDS");
  const credsProblem = credsFile === undefined ? undefined : unreadable(credsFile);
  if (credsProblem) {
    // The path is not echoed: it says where the credentials are kept.
    throw new ConfigError(`NATS_CREDS must name a readable NATS creds file, got one that is not (${credsProblem})`);
  }
  const caFile = read(env, "NATS_CA");
  const caProblem = caFile === undefined ? undefined : unreadable(caFile);
  if (caFile !== undefined && caProblem) bad("NATS_CA", caFile, `a readable PEM file of trusted CA certificates (${caProblem})`);

  const config: Config = {
    natsServers,
    natsAuth: {
      token: read(env, "NATS_TOKEN"),
      user: read(env, "NATS_USER"),
      password: env.NATS_PASSWORD || undefined,
      credsFile,
      caFile,
    },
    stream,
    createStream: bool(env, "PVFLOW_CREATE_STREAM", true),
    subjects,
    keyField,
    parallelism,
    sourceParallelism,
    maxParallelism,
    checkpointIntervalMs,
    checkpointTimeoutMs,
    checkpointMinPauseMs: int(env, "PVFLOW_CHECKPOINT_MIN_PAUSE_MS", 0, 0),
    checkpointMode: oneOf(env, "PVFLOW_CHECKPOINT_MODE", "exactly_once", ["exactly_once", "at_least_once"] as const),
    checkpointHistory: int(env, "PVFLOW_CHECKPOINT_HISTORY", 1000, 1),
    savepointDir: savepointDir(env),
    dbUrl,
    dbAuthToken: read(env, "PVFLOW_DB_AUTH_TOKEN"),
    httpHost,
    httpPort: int(env, "PVFLOW_HTTP_PORT", 8080, 0, 65535),
    dlqSubject,
    maxEventBytes: int(env, "PVFLOW_MAX_EVENT_BYTES", 65536, 16),
    adminToken,
    allowUnauthenticated,
    batchSize: int(env, "PVFLOW_BATCH_SIZE", 512, 1, 65536),
    channelCredits: int(env, "PVFLOW_CHANNEL_CREDITS", 8, 1, 1024),
    restartAttempts: int(env, "PVFLOW_RESTART_ATTEMPTS", 10, 0),
    restartBackoffMs,
    restartBackoffMaxMs: int(env, "PVFLOW_RESTART_BACKOFF_MAX_MS", Math.max(10000, restartBackoffMs), restartBackoffMs),
    shutdownTimeoutMs: int(env, "PVFLOW_SHUTDOWN_TIMEOUT_MS", 10000, 100),
    consumerInactiveMs: int(env, "PVFLOW_CONSUMER_INACTIVE_MS", 30000, 1000),
    faultCountThrowAt: faultAt === undefined ? undefined : int(env, "PVFLOW_FAULT_COUNT_THROW_AT", 0, 1),
    faultAttempts: int(env, "PVFLOW_FAULT_ATTEMPTS", 1, 1),
  };
  if (config.natsAuth.password !== undefined && config.natsAuth.user === undefined) {
    throw new ConfigError("NATS_PASSWORD is set but NATS_USER is not: set both or neither");
  }
  return Object.freeze({ ...config, natsServers: Object.freeze([...natsServers]) as string[], subjects: Object.freeze([...subjects]) as string[], natsAuth: Object.freeze(config.natsAuth) });
}

/** The config without secrets, for `/status` and logs. */
export function publicConfig(c: Readonly<Config>): Record<string, unknown> {
  const { natsAuth, dbAuthToken, adminToken, dbUrl, ...rest } = c;
  return {
    ...rest,
    dbUrl: redactUrl(dbUrl),
    natsServers: c.natsServers.map(redactUrl),
    natsAuth: natsAuth.credsFile ? "creds" : natsAuth.token ? "token" : natsAuth.user ? "user" : "none",
    natsTlsCa: natsAuth.caFile ? "set" : "unset",
    dbAuth: dbAuthToken ? "token" : "none",
    adminToken: adminToken ? "set" : "unset",
  };
}

/** PVFLOW_SAVEPOINT_DIR: unset, or a path that is a directory or does not exist yet (created on use). */
function savepointDir(env: Env): string | undefined {
  const dir = read(env, "PVFLOW_SAVEPOINT_DIR");
  if (dir !== undefined && statSync(dir, { throwIfNoEntry: false })?.isDirectory() === false) {
    bad("PVFLOW_SAVEPOINT_DIR", dir, "a directory (or a path where one can be created)");
  }
  return dir;
}

/** NATS_URL's servers, each a well-formed `[scheme://]host[:port]`. */
function natsUrls(env: Env): string[] {
  const raw = read(env, "NATS_URL") ?? "nats://127.0.0.1:4222";
  const items = raw.split(",").map((s) => s.trim());
  for (const s of items) {
    const problem = s === "" ? "without empty items" : natsServerProblem(s);
    // With credentials in it, the whole value is redacted: a comma may be inside a password.
    const shown = redactUrl(s === "" || raw.includes("@") ? raw : s);
    if (problem !== undefined) bad("NATS_URL", shown, problem ? `${NATS_URL_FORM}, ${problem}` : NATS_URL_FORM);
  }
  return items;
}

/** Whether `host` only accepts connections from this machine: 127.0.0.0/8, ::1 or localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  if (h === "localhost") return true;
  const v4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  if (v4) return v4.slice(1).every((o) => Number(o) <= 255);
  if (!h.includes(":")) return false;
  try {
    // The URL parser normalizes IPv6 (0:0:0:0:0:0:0:1 is [::1]; ::ffff:127.0.0.1 is [::ffff:7f00:1]).
    const n = new URL(`http://[${h.replace(/^\[|\]$/g, "")}]/`).hostname;
    return n === "[::1]" || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(n);
  } catch {
    return false;
  }
}
