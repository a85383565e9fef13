/**
 * @module
 * Unit tests for {@link loadConfig} and {@link publicConfig}: for every environment variable its
 * default, a valid non-default value, and bad values that throw a one-line {@link ConfigError};
 * plus freezing and secret redaction.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { type Config, ConfigError, loadConfig, publicConfig, redactUrl } from "./config.ts";

type Env = Record<string, string>;

/** Real files for the variables that must name one (NATS_CREDS, NATS_CA). */
const FILES = mkdtempSync(join(tmpdir(), "pvflow-config-"));
const CREDS = join(FILES, "x.creds");
const CA = join(FILES, "ca.pem");
writeFileSync(CREDS, "creds");
writeFileSync(CA, "ca");
mkdirSync(join(FILES, "dir"));
afterAll(() => rmSync(FILES, { recursive: true, force: true }));

/** Asserts that `env` throws a one-line ConfigError naming `name`, `value` and `allowed`. */
function expectBad(env: Env, name: string, value: string, allowed: string): void {
  let err: unknown;
  try {
    loadConfig(env);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConfigError);
  const message = (err as ConfigError).message;
  expect(message).not.toContain("\n");
  expect(message).toStartWith(`${name} `);
  expect(message).toContain(JSON.stringify(value));
  expect(message).toContain(allowed);
}

/** An integer variable: its config field, default, a valid value and bad values. */
interface IntCase {
  name: string;
  field: keyof Config;
  def: number | undefined;
  valid: string;
  bad: string[];
  allowed: string;
  /** Extra env the valid/bad values need. */
  with?: Env;
}

const INTS: IntCase[] = [
  { name: "PVFLOW_MAX_PARALLELISM", field: "maxParallelism", def: 128, valid: "256", bad: ["0", "32769", "abc"], allowed: "an integer from 1 to 32768" },
  { name: "PVFLOW_PARALLELISM", field: "parallelism", def: Math.min(availableParallelism(), 128), valid: "3", bad: ["0", "129", "1.5", "2e1"], allowed: "an integer from 1 to 128" },
  { name: "PVFLOW_SOURCE_PARALLELISM", field: "sourceParallelism", def: 1, valid: "2", bad: ["0", "4", "two"], allowed: "an integer from 1 to 3", with: { PVFLOW_SUBJECTS: "pv.0,pv.1,pv.2" } },
  { name: "PVFLOW_CHECKPOINT_INTERVAL_MS", field: "checkpointIntervalMs", def: 1000, valid: "250", bad: ["9", "1s"], allowed: "an integer >= 10" },
  { name: "PVFLOW_CHECKPOINT_TIMEOUT_MS", field: "checkpointTimeoutMs", def: 60000, valid: "5000", bad: ["99", "-5"], allowed: "an integer >= 100" },
  { name: "PVFLOW_CHECKPOINT_MIN_PAUSE_MS", field: "checkpointMinPauseMs", def: 0, valid: "200", bad: ["-1", "+5"], allowed: "an integer >= 0" },
  { name: "PVFLOW_CHECKPOINT_HISTORY", field: "checkpointHistory", def: 1000, valid: "1", bad: ["0", "-5", "1e3"], allowed: "an integer >= 1" },
  { name: "PVFLOW_HTTP_PORT", field: "httpPort", def: 8080, valid: "0", bad: ["65536", "-1", "http"], allowed: "an integer from 0 to 65535" },
  { name: "PVFLOW_MAX_EVENT_BYTES", field: "maxEventBytes", def: 65536, valid: "1024", bad: ["15", "64k"], allowed: "an integer >= 16" },
  { name: "PVFLOW_BATCH_SIZE", field: "batchSize", def: 512, valid: "64", bad: ["0", "65537"], allowed: "an integer from 1 to 65536" },
  { name: "PVFLOW_CHANNEL_CREDITS", field: "channelCredits", def: 4, valid: "2", bad: ["0", "1025"], allowed: "an integer from 1 to 1024" },
  { name: "PVFLOW_RESTART_ATTEMPTS", field: "restartAttempts", def: 10, valid: "0", bad: ["-1", "many"], allowed: "an integer >= 0" },
  { name: "PVFLOW_RESTART_BACKOFF_MS", field: "restartBackoffMs", def: 500, valid: "0", bad: ["-1", "0.5"], allowed: "an integer >= 0" },
  { name: "PVFLOW_RESTART_BACKOFF_MAX_MS", field: "restartBackoffMaxMs", def: 10000, valid: "30000", bad: ["499", "x"], allowed: "an integer >= 500" },
  { name: "PVFLOW_SHUTDOWN_TIMEOUT_MS", field: "shutdownTimeoutMs", def: 10000, valid: "2000", bad: ["99", "10 s"], allowed: "an integer >= 100" },
  { name: "PVFLOW_FAULT_COUNT_THROW_AT", field: "faultCountThrowAt", def: undefined, valid: "5", bad: ["0", "-3"], allowed: "an integer >= 1" },
  { name: "PVFLOW_FAULT_ATTEMPTS", field: "faultAttempts", def: 1, valid: "3", bad: ["0", "x"], allowed: "an integer >= 1" },
];

describe("config integers", () => {
  for (const c of INTS) {
    test(`config - ${c.name} defaults to ${c.def}`, () => {
      expect(loadConfig({})[c.field]).toBe(c.def);
    });
    test(`config - ${c.name} accepts ${c.valid}`, () => {
      expect(loadConfig({ ...c.with, [c.name]: c.valid })[c.field]).toBe(Number(c.valid));
    });
    for (const v of c.bad) {
      test(`config - ${c.name} rejects ${JSON.stringify(v)}`, () => {
        expectBad({ ...c.with, [c.name]: v }, c.name, v, c.allowed);
      });
    }
  }

  test("config - PVFLOW_PARALLELISM is bounded by PVFLOW_MAX_PARALLELISM", () => {
    expect(loadConfig({ PVFLOW_MAX_PARALLELISM: "1" }).parallelism).toBe(1);
    expectBad({ PVFLOW_MAX_PARALLELISM: "4", PVFLOW_PARALLELISM: "5" }, "PVFLOW_PARALLELISM", "5", "an integer from 1 to 4");
  });

  test("config - PVFLOW_SOURCE_PARALLELISM defaults to min(splits, parallelism)", () => {
    const subjects = "pv.0,pv.1,pv.2,pv.3";
    expect(loadConfig({ PVFLOW_SUBJECTS: subjects, PVFLOW_PARALLELISM: "2" }).sourceParallelism).toBe(2);
    expect(loadConfig({ PVFLOW_SUBJECTS: subjects, PVFLOW_PARALLELISM: "8" }).sourceParallelism).toBe(4);
  });

  test("config - PVFLOW_RESTART_BACKOFF_MAX_MS defaults to at least PVFLOW_RESTART_BACKOFF_MS", () => {
    expect(loadConfig({ PVFLOW_RESTART_BACKOFF_MS: "20000" }).restartBackoffMaxMs).toBe(20000);
  });

  test("config - integers are trimmed and whitespace-only means unset", () => {
    expect(loadConfig({ PVFLOW_BATCH_SIZE: " 64 " }).batchSize).toBe(64);
    expect(loadConfig({ PVFLOW_BATCH_SIZE: "   " }).batchSize).toBe(512);
  });
});

describe("config strings and lists", () => {
  test("config - NATS_URL defaults to the local server", () => {
    expect(loadConfig({}).natsServers).toEqual(["nats://127.0.0.1:4222"]);
  });
  test("config - NATS_URL accepts a trimmed comma-separated list", () => {
    expect(loadConfig({ NATS_URL: "nats://a:4222, tls://b:4443 ,localhost:4222" }).natsServers)
      .toEqual(["nats://a:4222", "tls://b:4443", "localhost:4222"]);
  });
  test("config - NATS_URL rejects other schemes, paths and empty items", () => {
    const allowed = "nats://host:port";
    expectBad({ NATS_URL: "http://a:4222" }, "NATS_URL", "http://a:4222", allowed);
    expectBad({ NATS_URL: "nats://a:4222/x" }, "NATS_URL", "nats://a:4222/x", allowed);
    expectBad({ NATS_URL: "nats://a:4222/" }, "NATS_URL", "nats://a:4222/", allowed);
    expectBad({ NATS_URL: "nats://a:4222?x=1" }, "NATS_URL", "nats://a:4222", allowed);
    expectBad({ NATS_URL: "nats://a,,nats://b" }, "NATS_URL", "nats://a,,nats://b", "without empty items");
  });
  test("config - NATS_URL accepts hosts, IPv4 and bracketed IPv6 addresses, with or without a port", () => {
    const ok = ["nats://h", "tls://nats-1.svc.cluster.local:4443", "ws://h_1:80", "wss://10.0.0.1:443", "nats://[::1]:4222",
      "[fe80::1]", "localhost", "127.0.0.1:1", "NATS://h:65535", "nats://h.:4222"];
    for (const v of ok) expect(loadConfig({ NATS_URL: v }).natsServers).toEqual([v]);
    expect(loadConfig({ NATS_URL: "nats://a:1,b:2, [::1]:3" }).natsServers).toEqual(["nats://a:1", "b:2", "[::1]:3"]);
  });
  test("config - NATS_URL rejects a port that is not 1-65535 digits", () => {
    for (const v of ["nats://127.0.0.1:80x", "nats://h:0", "nats://h:65536", "nats://h:", "h:-1", "nats://[::1]:x", "nats://h:4222:1"]) {
      expectBad({ NATS_URL: v }, "NATS_URL", v, v === "nats://h:4222:1" ? "IPv6 address in brackets" : "with a port from 1 to 65535");
    }
    // Named in a list, the bad item is quoted.
    expectBad({ NATS_URL: "nats://a:4222,nats://b:42x2" }, "NATS_URL", "nats://b:42x2", "with a port from 1 to 65535");
  });
  test("config - NATS_URL rejects malformed hosts", () => {
    for (const v of ["nats://:4222", "nats://999.0.0.1:4222", "4222", "nats://a b:1", "nats://[zz]:1", "nats://h%20:1", "::1"]) {
      expectBad({ NATS_URL: v }, "NATS_URL", v, "nats://host:port");
    }
    expectBad({ NATS_URL: "nats://[::1" }, "NATS_URL", "nats://[::1", "with an IPv6 address in brackets");
    expectBad({ NATS_URL: "nats://[zz]:1" }, "NATS_URL", "nats://[zz]:1", "with a host name, IPv4 address or [IPv6] address");
  });
  test("config - NATS_URL rejects credentials (the NATS client ignores them), quoting the URL without them", () => {
    const creds = "without credentials (set NATS_TOKEN, NATS_USER/NATS_PASSWORD or NATS_CREDS instead)";
    expectBad({ NATS_URL: "s3cret@a:4222" }, "NATS_URL", "***@a:4222", creds);
    expectBad({ NATS_URL: "nats://tok3n@a:4222" }, "NATS_URL", "nats://***@a:4222", creds);
    expectBad({ NATS_URL: "nats://a:1,tls://u:pw@b:2" }, "NATS_URL", "nats://a:1,tls://***@b:2", creds);
    // A comma inside the password does not split it into a quotable "server".
    expect(() => loadConfig({ NATS_URL: "nats://u:ab,cd@h:1" })).toThrow('got "nats://***@h:1"');
  });

  test("config - PVFLOW_STREAM defaults to PV and accepts a name", () => {
    expect(loadConfig({}).stream).toBe("PV");
    expect(loadConfig({ PVFLOW_STREAM: "ORDERS_2" }).stream).toBe("ORDERS_2");
  });
  test("config - PVFLOW_STREAM rejects names with spaces or subject characters", () => {
    for (const v of ["my.stream", "a b", "PV*", "PV>", "a/b", "a\\b"]) {
      expectBad({ PVFLOW_STREAM: v }, "PVFLOW_STREAM", v, "a stream name without");
    }
  });

  test("config - PVFLOW_SUBJECTS defaults to pv.> and accepts a list", () => {
    expect(loadConfig({}).subjects).toEqual(["pv.>"]);
    expect(loadConfig({ PVFLOW_SUBJECTS: "pv.0, pv.*.x" }).subjects).toEqual(["pv.0", "pv.*.x"]);
  });
  test("config - PVFLOW_SUBJECTS rejects every pair of overlapping subjects (NATS wildcards)", () => {
    const cases: Array<[string, string, string]> = [
      ["pv.>,pv.0", "pv.>", "pv.0"], ["pv.*,pv.0", "pv.*", "pv.0"], ["pv.0,pv.1,pv.*.x,pv.a.*", "pv.*.x", "pv.a.*"],
      ["a.b,>", "a.b", ">"], ["pv.1,pv.2,pv.3,pv.>", "pv.1", "pv.>"], ["x.*,pv.0,*.0", "x.*", "*.0"],
    ];
    for (const [v, a, b] of cases) {
      expectBad({ PVFLOW_SUBJECTS: v }, "PVFLOW_SUBJECTS", v, `subjects that do not overlap (${a} and ${b} match common subjects`);
    }
    // Disjoint wildcards are fine.
    expect(loadConfig({ PVFLOW_SUBJECTS: "pv.*,pv.*.*,pv.a.b.>,other.>" }).subjects).toHaveLength(4);
  });
  test("config - PVFLOW_SUBJECTS rejects malformed and duplicate subjects", () => {
    for (const v of ["pv.>.x", "pv..x", "pv.a*", ".pv"]) {
      expectBad({ PVFLOW_SUBJECTS: v }, "PVFLOW_SUBJECTS", v, "NATS subjects");
    }
    expectBad({ PVFLOW_SUBJECTS: "pv.a,pv.a" }, "PVFLOW_SUBJECTS", "pv.a,pv.a", "distinct subjects");
    expectBad({ PVFLOW_SUBJECTS: "pv.a," }, "PVFLOW_SUBJECTS", "pv.a,", "without empty items");
  });

  test("config - PVFLOW_KEY_FIELD defaults to site and accepts any non-blank name", () => {
    expect(loadConfig({}).keyField).toBe("site");
    expect(loadConfig({ PVFLOW_KEY_FIELD: " page " }).keyField).toBe("page");
    expect(loadConfig({ PVFLOW_KEY_FIELD: " " }).keyField).toBe("site");
  });

  test("config - PVFLOW_DB_URL defaults to file:pvflow.db and accepts libSQL URLs", () => {
    expect(loadConfig({}).dbUrl).toBe("file:pvflow.db");
    for (const v of ["file:/tmp/x.db", "http://127.0.0.1:8081", "https://db.example", "libsql://db.turso.io", "ws://h:1"]) {
      expect(loadConfig({ PVFLOW_DB_URL: v }).dbUrl).toBe(v);
    }
  });
  test("config - PVFLOW_DB_URL rejects paths and other schemes", () => {
    for (const v of ["pvflow.db", "file:", "postgres://h/db"]) {
      expectBad({ PVFLOW_DB_URL: v }, "PVFLOW_DB_URL", v, "file:<path>, http(s)://");
    }
  });
  test("config - PVFLOW_DB_URL accepts the file: URL forms the libSQL client opens", () => {
    const abs = join(FILES, "x.db");
    for (const v of [`file:${abs}`, `file://${abs}`, `file://localhost${abs}`, "file:rel.db", `file:${abs}?authToken=t`,
      `file:${join(FILES, "dir")}/y.db`, `file:${FILES}/%64ir/y.db`]) {
      expect(loadConfig({ PVFLOW_DB_URL: v }).dbUrl).toBe(v);
    }
  });
  test("config - PVFLOW_DB_URL rejects a file: URL whose directory is missing", () => {
    const missing = join(FILES, "no", "such", "dir");
    expectBad({ PVFLOW_DB_URL: `file:${missing}/x.db` }, "PVFLOW_DB_URL", `file:${missing}/x.db`, `file:<path> in an existing directory (${missing}: ENOENT)`);
    expectBad({ PVFLOW_DB_URL: `file://${missing}/x.db` }, "PVFLOW_DB_URL", `file://${missing}/x.db`, "in an existing directory");
    expectBad({ PVFLOW_DB_URL: "file:no-such-dir-here/x.db?authToken=s3cret" }, "PVFLOW_DB_URL", "file:no-such-dir-here/x.db", "(no-such-dir-here: ENOENT)");
    expectBad({ PVFLOW_DB_URL: `file:${CREDS}/x.db` }, "PVFLOW_DB_URL", `file:${CREDS}/x.db`, `(${CREDS} is not a directory)`);
  });
  test("config - PVFLOW_DB_URL rejects other hosts, query parameters, directories, :memory: and bad encoding", () => {
    const cases: Array<[string, string, string]> = [
      ["file://db-host/x.db", "file://db-host/x.db", "of a local file"],
      ["file:x.db?mode=ro", "file:x.db", "without query parameters"],
      [`file:${FILES}/dir`, `file:${FILES}/dir`, "is a directory"],
      ["file::memory:", "file::memory:", "not :memory:"],
      ["file:x%zz.db", "file:x%zz.db", "valid percent-encoding"],
    ];
    for (const [v, shown, allowed] of cases) expectBad({ PVFLOW_DB_URL: v }, "PVFLOW_DB_URL", shown, allowed);
  });

  test("config - PVFLOW_HTTP_HOST defaults to 127.0.0.1 and accepts any loopback host", () => {
    expect(loadConfig({}).httpHost).toBe("127.0.0.1");
    for (const v of ["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"]) {
      expect(loadConfig({ PVFLOW_HTTP_HOST: v }).httpHost).toBe(v);
    }
  });
  test("config - PVFLOW_HTTP_HOST refuses a non-loopback host without PVFLOW_ADMIN_TOKEN", () => {
    for (const v of ["0.0.0.0", "::", "10.0.0.5", "128.0.0.1", "127.0.0.256", "pvflow.example", "localhost.example", "::2", "::ffff:10.0.0.1"]) {
      expectBad({ PVFLOW_HTTP_HOST: v }, "PVFLOW_HTTP_HOST", v,
        "a loopback address (127.0.0.1, ::1 or localhost) unless PVFLOW_ADMIN_TOKEN is set (or PVFLOW_ALLOW_UNAUTHENTICATED=true)");
    }
  });
  test("config - PVFLOW_HTTP_HOST binds any host with PVFLOW_ADMIN_TOKEN, or with PVFLOW_ALLOW_UNAUTHENTICATED=true", () => {
    expect(loadConfig({ PVFLOW_HTTP_HOST: "0.0.0.0", PVFLOW_ADMIN_TOKEN: "t" }).httpHost).toBe("0.0.0.0");
    const open = loadConfig({ PVFLOW_HTTP_HOST: "0.0.0.0", PVFLOW_ALLOW_UNAUTHENTICATED: "true" });
    expect([open.httpHost, open.allowUnauthenticated]).toEqual(["0.0.0.0", true]);
    expect(loadConfig({}).allowUnauthenticated).toBe(false);
    // Only an explicit true allows it.
    expectBad({ PVFLOW_HTTP_HOST: "0.0.0.0", PVFLOW_ALLOW_UNAUTHENTICATED: "false" }, "PVFLOW_HTTP_HOST", "0.0.0.0", "unless PVFLOW_ADMIN_TOKEN");
    expectBad({ PVFLOW_ALLOW_UNAUTHENTICATED: "sure" }, "PVFLOW_ALLOW_UNAUTHENTICATED", "sure", "true or false");
  });
  test("config - PVFLOW_HTTP_HOST rejects URLs and spaces", () => {
    for (const v of ["http://h", "a b"]) {
      expectBad({ PVFLOW_HTTP_HOST: v }, "PVFLOW_HTTP_HOST", v, "a host name or IP address");
    }
  });

  test("config - PVFLOW_SAVEPOINT_DIR is unset by default and accepts a directory or a path to create", () => {
    expect(loadConfig({}).savepointDir).toBeUndefined();
    expect(loadConfig({ PVFLOW_SAVEPOINT_DIR: join(FILES, "dir") }).savepointDir).toBe(join(FILES, "dir"));
    expect(loadConfig({ PVFLOW_SAVEPOINT_DIR: join(FILES, "new", "sp") }).savepointDir).toBe(join(FILES, "new", "sp"));
  });
  test("config - PVFLOW_SAVEPOINT_DIR rejects a path that is a file", () => {
    expectBad({ PVFLOW_SAVEPOINT_DIR: CA }, "PVFLOW_SAVEPOINT_DIR", CA, "a directory");
    // Below a file (ENOTDIR): the same one-line refusal, never a stack trace.
    expectBad({ PVFLOW_SAVEPOINT_DIR: join(CA, "sub") }, "PVFLOW_SAVEPOINT_DIR", join(CA, "sub"), "ENOTDIR");
  });
  test("config - PVFLOW_DLQ_SUBJECT defaults to pvflow.dlq and accepts a subject", () => {
    expect(loadConfig({}).dlqSubject).toBe("pvflow.dlq");
    expect(loadConfig({ PVFLOW_DLQ_SUBJECT: "dead.letters" }).dlqSubject).toBe("dead.letters");
  });
  test("config - PVFLOW_DLQ_SUBJECT rejects a subject inside a split (its dead letters would be read back)", () => {
    for (const [subjects, dlq, split] of [["pv.>", "pv.dlq", "pv.>"], ["pv.0.a,pv.*", "pv.dlq", "pv.*"], [">", "pvflow.dlq", ">"], ["a,pv.dlq", "pv.dlq", "pv.dlq"]]) {
      expectBad({ PVFLOW_SUBJECTS: subjects, PVFLOW_DLQ_SUBJECT: dlq }, "PVFLOW_DLQ_SUBJECT", dlq, `a subject outside PVFLOW_SUBJECTS (split ${split} would read`);
    }
    expect(loadConfig({ PVFLOW_SUBJECTS: "pv.*", PVFLOW_DLQ_SUBJECT: "pv.dlq.x" }).dlqSubject).toBe("pv.dlq.x");
  });
  test("config - PVFLOW_DLQ_SUBJECT rejects wildcards and empty tokens", () => {
    for (const v of ["dlq.>", "dlq.*", "dlq..x"]) {
      expectBad({ PVFLOW_DLQ_SUBJECT: v }, "PVFLOW_DLQ_SUBJECT", v, "a NATS subject without wildcards");
    }
  });

  test("config - PVFLOW_CHECKPOINT_MODE defaults to exactly_once and accepts at_least_once", () => {
    expect(loadConfig({}).checkpointMode).toBe("exactly_once");
    expect(loadConfig({ PVFLOW_CHECKPOINT_MODE: "at_least_once" }).checkpointMode).toBe("at_least_once");
  });
  test("config - PVFLOW_CHECKPOINT_MODE rejects other modes", () => {
    expectBad({ PVFLOW_CHECKPOINT_MODE: "exactly-once" }, "PVFLOW_CHECKPOINT_MODE", "exactly-once", "one of exactly_once, at_least_once");
  });

  test("config - PVFLOW_LOG_FORMAT defaults to text and accepts json; anything else is refused", () => {
    expect(loadConfig({}).logFormat).toBe("text");
    expect(loadConfig({ PVFLOW_LOG_FORMAT: "json" }).logFormat).toBe("json");
    expectBad({ PVFLOW_LOG_FORMAT: "JSON" }, "PVFLOW_LOG_FORMAT", "JSON", "one of text, json");
  });

  test("config - PVFLOW_CREATE_STREAM defaults to true and accepts boolean words", () => {
    expect(loadConfig({}).createStream).toBe(true);
    for (const v of ["false", "0", "no", "FALSE"]) expect(loadConfig({ PVFLOW_CREATE_STREAM: v }).createStream).toBe(false);
    for (const v of ["true", "1", "yes", "Yes"]) expect(loadConfig({ PVFLOW_CREATE_STREAM: v }).createStream).toBe(true);
  });
  test("config - PVFLOW_CREATE_STREAM rejects other words, quoting them as given", () => {
    expectBad({ PVFLOW_CREATE_STREAM: "Maybe" }, "PVFLOW_CREATE_STREAM", "Maybe", "true or false");
  });
});

describe("config secrets", () => {
  test("config - credentials default to unset", () => {
    const c = loadConfig({});
    expect(c.natsAuth).toEqual({ token: undefined, user: undefined, password: undefined, credsFile: undefined, caFile: undefined });
    expect(c.dbAuthToken).toBeUndefined();
    expect(c.adminToken).toBeUndefined();
  });
  test("config - credentials are read", () => {
    const c = loadConfig({
      NATS_TOKEN: "tok", NATS_USER: "u", NATS_PASSWORD: "p", NATS_CREDS: CREDS, NATS_CA: CA,
      PVFLOW_DB_AUTH_TOKEN: "dbt", PVFLOW_ADMIN_TOKEN: "adm",
    });
    expect(c.natsAuth).toEqual({ token: "tok", user: "u", password: "p", credsFile: CREDS, caFile: CA });
    expect(c.dbAuthToken).toBe("dbt");
    expect(c.adminToken).toBe("adm");
  });
  test("config - NATS_PASSWORD keeps surrounding spaces and empty means unset", () => {
    expect(loadConfig({ NATS_USER: "u", NATS_PASSWORD: " p " }).natsAuth.password).toBe(" p ");
    expect(loadConfig({ NATS_PASSWORD: "" }).natsAuth.password).toBeUndefined();
  });
  test("config - NATS_CREDS must be a readable file, and the error does not echo its path", () => {
    for (const path of [join(FILES, "missing-s3cret.creds"), join(FILES, "dir")]) {
      let err: unknown;
      try {
        loadConfig({ NATS_CREDS: path });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toStartWith("NATS_CREDS must name a readable NATS creds file");
      expect((err as Error).message).not.toContain(FILES);
    }
  });
  test("config - NATS_CA must be a readable file", () => {
    const missing = join(FILES, "missing-ca.pem");
    expectBad({ NATS_CA: missing }, "NATS_CA", missing, "a readable PEM file of trusted CA certificates (ENOENT)");
    expect(publicConfig(loadConfig({ NATS_CA: CA }))).toMatchObject({ natsTlsCa: "set" });
  });
  test("config - a bad URL is quoted without its user info", () => {
    expectBad({ NATS_URL: "nats://me:pw@a:4222/x" }, "NATS_URL", "nats://***@a:4222/x", "nats://host:port");
    expect(() => loadConfig({ NATS_URL: "nats://me:pw@a:4222/x" })).not.toThrow(/pw/);
    expect(() => loadConfig({ PVFLOW_DB_URL: "postgres://me:pw@h/db?authToken=t" })).not.toThrow(/pw|authToken/);
  });
  test("config - NATS_PASSWORD without NATS_USER throws without echoing the password", () => {
    let err: unknown;
    try {
      loadConfig({ NATS_PASSWORD: "hunter2" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message).not.toContain("\n");
    expect(message).toContain("NATS_PASSWORD");
    expect(message).toContain("NATS_USER");
    expect(message).not.toContain("hunter2");
  });
});

describe("config freezing and redaction", () => {
  test("config - the config and its arrays and auth are frozen", () => {
    const c = loadConfig({ NATS_TOKEN: "t" });
    for (const o of [c, c.natsServers, c.subjects, c.natsAuth]) expect(Object.isFrozen(o)).toBe(true);
    expect(() => { (c as Config).stream = "X"; }).toThrow(TypeError);
    expect(() => c.natsServers.push("nats://x:1")).toThrow(TypeError);
    expect(() => { (c.natsAuth as { token?: string }).token = "x"; }).toThrow(TypeError);
  });

  test("config - publicConfig never contains secrets", () => {
    const secrets = ["natstok", "natspw", "dbtok", "admtok", "urlpw", "qtok", "dbpw", "leak"];
    const envs: Env[] = [
      {
        NATS_TOKEN: "natstok", PVFLOW_DB_AUTH_TOKEN: "dbtok", PVFLOW_ADMIN_TOKEN: "admtok",
        NATS_URL: "nats://a:4222,tls://b:4443",
        PVFLOW_DB_URL: "libsql://me:dbpw@db.turso.io?authToken=qtok",
      },
      { NATS_USER: "me", NATS_PASSWORD: "natspw", NATS_URL: "nats://a:4222", PVFLOW_DB_URL: "https://me:dbpw@h/x" },
    ];
    for (const env of envs) {
      const text = JSON.stringify(publicConfig(loadConfig(env)));
      for (const s of secrets) expect(text).not.toContain(s);
    }
    const p = publicConfig(loadConfig(envs[0]!));
    expect(p.natsServers).toEqual(["nats://a:4222", "tls://b:4443"]);
    expect(p.dbUrl).toBe("libsql://***@db.turso.io");
    expect(p).toMatchObject({ natsAuth: "token", dbAuth: "token", adminToken: "set" });
    expect(publicConfig(loadConfig(envs[1]!))).toMatchObject({ natsAuth: "user", natsServers: ["nats://a:4222"], dbUrl: "https://***@h/x" });
  });

  test("config - publicConfig reports unset credentials and keeps plain settings", () => {
    const p = publicConfig(loadConfig({}));
    expect(p).toMatchObject({ natsAuth: "none", dbAuth: "none", adminToken: "unset", stream: "PV", dbUrl: "file:pvflow.db" });
    expect(publicConfig(loadConfig({ NATS_CREDS: CREDS, NATS_TOKEN: "t" })).natsAuth).toBe("creds");
    expect(JSON.stringify(publicConfig(loadConfig({ NATS_CREDS: CREDS, NATS_CA: CA })))).not.toContain(FILES);
  });

  test("config - redactUrl leaves URLs without user info alone", () => {
    for (const u of ["nats://a:4222", "nats://a:4222, tls://b:4443 ,localhost:4222", "http://h:1/p", "nats://[::1]:4222", "file:/x/y@z.db", "h:4222"]) {
      expect(redactUrl(u)).toBe(u);
    }
  });
});

describe("config - windows", () => {
  test("config - windows are off unless PVFLOW_WINDOW_MS is set, and their subjects are checked", () => {
    expect(loadConfig({}).windows).toBeUndefined();
    expect(loadConfig({ PVFLOW_WINDOW_MS: "60000" }).windows).toEqual({
      sizeMs: 60000, timeField: "ts", outOfOrdernessMs: 5000, idleTimeoutMs: 30000, allowedLatenessMs: 0,
      lateSubject: "pvflow.dlq", outputSubject: undefined,
    });
    expect(() => loadConfig({ PVFLOW_WINDOW_MS: "0" })).toThrow(/^PVFLOW_WINDOW_MS must be an integer >= 1/);
    expect(() => loadConfig({ PVFLOW_WINDOW_MS: "10", PVFLOW_CHECKPOINT_MODE: "at_least_once" })).toThrow(/^PVFLOW_CHECKPOINT_MODE must be exactly_once when PVFLOW_WINDOW_MS is set/);
    expect(() => loadConfig({ PVFLOW_WINDOW_MS: "10", PVFLOW_LATE_SUBJECT: "pv.late" })).toThrow(/^PVFLOW_LATE_SUBJECT must be a subject outside PVFLOW_SUBJECTS/);
    expect(() => loadConfig({ PVFLOW_WINDOW_MS: "10", PVFLOW_OUTPUT_SUBJECT: "out.*" })).toThrow(/^PVFLOW_OUTPUT_SUBJECT must be a NATS subject without wildcards/);
    expect(() => loadConfig({ PVFLOW_WINDOW_MS: "10", PVFLOW_OUTPUT_SUBJECT: "pvflow.dlq" })).toThrow(/^PVFLOW_OUTPUT_SUBJECT must be a subject other than/);
  });
});

describe("config cluster mode", () => {
  const server = { PVFLOW_DB_URL: "http://127.0.0.1:8080" };
  test("config - without PVFLOW_CLUSTER there is no cluster config", () => {
    expect(loadConfig({}).cluster).toBeUndefined();
  });
  test("config - PVFLOW_CLUSTER with a libSQL server: name, instance id (default host-pid) and lease TTL", () => {
    const c = loadConfig({ ...server, PVFLOW_CLUSTER: "edge_1" }).cluster!;
    expect(c.name).toBe("edge_1");
    expect(c.instanceId).toMatch(new RegExp(`-${process.pid}$`));
    expect(c.leaseTtlMs).toBe(6000);
    const d = loadConfig({ ...server, PVFLOW_CLUSTER: "e", PVFLOW_INSTANCE_ID: "node-a.1", PVFLOW_LEASE_TTL_MS: "3000" }).cluster!;
    expect([d.instanceId, d.leaseTtlMs]).toEqual(["node-a.1", 3000]);
  });
  test("config - PVFLOW_CLUSTER refuses a file database, naming PVFLOW_DB_URL", () => {
    expectBad({ PVFLOW_CLUSTER: "e", PVFLOW_DB_URL: "file:/tmp/x.db" }, "PVFLOW_DB_URL", "file:/tmp/x.db", "a libSQL server URL");
  });
  test("config - PVFLOW_CLUSTER refuses windows, a bad name, a bad instance id and a short lease TTL", () => {
    expectBad({ ...server, PVFLOW_CLUSTER: "e", PVFLOW_WINDOW_MS: "1000" }, "PVFLOW_WINDOW_MS", "1000", "unset when PVFLOW_CLUSTER is set");
    expectBad({ ...server, PVFLOW_CLUSTER: "a.b" }, "PVFLOW_CLUSTER", "a.b", "A-Z a-z 0-9 _ -");
    expectBad({ ...server, PVFLOW_CLUSTER: "e", PVFLOW_INSTANCE_ID: "a b" }, "PVFLOW_INSTANCE_ID", "a b", "printable ASCII");
    expectBad({ ...server, PVFLOW_CLUSTER: "e", PVFLOW_LEASE_TTL_MS: "1000" }, "PVFLOW_LEASE_TTL_MS", "1000", "an integer >= 1500");
  });
});
