/**
 * End-to-end: NATS credentials and TLS. For each kind — token, user/password, a creds file (JWT +
 * nkey seed, operator mode) and TLS with a private CA — a real nats-server REQUIRES it, the
 * compiled binary (main thread and source Workers) connects with it and counts exactly what a
 * client with the same credentials published; with wrong credentials it does not run, says why
 * (the NATS URL and the failure) in its log and `/status`, and never prints the secret.
 */
import { describe, expect, test } from "bun:test";
import { credsAuthenticator, type ConnectionOptions } from "@nats-io/nats-core";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { createAccount } from "@nats-io/nkeys";
import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import { committedCounts } from "./support/committed.ts";
import { publishRange, total } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { withTempDirAndBinary } from "./support/suite.ts";
import { jwtSetup } from "./support/nats_jwt.ts";
import { pipelineEnv, PvflowProcess, waitFor } from "./support/pvflow_process.ts";
import { makeTlsCerts } from "./support/tls_certs.ts";
import { allCounts } from "./support/counts.ts";

let dir: string;
let binary: string;
withTempDirAndBinary("pvflow-nats-auth-", (d, b) => {
  dir = d;
  binary = b;
});

let runs = 0;

/**
 * Publishes with `client` options, runs pvflow with `env`, publishes more while it runs, and
 * checks the committed counts equal what was published.
 */
async function countsExactly(url: string, client: Partial<ConnectionOptions>, env: Record<string, string>): Promise<void> {
  const nc = await connect({ servers: url, ...client });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "PV", subjects: ["pv.>"] });
    const js = jetstream(nc);
    const expected = new Map<string, number>();
    await publishRange(js, 0, 3_000, expected);
    const db = join(dir, `exact-${++runs}.db`);
    await using pv = await PvflowProcess.start({ binary, env: pipelineEnv(url, db, env) });
    await pv.waitReady();
    await waitFor(async () => total(await allCounts(pv)) >= 3_000, 30_000, () => pv.log);
    await publishRange(js, 3_000, 4_000, expected);
    await waitFor(async () => total(await allCounts(pv)) >= 4_000, 30_000, () => pv.log);
    const status = (await pv.json("/status")).body;
    expect(status.nats.connected).toBe(true);
    expect(status.restarts).toBe(0);
    expect(await pv.kill("SIGTERM")).toBe(0);
    expect(await committedCounts(db)).toEqual(expected);
  } finally {
    await nc.close();
  }
}

/**
 * Runs pvflow with `env` (wrong credentials) and checks it does not run: its log and `/status`
 * name the NATS URL and `reason`, `/readyz` is 503, and no `secrets` value is printed anywhere.
 */
async function refuses(url: string, env: Record<string, string>, reason: RegExp, secrets: string[]): Promise<string> {
  const db = join(dir, `refused-${++runs}.db`);
  await using pv = await PvflowProcess.start({ binary, env: pipelineEnv(url, db, env) });
  await waitFor(() => /waiting for NATS/.test(pv.log) && reason.test(pv.log), 15_000, () => pv.log);
  const status = (await pv.json("/status")).body;
  expect(status.state).toBe("RESTORING");
  expect(status.stateReason).toContain(`cannot connect to NATS at ${url}`);
  expect(status.stateReason).toMatch(reason);
  expect(status.nats.connected).toBe(false);
  const ready = await pv.json("/readyz");
  expect(ready.status).toBe(503);
  expect(pv.log).toContain(`cannot connect to NATS at ${url}`);
  expect(pv.proc.exitCode).toBeNull();
  // Still retrying (credentials may be fixed on the server), never connected.
  await Bun.sleep(600);
  expect((await pv.json("/status")).body.state).toBe("RESTORING");
  expect(await pv.kill("SIGTERM")).toBe(0);
  const seen = [pv.log, JSON.stringify(status), JSON.stringify(ready.body)].join("\n");
  for (const s of secrets) expect(seen).not.toContain(s);
  return status.stateReason;
}

const AUTH_FAILURE = /Authorization Violation/i;

describe("nats auth - token", () => {
  const TOKEN = "t0ken-for-pvflow-8d1f";
  const config = `authorization { token: ${JSON.stringify(TOKEN)} }`;

  test("nats auth - with NATS_TOKEN pvflow counts exactly", async () => {
    await using nats = await NatsServer.start({ config });
    await countsExactly(nats.url, { token: TOKEN }, { NATS_TOKEN: TOKEN });
  }, 60_000);

  test("nats auth - with a wrong or missing NATS_TOKEN pvflow does not run and says why, without the token", async () => {
    await using nats = await NatsServer.start({ config });
    const wrong = "wr0ng-t0ken-3c9a";
    expect(await refuses(nats.url, { NATS_TOKEN: wrong }, AUTH_FAILURE, [wrong, TOKEN]))
      .toEndWith("Authorization Violation (the server rejected NATS_TOKEN)");
    expect(await refuses(nats.url, {}, AUTH_FAILURE, [TOKEN]))
      .toEndWith("(no credentials configured: set NATS_CREDS, NATS_TOKEN or NATS_USER/NATS_PASSWORD)");
  }, 60_000);
});

describe("nats auth - user and password", () => {
  const USER = "pvflow";
  const PASSWORD = "pa55w0rd-for-pvflow-77e2";
  const config = `authorization { users: [ { user: ${JSON.stringify(USER)}, password: ${JSON.stringify(PASSWORD)} } ] }`;

  test("nats auth - with NATS_USER and NATS_PASSWORD pvflow counts exactly", async () => {
    await using nats = await NatsServer.start({ config });
    await countsExactly(nats.url, { user: USER, pass: PASSWORD }, { NATS_USER: USER, NATS_PASSWORD: PASSWORD });
  }, 60_000);

  test("nats auth - with a wrong NATS_PASSWORD pvflow does not run and says why, without the password", async () => {
    await using nats = await NatsServer.start({ config });
    const wrong = "wr0ng-pa55w0rd-51b0";
    expect(await refuses(nats.url, { NATS_USER: USER, NATS_PASSWORD: wrong }, AUTH_FAILURE, [wrong, PASSWORD]))
      .toContain("the server rejected NATS_USER/NATS_PASSWORD");
  }, 60_000);
});

describe("nats auth - creds file (operator mode, JWT)", () => {
  test("nats auth - with NATS_CREDS pvflow counts exactly (JetStream on a JWT account; Workers read the file)", async () => {
    const jwt = jwtSetup();
    await using nats = await NatsServer.start({ config: jwt.serverConfig });
    const creds = jwt.userCreds();
    const credsPath = join(dir, "good-user.creds");
    await Bun.write(credsPath, creds);
    await countsExactly(
      nats.url,
      { authenticator: credsAuthenticator(new TextEncoder().encode(creds)) },
      { NATS_CREDS: credsPath },
    );
  }, 60_000);

  test("nats auth - with creds of an unknown account pvflow does not run and says why, without the path or seed", async () => {
    const jwt = jwtSetup();
    await using nats = await NatsServer.start({ config: jwt.serverConfig });
    const creds = jwt.userCreds("stranger", createAccount()); // signed by an account the server does not know
    const credsPath = join(dir, "s3cret-location-unknown-account.creds");
    await Bun.write(credsPath, creds);
    const seed = /SU[A-Z0-9]{56}/.exec(creds)![0];
    const userJwt = /^eyJ[^\n]+/m.exec(creds)![0];
    expect(await refuses(nats.url, { NATS_CREDS: credsPath }, AUTH_FAILURE, [credsPath, "s3cret-location", seed, userJwt]))
      .toContain("the server rejected the NATS_CREDS file");
  }, 60_000);

  test("nats auth - without credentials an operator-mode server refuses pvflow", async () => {
    const jwt = jwtSetup();
    await using nats = await NatsServer.start({ config: jwt.serverConfig });
    await refuses(nats.url, {}, AUTH_FAILURE, []);
  }, 60_000);

  test("nats auth - a missing NATS_CREDS file stops startup with one line that does not echo the path", async () => {
    const path = join(dir, "s3cret-location-missing.creds");
    const proc = Bun.spawn([binary], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NATS_CREDS: path, PVFLOW_DB_URL: `file:${join(dir, "never.db")}` },
      stdout: "pipe", stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(code).toBe(2);
    expect(err.trim()).toBe("pvflow: NATS_CREDS must name a readable NATS creds file, got one that is not (ENOENT)");
    expect(out + err).not.toContain("s3cret-location");
  });
});

describe("nats auth - TLS", () => {
  test("nats auth - with tls:// and NATS_CA pvflow counts exactly over TLS", async () => {
    const certs = await makeTlsCerts(await mkdtemp(join(dir, "tls-")));
    await using nats = await NatsServer.start({ config: certs.serverConfig });
    const url = `tls://127.0.0.1:${nats.port}`;
    await countsExactly(url, { tls: { caFile: certs.caFile } }, { NATS_CA: certs.caFile });
  }, 60_000);

  test("nats auth - TLS with token: both are required and both are used", async () => {
    const certs = await makeTlsCerts(await mkdtemp(join(dir, "tls-")));
    const token = "tls-t0ken-0a4e";
    await using nats = await NatsServer.start({ config: `${certs.serverConfig}\nauthorization { token: "${token}" }` });
    const url = `tls://127.0.0.1:${nats.port}`;
    await countsExactly(url, { tls: { caFile: certs.caFile }, token }, { NATS_CA: certs.caFile, NATS_TOKEN: token });
    await refuses(url, { NATS_CA: certs.caFile, NATS_TOKEN: "wr0ng-tls-t0ken" }, AUTH_FAILURE, ["wr0ng-tls-t0ken", token]);
  }, 60_000);

  test("nats auth - without the CA the server's certificate is not trusted: pvflow does not run and says why", async () => {
    const certs = await makeTlsCerts(await mkdtemp(join(dir, "tls-")));
    await using nats = await NatsServer.start({ config: certs.serverConfig });
    const url = `tls://127.0.0.1:${nats.port}`;
    await refuses(url, {}, /certificate/i, []);
    // A nats:// URL to a server that requires TLS is upgraded, and still not trusted without the CA.
    await refuses(nats.url, {}, /certificate/i, []);
  }, 60_000);

  test("nats auth - a missing NATS_CA file stops startup with one line naming it", async () => {
    const path = join(dir, "no-such-ca.pem");
    const proc = Bun.spawn([binary], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NATS_CA: path, PVFLOW_DB_URL: `file:${join(dir, "never.db")}` },
      stdout: "pipe", stderr: "pipe",
    });
    const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    expect(code).toBe(2);
    expect(err.trim()).toBe(`pvflow: NATS_CA must be a readable PEM file of trusted CA certificates (ENOENT), got ${JSON.stringify(path)}`);
  });
});
