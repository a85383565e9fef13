/**
 * @module
 * Every environment variable pvflow reads, declared once: name, how its text is parsed (kind,
 * default, bounds), the default as documented, and what it means. `config.ts` parses from this
 * table (reading an undeclared name is a programming error), `pvflow --help` is generated from it,
 * and a test holds the README's configuration table to it.
 */

/** An integer; the bounds are inclusive. A default or bound that depends on another variable is given where it is read. */
export interface IntSpec {
  kind: "int";
  default?: number;
  min?: number;
  max?: number;
}

/** `true`/`1`/`yes` or `false`/`0`/`no`, any case. */
export interface BoolSpec {
  kind: "bool";
  default: boolean;
}

/** One of a fixed set of words. */
export interface EnumSpec {
  kind: "enum";
  default: string;
  values: readonly string[];
}

/**
 * Text, trimmed (`raw`: as given, for passwords, whose spaces may matter). Checked where it is
 * read when its form depends on others (URLs, subjects, files).
 */
export interface TextSpec {
  kind: "text";
  default?: string;
  raw?: boolean;
}

/** A comma-separated list without empty items. */
export interface ListSpec {
  kind: "list";
  default: string;
}

export type VarSpec = IntSpec | BoolSpec | EnumSpec | TextSpec | ListSpec;

/** One environment variable. */
export interface ConfigVar {
  name: string;
  spec: VarSpec;
  /** The default as documented when it is not the literal `spec.default` ("CPU count"). */
  defaultText?: string;
  /** One line for `--help` (the README may say more). */
  meaning: string;
  /** A secret: never echoed in an error, a log line or an answer. */
  secret?: boolean;
  /** A test hook: left out of `--help` and the README. */
  testOnly?: boolean;
}

const ms = (def: number, min: number) => ({ kind: "int", default: def, min }) as const;

/** Every variable, in the order `--help` lists them. */
export const CONFIG_VARS: readonly ConfigVar[] = [
  { name: "NATS_URL", spec: { kind: "text", default: "nats://127.0.0.1:4222" }, meaning: "NATS server(s), comma-separated; tls:// for TLS" },
  { name: "NATS_TOKEN", spec: { kind: "text" }, secret: true, meaning: "NATS token (used when no creds file is set)" },
  { name: "NATS_USER", spec: { kind: "text" }, meaning: "NATS user, with NATS_PASSWORD (used when neither a creds file nor a token is set)" },
  { name: "NATS_PASSWORD", spec: { kind: "text", raw: true }, secret: true, meaning: "NATS password of NATS_USER" },
  { name: "NATS_CREDS", spec: { kind: "text" }, secret: true, meaning: "NATS creds file (user JWT + nkey seed); takes precedence over a token and a user" },
  { name: "NATS_CA", spec: { kind: "text" }, defaultText: "system CAs", meaning: "PEM file of the CA(s) that signed the NATS server's TLS certificate" },
  { name: "PVFLOW_STREAM", spec: { kind: "text", default: "PV" }, meaning: "JetStream stream (created with pv.> if missing)" },
  { name: "PVFLOW_CREATE_STREAM", spec: { kind: "bool", default: true }, meaning: "create the stream, and a <stream>_DLQ stream for dead letters, when missing" },
  { name: "PVFLOW_SUBJECTS", spec: { kind: "list", default: "pv.>" }, meaning: "comma-separated filter subjects, one split each" },
  { name: "PVFLOW_KEY_FIELD", spec: { kind: "text", default: "site" }, meaning: "the event field counted by" },
  { name: "PVFLOW_PARALLELISM", spec: { kind: "int", min: 1 }, defaultText: "CPU count", meaning: "count subtasks (at most PVFLOW_MAX_PARALLELISM)" },
  { name: "PVFLOW_SOURCE_PARALLELISM", spec: { kind: "int", min: 1 }, defaultText: "min(splits, parallelism)", meaning: "source subtasks (at most the number of splits)" },
  { name: "PVFLOW_MAX_PARALLELISM", spec: { kind: "int", default: 128, min: 1, max: 32768 }, meaning: "key groups (upper bound of parallelism)" },
  { name: "PVFLOW_CHECKPOINT_INTERVAL_MS", spec: ms(1000, 10), meaning: "time between checkpoint triggers" },
  { name: "PVFLOW_CHECKPOINT_TIMEOUT_MS", spec: ms(60000, 100), meaning: "a checkpoint not complete by then fails" },
  { name: "PVFLOW_CHECKPOINT_MIN_PAUSE_MS", spec: ms(0, 0), meaning: "minimum pause between two checkpoints" },
  {
    name: "PVFLOW_CHECKPOINT_MODE", spec: { kind: "enum", default: "exactly_once", values: ["exactly_once", "at_least_once"] },
    meaning: "exactly_once (aligned barriers) or at_least_once (no alignment; duplicates after a failure)",
  },
  { name: "PVFLOW_DB_URL", spec: { kind: "text", default: "file:pvflow.db" }, meaning: "libSQL: a file, or http(s)://, libsql:// for a libSQL server" },
  { name: "PVFLOW_DB_AUTH_TOKEN", spec: { kind: "text" }, secret: true, meaning: "token for a libSQL server" },
  { name: "PVFLOW_HTTP_HOST", spec: { kind: "text", default: "127.0.0.1" }, meaning: "status server address (non-loopback needs PVFLOW_ADMIN_TOKEN)" },
  { name: "PVFLOW_HTTP_PORT", spec: { kind: "int", default: 8080, min: 0, max: 65535 }, meaning: "status server port (0: any free port)" },
  { name: "PVFLOW_DLQ_SUBJECT", spec: { kind: "text", default: "pvflow.dlq" }, meaning: "where malformed events go, with the reason in headers" },
  { name: "PVFLOW_MAX_EVENT_BYTES", spec: { kind: "int", default: 65536, min: 16 }, meaning: "larger events are dead-lettered" },
  { name: "PVFLOW_WINDOW_MS", spec: { kind: "int", min: 1 }, meaning: "tumbling event-time windows of this size per key, besides the running totals (unset: no windows)" },
  { name: "PVFLOW_TIME_FIELD", spec: { kind: "text", default: "ts" }, meaning: "with windows: the event field holding its time (epoch ms)" },
  { name: "PVFLOW_OUT_OF_ORDERNESS_MS", spec: { kind: "int", default: 5000, min: 0 }, meaning: "with windows: a split's watermark trails its max event time by this much" },
  { name: "PVFLOW_IDLE_TIMEOUT_MS", spec: { kind: "int", default: 30000, min: 0 }, meaning: "with windows: a split without events this long does not hold the watermark back (0: never)" },
  { name: "PVFLOW_ALLOWED_LATENESS_MS", spec: { kind: "int", default: 0, min: 0 }, meaning: "with windows: a fired window stays open this long for updates (new revisions)" },
  { name: "PVFLOW_LATE_SUBJECT", spec: { kind: "text" }, defaultText: "the dead-letter subject", meaning: "with windows: where late events go, with the reason late" },
  { name: "PVFLOW_OUTPUT_SUBJECT", spec: { kind: "text" }, meaning: "with windows: where fired window results are published (JSON, once each; unset: only stored)" },
  { name: "PVFLOW_ADMIN_TOKEN", spec: { kind: "text" }, secret: true, meaning: "when set, every POST needs Authorization: Bearer <token>" },
  { name: "PVFLOW_BATCH_SIZE", spec: { kind: "int", default: 512, min: 1, max: 65536 }, meaning: "records per batch sent over a channel" },
  { name: "PVFLOW_CHANNEL_CREDITS", spec: { kind: "int", default: 4, min: 1, max: 1024 }, meaning: "batches in flight per channel" },
  { name: "PVFLOW_TASK_NICE", spec: { kind: "int", default: 5, min: 0, max: 19 }, meaning: "task workers (sources, counters) run this much nicer than the main and commit threads, so a saturated data path leaves the CPU to checkpoints first (Linux; 0: off)" },
  { name: "PVFLOW_RELEASE_STARTUP_PAGES", spec: { kind: "bool", default: true }, meaning: "after the first completed checkpoint, give the kernel back the binary's pages only starting up touched (madvise MADV_PAGEOUT of private file mappings; Linux >= 5.4, Bun)" },
  { name: "PVFLOW_CHECKPOINT_HISTORY", spec: { kind: "int", default: 1000, min: 1 }, meaning: "rows kept in the checkpoints history table (older ones are deleted in each commit)" },
  {
    name: "PVFLOW_SAVEPOINT_DIR", spec: { kind: "text" }, defaultText: "the database file's directory",
    meaning: "where POST /savepoints writes (created when missing; a path that is a file is refused)",
  },
  { name: "PVFLOW_RESTART_ATTEMPTS", spec: { kind: "int", default: 10, min: 0 }, meaning: "consecutive failed attempts before FAILED" },
  { name: "PVFLOW_RESTART_BACKOFF_MS", spec: ms(500, 0), meaning: "first restart delay, doubling per failure" },
  { name: "PVFLOW_RESTART_BACKOFF_MAX_MS", spec: { kind: "int", default: 10000 }, meaning: "upper bound of the restart delay (at least PVFLOW_RESTART_BACKOFF_MS)" },
  { name: "PVFLOW_SHUTDOWN_TIMEOUT_MS", spec: ms(10000, 100), meaning: "bound on the whole graceful stop; past it the process exits 1" },
  { name: "PVFLOW_CONSUMER_INACTIVE_MS", spec: ms(30000, 1000), meaning: "the server deletes a split's consumer nobody pulled from for this long" },
  {
    name: "PVFLOW_ALLOW_UNAUTHENTICATED", spec: { kind: "bool", default: false },
    meaning: "true lets the status server bind a non-loopback PVFLOW_HTTP_HOST without PVFLOW_ADMIN_TOKEN",
  },
  {
    name: "PVFLOW_LOG_FORMAT", spec: { kind: "enum", default: "text", values: ["text", "json"] },
    meaning: "text lines, or json: one object per line with time, level, msg and fields",
  },
  {
    name: "PVFLOW_CLUSTER", spec: { kind: "text" },
    meaning: "cluster mode: instances with this name share the splits through NATS KV leases and commit to one libSQL server (unset: one instance)",
  },
  { name: "PVFLOW_INSTANCE_ID", spec: { kind: "text" }, defaultText: "<host>-<pid>", meaning: "cluster mode: this instance's name, unique in the cluster" },
  { name: "PVFLOW_LEASE_TTL_MS", spec: ms(6000, 1500), meaning: "cluster mode: a split lease or member heartbeat not renewed this long expires (renewed every third)" },
  { name: "PVFLOW_FAULT_COUNT_THROW_AT", spec: { kind: "int", min: 1 }, testOnly: true, meaning: "a count subtask throws at its N-th record" },
  { name: "PVFLOW_FAULT_ATTEMPTS", spec: { kind: "int", default: 1, min: 1 }, testOnly: true, meaning: "job attempts that inject that fault" },
];

const BY_NAME = new Map(CONFIG_VARS.map((v) => [v.name, v]));

/** The declared variable `name`; throws (a programming error, not a bad value) when there is none. */
export function configVar(name: string): ConfigVar {
  const v = BY_NAME.get(name);
  if (v === undefined) throw new Error(`${name} is not declared in CONFIG_VARS (src/config_vars.ts)`);
  return v;
}

/** The default as documented: `defaultText`, else the literal default, else "unset". */
export function shownDefault(v: ConfigVar): string {
  if (v.defaultText !== undefined) return v.defaultText;
  const d = v.spec.default;
  return d === undefined ? "unset" : String(d);
}

/** Whether {@link shownDefault} is a literal value (written in backticks in the README). */
export function defaultIsLiteral(v: ConfigVar): boolean {
  return v.defaultText === undefined && v.spec.default !== undefined;
}
