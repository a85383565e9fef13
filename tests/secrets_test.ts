/**
 * End-to-end: the compiled binary never shows a secret. It runs with every secret set — a NATS
 * creds file (its path, JWT and seed), NATS_TOKEN, NATS_USER/NATS_PASSWORD, PVFLOW_ADMIN_TOKEN and
 * PVFLOW_DB_AUTH_TOKEN for a libSQL server that requires it — through success and failure (worker
 * restarts that cannot read the creds file, the libSQL server gone, wrong NATS credentials, a bad
 * or refusing PVFLOW_DB_URL, config errors), and no secret value appears in its log, `/status`,
 * `/readyz`, `/checkpoints`, `/counts`, `/metrics`, `/` or any error answer.
 */
import { describe, expect, test } from "bun:test";
import { credsAuthenticator } from "@nats-io/nats-core";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { generateKeyPairSync, sign } from "node:crypto";
import { mkdir, rename } from "node:fs/promises";
import { join } from "node:path";
import { publishRange, total } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { withTempDirAndBinary } from "./support/suite.ts";
import { jwtSetup } from "./support/nats_jwt.ts";
import { pipelineEnv, PvflowProcess, waitFor } from "./support/pvflow_process.ts";
import { Sqld } from "./support/sqld.ts";
import { allCounts } from "./support/counts.ts";

let dir: string;
let binary: string;
withTempDirAndBinary("pvflow-secrets-", (d, b) => {
  dir = d;
  binary = b;
});

const NATS_TOKEN = "natsTok3n-SECRET-4a1f";
const NATS_PASSWORD = "natsPassw0rd-SECRET-9c2e";
const ADMIN_TOKEN = "adminT0ken-SECRET-77b3";
/** Every secret also carries this marker, so a partial leak shows too. */
const MARKER = "SECRET";

/** An Ed25519 key for sqld (`authJwtKey`) and a JWT signed with it (the libSQL auth token). */
function sqldAuth(): { publicKey: string; token: string } {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const body = `${part({ alg: "EdDSA", typ: "JWT" })}.${part({ a: "rw", pvflow: MARKER })}`;
  return {
    publicKey: publicKey.export({ format: "jwk" }).x!,
    token: `${body}.${sign(null, Buffer.from(body), privateKey).toString("base64url")}`,
  };
}

/** A creds file for `setup` in a directory whose name is secret too; its path, JWT and seed. */
async function writeCreds(setup: ReturnType<typeof jwtSetup>, name: string): Promise<{ path: string; creds: string; secrets: string[] }> {
  const credsDir = join(dir, `creds-location-${MARKER}-${name}`);
  await mkdir(credsDir, { recursive: true });
  const path = join(credsDir, "pvflow.creds");
  const creds = setup.userCreds();
  await Bun.write(path, creds);
  const seed = /SU[A-Z0-9]{56}/.exec(creds)![0];
  const userJwt = /^eyJ[^\n]+/m.exec(creds)![0];
  return { path, creds, secrets: [path, credsDir, seed, userJwt, userJwt.split(".")[2]!] };
}

/** Fails with the offending text when any secret (or the marker) appears in `text`. */
function expectNoSecret(what: string, text: string, secrets: string[]): void {
  for (const s of [...secrets, MARKER]) {
    if (text.includes(s)) throw new Error(`${what} contains the secret ${JSON.stringify(s.slice(0, 12))}…:\n${text}`);
  }
}

/** Every answer of the status server, as text: GETs, error answers, and POSTs with and without the admin token. */
async function allAnswers(pv: PvflowProcess): Promise<string[]> {
  const out: string[] = [];
  const req = async (path: string, init?: RequestInit) => {
    const res = await fetch(pv.url + path, init);
    const headers: string[] = [];
    res.headers.forEach((value, name) => headers.push(`${name}: ${value}`));
    out.push(`${init?.method ?? "GET"} ${path} -> ${res.status} ${headers.join("; ")}\n${await res.text()}`);
    return res.status;
  };
  for (const p of ["/", "/healthz", "/readyz", "/status", "/checkpoints", "/checkpoints/1", "/checkpoints/999999",
    "/checkpoints/abc", "/counts", "/counts?top=3", "/counts?top=x", "/counts/no-such-key", "/metrics", "/no-such-route"]) {
    await req(p);
  }
  expect(await req("/checkpoints", { method: "POST" })).toBe(401);
  expect(await req("/checkpoints", { method: "POST", headers: { authorization: "Bearer wrong" } })).toBe(401);
  expect(await req("/checkpoints", { method: "POST", headers: { authorization: `Basic ${ADMIN_TOKEN}` } })).toBe(401);
  expect([202, 503]).toContain(await req("/checkpoints", { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }));
  await req("/status", { method: "PUT" });
  await req("/counts", { method: "DELETE", headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return out;
}

/** Runs the binary until it exits; its exit code and everything it printed. */
async function runToExit(env: Record<string, string>): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn([binary], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", PVFLOW_HTTP_PORT: "0", ...env },
    stdin: "ignore", stdout: "pipe", stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, output: out + err };
}

describe("secrets - a working pvflow", () => {
  test("secrets - with every secret set and used, none shows in the log or any answer, through restarts and outages", async () => {
    const setup = jwtSetup();
    await using nats = await NatsServer.start({ config: setup.serverConfig });
    const creds = await writeCreds(setup, "running");
    const db = sqldAuth();
    await using sqld = await Sqld.start({ authJwtKey: db.publicKey });
    const secrets = [...creds.secrets, NATS_TOKEN, NATS_PASSWORD, ADMIN_TOKEN, db.token, db.token.split(".")[2]!];

    const nc = await connect({ servers: nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(creds.creds)) });
    await (await jetstreamManager(nc)).streams.add({ name: "PV", subjects: ["pv.>"] });
    const js = jetstream(nc);
    const expected = new Map<string, number>();
    await publishRange(js, 0, 1_000, expected);

    await using pv = await PvflowProcess.start({
      binary,
      env: pipelineEnv(nats.url, "unused", {
        NATS_CREDS: creds.path, NATS_TOKEN, NATS_USER: "pvflow", NATS_PASSWORD,
        PVFLOW_ADMIN_TOKEN: ADMIN_TOKEN, PVFLOW_DB_URL: sqld.url, PVFLOW_DB_AUTH_TOKEN: db.token,
        // One count subtask, so the injected fault fires at a known total.
        PVFLOW_PARALLELISM: "1", PVFLOW_FAULT_COUNT_THROW_AT: "1500",
        PVFLOW_RESTART_ATTEMPTS: "1000", PVFLOW_RESTART_BACKOFF_MS: "100", PVFLOW_RESTART_BACKOFF_MAX_MS: "400",
      }),
    });
    const answers: string[] = [];
    const counted = async () => total(await allCounts(pv));
    await pv.waitReady();
    await waitFor(async () => (await counted()) >= 1_000, 30_000, () => pv.log);
    const status = (await pv.json("/status")).body;
    expect(status.config).toMatchObject({ natsAuth: "creds", dbAuth: "token", adminToken: "set" });
    answers.push(...await allAnswers(pv));

    // The creds file disappears, then a worker fails: restarted source Workers cannot read it.
    await rename(creds.path, `${creds.path}.away`);
    await publishRange(js, 1_000, 3_000, expected);
    await waitFor(() => pv.log.includes("cannot read the NATS_CREDS file (ENOENT)"), 20_000, () => pv.log);
    const restarting = (await pv.json("/status")).body;
    expect(restarting.state).toBe("RESTARTING");
    expect(restarting.stateReason).toContain(`cannot connect to NATS at ${nats.url}: cannot read the NATS_CREDS file (ENOENT)`);
    answers.push(...await allAnswers(pv));
    await rename(`${creds.path}.away`, creds.path);
    await pv.waitReady();
    await waitFor(async () => (await counted()) >= 3_000, 30_000, () => pv.log);

    // The libSQL server goes away: checkpoints fail, with reasons in the log and in /status.
    await sqld.stop();
    await waitFor(() => /checkpoint \d+ FAILED/.test(pv.log), 20_000, () => pv.log);
    await waitFor(async () => (await pv.json("/status")).body.checkpoints.latestFailure !== null, 10_000, () => pv.log);
    const failing = await fetch(pv.url + "/status").then((r) => r.text());
    answers.push(failing, await fetch(pv.url + "/checkpoints").then((r) => r.text()), await fetch(pv.url + "/metrics").then((r) => r.text()));
    await sqld.restart();
    await publishRange(js, 3_000, 4_000, expected);
    await waitFor(async () => (await counted()) >= 4_000, 30_000, () => pv.log);
    answers.push(...await allAnswers(pv));

    expect(await allCounts(pv)).toEqual(expected);
    expect((await pv.json("/status")).body.restarts).toBeGreaterThanOrEqual(2);
    expect(await pv.kill("SIGTERM")).toBe(0);
    await nc.close();
    expectNoSecret("the process log", pv.log, secrets);
    for (const a of answers) expectNoSecret("an answer", a, secrets);
  }, 120_000);
});

describe("secrets - failing starts", () => {
  test("secrets - wrong NATS credentials: pvflow waits and says why, printing no secret", async () => {
    await using nats = await NatsServer.start({ config: `authorization { users: [ { user: "pvflow", password: "right-pa55" } ] }` });
    const db = sqldAuth();
    await using sqld = await Sqld.start({ authJwtKey: db.publicKey });
    const secrets = [NATS_TOKEN, NATS_PASSWORD, ADMIN_TOKEN, db.token, "right-pa55"];
    await using pv = await PvflowProcess.start({
      binary,
      env: pipelineEnv(nats.url, "unused", {
        NATS_USER: "pvflow", NATS_PASSWORD, PVFLOW_ADMIN_TOKEN: ADMIN_TOKEN,
        PVFLOW_DB_URL: sqld.url, PVFLOW_DB_AUTH_TOKEN: db.token,
      }),
    });
    await waitFor(() => (pv.log.match(/Authorization Violation/g) ?? []).length >= 2, 15_000, () => pv.log);
    const answers = await allAnswers(pv);
    expect((await pv.json("/status")).body.stateReason)
      .toContain(`cannot connect to NATS at ${nats.url}: Authorization Violation (the server rejected NATS_USER/NATS_PASSWORD)`);
    expect(await pv.kill("SIGTERM")).toBe(0);
    expectNoSecret("the process log", pv.log, secrets);
    for (const a of answers) expectNoSecret("an answer", a, secrets);
  }, 60_000);

  test("secrets - an unreachable PVFLOW_DB_URL with credentials in it stops startup with one line, printing no secret", async () => {
    const setup = jwtSetup();
    const creds = await writeCreds(setup, "bad-db-url");
    const env = {
      NATS_CREDS: creds.path, NATS_TOKEN, NATS_USER: "pvflow", NATS_PASSWORD, PVFLOW_ADMIN_TOKEN: ADMIN_TOKEN,
      PVFLOW_DB_AUTH_TOKEN: "dbT0ken-SECRET-aa01",
      PVFLOW_DB_URL: "http://dbuser:dbPassw0rd-SECRET-1@127.0.0.1:1/?authToken=dbQueryT0ken-SECRET-2",
    };
    const { code, output } = await runToExit(env);
    expect(code).toBe(1);
    expect(output.trim()).toStartWith("pvflow: cannot open the checkpoint store http://***@127.0.0.1:1/:");
    expect(output.trim().split("\n")).toHaveLength(1);
    expectNoSecret("the output", output, [...creds.secrets, NATS_TOKEN, NATS_PASSWORD, ADMIN_TOKEN, "dbT0ken", "dbPassw0rd", "dbQueryT0ken"]);
  });

  test("secrets - a libSQL server refusing PVFLOW_DB_AUTH_TOKEN stops startup with one line, printing no secret", async () => {
    const db = sqldAuth();
    await using sqld = await Sqld.start({ authJwtKey: db.publicKey });
    const wrong = sqldAuth().token; // signed by another key
    const { code, output } = await runToExit({
      NATS_TOKEN, PVFLOW_ADMIN_TOKEN: ADMIN_TOKEN, PVFLOW_DB_URL: sqld.url, PVFLOW_DB_AUTH_TOKEN: wrong,
    });
    expect(code).toBe(1);
    expect(output.trim()).toStartWith(`pvflow: cannot open the checkpoint store ${sqld.url}:`);
    expect(output).toContain("401");
    expectNoSecret("the output", output, [NATS_TOKEN, ADMIN_TOKEN, wrong, wrong.split(".")[2]!, db.token]);
  });

  test("secrets - config errors name the variable, never the secret", async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ NATS_PASSWORD }, "NATS_PASSWORD is set but NATS_USER is not"],
      [{ NATS_URL: `nats://pvflow:${NATS_PASSWORD}@127.0.0.1:4222/x` }, 'NATS_URL must be nats://host:port (or tls://, ws://, wss://), comma-separated, got "nats://***@127.0.0.1:4222/x"'],
      [{ PVFLOW_DB_URL: `postgres://u:${NATS_PASSWORD}@h/db?authToken=${ADMIN_TOKEN}` }, 'PVFLOW_DB_URL must be file:<path>'],
      [{ NATS_CREDS: join(dir, `missing-${MARKER}.creds`) }, "NATS_CREDS must name a readable NATS creds file"],
      [{ NATS_TOKEN, PVFLOW_ADMIN_TOKEN: ADMIN_TOKEN, PVFLOW_PARALLELISM: "many" }, 'PVFLOW_PARALLELISM must be'],
    ];
    for (const [env, message] of cases) {
      const { code, output } = await runToExit(env);
      expect(code).toBe(2);
      expect(output).toStartWith(`pvflow: ${message}`);
      expectNoSecret("the output", output, [NATS_PASSWORD, NATS_TOKEN, ADMIN_TOKEN]);
    }
  });
});
