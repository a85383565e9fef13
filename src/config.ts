/**
 * @module
 * Environment → one frozen, validated {@link Config}. Every variable of the contract table in
 * the README is parsed here and nowhere else; a bad value throws a {@link ConfigError} whose
 * message is the one line that `mod.ts` prints before exiting with code 2.
 */
import { accessSync, constants, statSync } from "node:fs";
import { availableParallelism, hostname } from "node:os";
import { fileDbProblem, natsServerProblem, redactUrl } from "./config_urls.ts";
import { configVar, type VarSpec } from "./config_vars.ts";
import { isSubject, subjectsOverlap } from "./subjects.ts";

export { isSubject, redactUrl };

/** How log lines are written: `text` lines, or one JSON object per line. */
export type LogFormat = "text" | "json";

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
  /** Tumbling event-time windows; undefined: none (the default). */
  windows?: WindowsConfig;
  /** Bearer token required by every POST endpoint when set. */
  adminToken?: string;
  /** Serve a non-loopback `httpHost` without an admin token, deliberately. @default false */
  allowUnauthenticated: boolean;
  /** Records per batch sent over a channel. @default 512 */
  batchSize: number;
  /** Batches a channel may have in flight (its credit). @default 4 (a barrier waits behind at most 4 batches per channel) */
  channelCredits: number;
  /** How much nicer task workers run than the main and commit threads (`thread_priority.ts`). @default 5 */
  taskNice: number;
  /** Page out the binary's startup-only pages after the first completed checkpoint (`startup_pages.ts`). @default true */
  releaseStartupPages: boolean;
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
  /** Log lines as text or as one JSON object per line. @default "text" */
  logFormat: LogFormat;
  /** Cluster mode (`PVFLOW_CLUSTER`); undefined: one instance owns every split (the default). */
  cluster?: ClusterConfig;
  /** Test-only fault injection: a count subtask throws at its N-th record. */
  faultCountThrowAt?: number;
  /** Test-only: how many job attempts inject that fault. @default 1 */
  faultAttempts: number;
}

/** Several instances sharing one stream's splits (see `src/cluster/`). */
export interface ClusterConfig {
  /** The cluster's name: its lease bucket is `pvflow_<name>`. */
  name: string;
  /** This instance's name in the cluster. @default "<host>-<pid>" */
  instanceId: string;
  /** Lease and heartbeat lifetime; renewed every third of it. @default 6000 */
  leaseTtlMs: number;
}

/** A bad environment value; `message` is the single line printed at startup. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

type Env = Record<string, string | undefined>;

/** `name`'s declared spec, which must be of `kind` (a mismatch is a programming error). */
function spec<K extends VarSpec["kind"]>(name: string, kind: K): Extract<VarSpec, { kind: K }> {
  const s = configVar(name).spec;
  if (s.kind !== kind) throw new Error(`${name} is declared as ${s.kind} in CONFIG_VARS but read as ${kind}`);
  return s as Extract<VarSpec, { kind: K }>;
}

/** The value of a declared variable, trimmed (raw text variables: as given); undefined when unset or blank. */
function read(env: Env, name: string): string | undefined {
  const s = configVar(name).spec;
  const v = env[name];
  if (s.kind === "text" && s.raw) return v === undefined || v === "" ? undefined : v;
  return v === undefined || v.trim() === "" ? undefined : v.trim();
}

function bad(name: string, value: string, allowed: string): never {
  throw new ConfigError(`${name} must be ${allowed}, got ${JSON.stringify(value)}`);
}

/** A text variable with a declared default. */
function text(env: Env, name: string): string {
  const def = spec(name, "text").default;
  if (def === undefined) throw new Error(`${name} has no default in CONFIG_VARS`);
  return read(env, name) ?? def;
}

/** A text variable without a default. */
function optional(env: Env, name: string): string | undefined {
  spec(name, "text");
  return read(env, name);
}

/**
 * An integer variable. `bounds` supply or tighten what depends on other variables; the default
 * (declared, or given there) is clamped into the bounds, so `min(CPU count, max)` needs no code.
 */
function int(env: Env, name: string, bounds: { default?: number; min?: number; max?: number } = {}): number {
  const s = spec(name, "int");
  const min = bounds.min ?? s.min ?? 0;
  const max = bounds.max ?? s.max ?? Number.MAX_SAFE_INTEGER;
  const def = bounds.default ?? s.default;
  if (def === undefined) throw new Error(`${name} has no default in CONFIG_VARS`);
  return optionalInt(env, name, { min, max }) ?? Math.min(Math.max(def, min), max);
}

/** An integer variable; undefined when unset. */
function optionalInt(env: Env, name: string, bounds: { min?: number; max?: number } = {}): number | undefined {
  const s = spec(name, "int");
  const min = bounds.min ?? s.min ?? 0;
  const max = bounds.max ?? s.max ?? Number.MAX_SAFE_INTEGER;
  const v = read(env, name);
  if (v === undefined) return undefined;
  const allowed = max === Number.MAX_SAFE_INTEGER
    ? `an integer >= ${min}`
    : `an integer from ${min} to ${max}`;
  if (!/^-?\d+$/.test(v)) bad(name, v, allowed);
  const n = Number(v);
  if (n < min || n > max) bad(name, v, allowed);
  return n;
}

function oneOf<T extends string>(env: Env, name: string): T {
  const { default: def, values } = spec(name, "enum");
  const v = read(env, name);
  if (v === undefined) return def as T;
  if (!values.includes(v)) bad(name, v, `one of ${values.join(", ")}`);
  return v as T;
}

function bool(env: Env, name: string): boolean {
  const def = spec(name, "bool").default;
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

function list(env: Env, name: string): string[] {
  const raw = read(env, name) ?? spec(name, "list").default;
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
  const stream = text(env, "PVFLOW_STREAM");
  if (!STREAM_NAME.test(stream)) bad("PVFLOW_STREAM", stream, "a stream name without spaces, '.', '*', '>', '/' or '\\'");
  const subjects = list(env, "PVFLOW_SUBJECTS");
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
  const keyField = text(env, "PVFLOW_KEY_FIELD");
  const maxParallelism = int(env, "PVFLOW_MAX_PARALLELISM");
  const parallelism = int(env, "PVFLOW_PARALLELISM", { default: availableParallelism(), max: maxParallelism });
  const sourceParallelism = int(env, "PVFLOW_SOURCE_PARALLELISM", { default: parallelism, max: subjects.length });
  const checkpointIntervalMs = int(env, "PVFLOW_CHECKPOINT_INTERVAL_MS");
  const checkpointTimeoutMs = int(env, "PVFLOW_CHECKPOINT_TIMEOUT_MS");
  const dbUrl = text(env, "PVFLOW_DB_URL");
  if (!DB_URL.test(dbUrl)) bad("PVFLOW_DB_URL", redactUrl(dbUrl), "file:<path>, http(s)://, ws(s):// or libsql:// URL");
  const fileProblem = dbUrl.startsWith("file:") ? fileDbProblem(dbUrl) : undefined;
  if (fileProblem !== undefined) bad("PVFLOW_DB_URL", redactUrl(dbUrl), fileProblem);
  const httpHost = text(env, "PVFLOW_HTTP_HOST");
  if (/\s|\//.test(httpHost)) bad("PVFLOW_HTTP_HOST", httpHost, "a host name or IP address");
  const adminToken = optional(env, "PVFLOW_ADMIN_TOKEN");
  const allowUnauthenticated = bool(env, "PVFLOW_ALLOW_UNAUTHENTICATED");
  if (!isLoopbackHost(httpHost) && adminToken === undefined && !allowUnauthenticated) {
    bad("PVFLOW_HTTP_HOST", httpHost,
      "a loopback address (127.0.0.1, ::1 or localhost) unless PVFLOW_ADMIN_TOKEN is set (or PVFLOW_ALLOW_UNAUTHENTICATED=true)");
  }
  const dlqSubject = text(env, "PVFLOW_DLQ_SUBJECT");
  if (!isSubject(dlqSubject, false)) bad("PVFLOW_DLQ_SUBJECT", dlqSubject, "a NATS subject without wildcards");
  const readBack = subjects.find((s) => subjectsOverlap(s, dlqSubject));
  if (readBack !== undefined) {
    bad("PVFLOW_DLQ_SUBJECT", dlqSubject,
      `a subject outside PVFLOW_SUBJECTS (split ${readBack} would read the dead letters back and dead-letter them again, forever)`);
  }
  const windows = windowsConfig(env, subjects, dlqSubject);
  // Window results are committed once per (key, window, revision) only from aligned snapshots: every
  // count subtask then holds the same watermark, so they drop the same windows in the same checkpoint.
  if (windows && oneOf<CheckpointMode>(env, "PVFLOW_CHECKPOINT_MODE") !== "exactly_once") {
    bad("PVFLOW_CHECKPOINT_MODE", "at_least_once", "exactly_once when PVFLOW_WINDOW_MS is set (window results need aligned checkpoints)");
  }
  const cluster = clusterConfig(env, dbUrl, windows !== undefined);
  const restartBackoffMs = int(env, "PVFLOW_RESTART_BACKOFF_MS");
  const credsFile = optional(env, "NATS_CREDS");
  const credsProblem = credsFile === undefined ? undefined : unreadable(credsFile);
  if (credsProblem) {
    // The path is not echoed: it says where the credentials are kept.
    throw new ConfigError(`NATS_CREDS must name a readable NATS creds file, got one that is not (${credsProblem})`);
  }
  const caFile = optional(env, "NATS_CA");
  const caProblem = caFile === undefined ? undefined : unreadable(caFile);
  if (caFile !== undefined && caProblem) bad("NATS_CA", caFile, `a readable PEM file of trusted CA certificates (${caProblem})`);

  const config: Config = {
    natsServers,
    natsAuth: {
      token: optional(env, "NATS_TOKEN"),
      user: optional(env, "NATS_USER"),
      password: optional(env, "NATS_PASSWORD"),
      credsFile,
      caFile,
    },
    stream,
    createStream: bool(env, "PVFLOW_CREATE_STREAM"),
    subjects,
    keyField,
    parallelism,
    sourceParallelism,
    maxParallelism,
    checkpointIntervalMs,
    checkpointTimeoutMs,
    checkpointMinPauseMs: int(env, "PVFLOW_CHECKPOINT_MIN_PAUSE_MS"),
    checkpointMode: oneOf<CheckpointMode>(env, "PVFLOW_CHECKPOINT_MODE"),
    checkpointHistory: int(env, "PVFLOW_CHECKPOINT_HISTORY"),
    savepointDir: savepointDir(env),
    dbUrl,
    dbAuthToken: optional(env, "PVFLOW_DB_AUTH_TOKEN"),
    httpHost,
    httpPort: int(env, "PVFLOW_HTTP_PORT"),
    dlqSubject,
    maxEventBytes: int(env, "PVFLOW_MAX_EVENT_BYTES"),
    windows,
    adminToken,
    allowUnauthenticated,
    batchSize: int(env, "PVFLOW_BATCH_SIZE"),
    channelCredits: int(env, "PVFLOW_CHANNEL_CREDITS"),
    taskNice: int(env, "PVFLOW_TASK_NICE"),
    releaseStartupPages: bool(env, "PVFLOW_RELEASE_STARTUP_PAGES"),
    restartAttempts: int(env, "PVFLOW_RESTART_ATTEMPTS"),
    restartBackoffMs,
    restartBackoffMaxMs: int(env, "PVFLOW_RESTART_BACKOFF_MAX_MS", { min: restartBackoffMs }),
    shutdownTimeoutMs: int(env, "PVFLOW_SHUTDOWN_TIMEOUT_MS"),
    consumerInactiveMs: int(env, "PVFLOW_CONSUMER_INACTIVE_MS"),
    cluster,
    faultCountThrowAt: optionalInt(env, "PVFLOW_FAULT_COUNT_THROW_AT"),
    faultAttempts: int(env, "PVFLOW_FAULT_ATTEMPTS"),
    logFormat: logFormat(env),
  };
  if (config.natsAuth.password !== undefined && config.natsAuth.user === undefined) {
    throw new ConfigError("NATS_PASSWORD is set but NATS_USER is not: set both or neither");
  }
  return Object.freeze({ ...config, natsServers: Object.freeze([...natsServers]) as string[], subjects: Object.freeze([...subjects]) as string[], natsAuth: Object.freeze(config.natsAuth) });
}

/** Event-time windows (issue 15): the `PVFLOW_WINDOW_MS` family. */
export interface WindowsConfig {
  sizeMs: number;
  /** @default "ts" */
  timeField: string;
  /** @default 5000 */
  outOfOrdernessMs: number;
  /** 0: never idle. @default 30000 */
  idleTimeoutMs: number;
  /** @default 0 */
  allowedLatenessMs: number;
  /** @default the dead-letter subject */
  lateSubject: string;
  /** Unset: results are only stored. */
  outputSubject?: string;
}

/** The windows config, or undefined without `PVFLOW_WINDOW_MS`; a subject inside a split is refused (it would be read back). */
function windowsConfig(env: Env, subjects: string[], dlqSubject: string): WindowsConfig | undefined {
  const sizeMs = optionalInt(env, "PVFLOW_WINDOW_MS");
  if (sizeMs === undefined) return undefined;
  const timeField = text(env, "PVFLOW_TIME_FIELD");
  const subject = (name: string, value: string) => {
    if (!isSubject(value, false)) bad(name, value, "a NATS subject without wildcards");
    const readBack = subjects.find((s) => subjectsOverlap(s, value));
    if (readBack !== undefined) bad(name, value, `a subject outside PVFLOW_SUBJECTS (split ${readBack} would read it back)`);
    return value;
  };
  const lateSubject = subject("PVFLOW_LATE_SUBJECT", optional(env, "PVFLOW_LATE_SUBJECT") ?? dlqSubject);
  const output = optional(env, "PVFLOW_OUTPUT_SUBJECT");
  const outputSubject = output === undefined ? undefined : subject("PVFLOW_OUTPUT_SUBJECT", output);
  if (outputSubject !== undefined && (outputSubject === lateSubject || outputSubject === dlqSubject)) {
    bad("PVFLOW_OUTPUT_SUBJECT", outputSubject, "a subject other than PVFLOW_LATE_SUBJECT and PVFLOW_DLQ_SUBJECT");
  }
  return {
    sizeMs, timeField,
    outOfOrdernessMs: int(env, "PVFLOW_OUT_OF_ORDERNESS_MS"),
    idleTimeoutMs: int(env, "PVFLOW_IDLE_TIMEOUT_MS"),
    allowedLatenessMs: int(env, "PVFLOW_ALLOWED_LATENESS_MS"),
    lateSubject, outputSubject,
  };
}

const CLUSTER_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The cluster config, or undefined without `PVFLOW_CLUSTER`. The instances share one database,
 * so it must be a libSQL server: a `file:` database would be one per machine.
 */
function clusterConfig(env: Env, dbUrl: string, windows: boolean): ClusterConfig | undefined {
  const name = optional(env, "PVFLOW_CLUSTER");
  if (name === undefined) return undefined;
  if (!CLUSTER_NAME.test(name)) bad("PVFLOW_CLUSTER", name, "a name of 1 to 64 characters A-Z a-z 0-9 _ -");
  if (dbUrl.startsWith("file:")) {
    bad("PVFLOW_DB_URL", redactUrl(dbUrl), "a libSQL server URL (http(s)://, libsql://) shared by the instances when PVFLOW_CLUSTER is set, not a file");
  }
  if (windows) bad("PVFLOW_WINDOW_MS", String(optionalInt(env, "PVFLOW_WINDOW_MS")), "unset when PVFLOW_CLUSTER is set (windows are not supported in cluster mode yet)");
  const instanceId = optional(env, "PVFLOW_INSTANCE_ID") ?? `${hostname()}-${process.pid}`;
  if (!/^[\x21-\x7e]{1,128}$/.test(instanceId)) bad("PVFLOW_INSTANCE_ID", instanceId, "1 to 128 printable ASCII characters without spaces");
  return { name, instanceId, leaseTtlMs: int(env, "PVFLOW_LEASE_TTL_MS") };
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

/** PVFLOW_LOG_FORMAT alone: `mod.ts` needs it before the rest of the config, to report a bad value in that format. */
export function logFormat(env: Env = process.env): LogFormat {
  return oneOf<LogFormat>(env, "PVFLOW_LOG_FORMAT");
}

/** PVFLOW_SAVEPOINT_DIR: unset, or a path that is a directory or does not exist yet (created on use). */
function savepointDir(env: Env): string | undefined {
  const dir = optional(env, "PVFLOW_SAVEPOINT_DIR");
  if (dir === undefined) return undefined;
  let why: string | undefined;
  try {
    if (statSync(dir, { throwIfNoEntry: false })?.isDirectory() === false) why = "not a directory";
  } catch (err) {
    why = (err as NodeJS.ErrnoException).code ?? "cannot be checked"; // ENOTDIR, EACCES: still one line
  }
  if (why) bad("PVFLOW_SAVEPOINT_DIR", dir, `a directory (or a path where one can be created); it is ${why}`);
  return dir;
}

/** NATS_URL's servers, each a well-formed `[scheme://]host[:port]`. */
function natsUrls(env: Env): string[] {
  const raw = text(env, "NATS_URL");
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

/** Where this instance's status server listens, and its admin token: what `pvflow healthcheck` needs (same parsing as {@link loadConfig}). */
export function statusEndpoint(env: Env = process.env): { host: string; port: number; adminToken?: string } {
  return { host: text(env, "PVFLOW_HTTP_HOST"), port: int(env, "PVFLOW_HTTP_PORT"), adminToken: optional(env, "PVFLOW_ADMIN_TOKEN") };
}
