/**
 * End-to-end: `pvflow healthcheck` (the Dockerfile's HEALTHCHECK) against a running binary: exit 0
 * while the instance at PVFLOW_HTTP_HOST:PVFLOW_HTTP_PORT is ready, 1 while it is not (NATS gone:
 * `/readyz` 503) and once nothing listens; a bad PVFLOW_HTTP_PORT is exit 2 with one line.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { NatsServer } from "./support/nats_server.ts";
import { withTempDirAndBinary } from "./support/suite.ts";
import { pipelineEnv, PvflowProcess, waitFor } from "./support/pvflow_process.ts";

const ADMIN = "healthcheck-admin-token";

let dir: string;
let binary: string;
withTempDirAndBinary("pvflow-healthcheck-", (d, b) => {
  dir = d;
  binary = b;
});

/** Runs `pvflow healthcheck` with `env` only (as a container's HEALTHCHECK runs with the image's environment). */
async function healthcheck(env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn([binary, "healthcheck"], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code, out, err };
}

test("healthcheck - exit 0 while ready, 1 while NATS is gone, 0 again after, 1 once nothing listens", async () => {
  await using nats = await NatsServer.start();
  const pv = await PvflowProcess.start({
    binary, env: pipelineEnv(nats.url, join(dir, "hc.db"), { PVFLOW_ADMIN_TOKEN: ADMIN }),
  });
  try {
    await pv.waitReady();
    const port = new URL(pv.url).port;
    // The instance's own view of where it listens: a wildcard host is probed on loopback.
    const env = { PVFLOW_HTTP_HOST: "0.0.0.0", PVFLOW_HTTP_PORT: port, PVFLOW_ADMIN_TOKEN: ADMIN };
    const ready = await healthcheck(env);
    expect(ready).toEqual({ code: 0, out: `pvflow healthcheck: ready (http://127.0.0.1:${port}/readyz)\n`, err: "" });

    await nats.stop();
    await waitFor(async () => (await fetch(pv.url + "/readyz")).status === 503, 20_000, () => pv.log);
    const down = await healthcheck(env);
    expect(down.code).toBe(1);
    expect(down.out).toBe("");
    expect(down.err).toStartWith(`pvflow healthcheck: not ready: http://127.0.0.1:${port}/readyz answered 503`);
    expect(down.err).not.toContain(ADMIN);

    await nats.restart();
    await pv.waitReady(30_000);
    expect((await healthcheck(env)).code).toBe(0);
    // The outage is in the log too, not only in /readyz.
    expect(pv.log).toMatch(/NATS disconnected \([^)]*\); reconnecting[\s\S]*NATS reconnected/);
  } finally {
    expect(await pv.kill("SIGTERM")).toBe(0);
  }
  const gone = await healthcheck({ PVFLOW_HTTP_PORT: new URL(pv.url).port });
  expect(gone.code).toBe(1);
  expect(gone.err).toStartWith("pvflow healthcheck: not ready: ");
}, 90_000);

test("healthcheck - a bad PVFLOW_HTTP_PORT exits 2 with one line naming it", async () => {
  const r = await healthcheck({ PVFLOW_HTTP_PORT: "http" });
  expect(r.code).toBe(2);
  expect(r.err).toBe('pvflow: PVFLOW_HTTP_PORT must be an integer from 0 to 65535, got "http"\n');
});
