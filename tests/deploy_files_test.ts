/**
 * The deployment files, checked without Docker (none on the test machines): compose.yaml parses,
 * its pvflow environment names only declared variables and is a config pvflow accepts; the
 * Dockerfile's ENV names are declared and its HEALTHCHECK runs `pvflow healthcheck`; the
 * nats-server config is one nats-server accepts (checked by the local 2.9 server, which does not
 * know `sync_interval`, 2.10's: that line is checked by hand).
 */
import { expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadConfig } from "../src/config.ts";
import { CONFIG_VARS } from "../src/config_vars.ts";

const ROOT = resolve(import.meta.dir, "..");
const declared = new Set(CONFIG_VARS.filter((v) => !v.testOnly).map((v) => v.name));

test("deploy files - compose.yaml: pvflow's environment names declared variables only, and loads", async () => {
  const compose = Bun.YAML.parse(await Bun.file(join(ROOT, "compose.yaml")).text()) as any;
  expect(Object.keys(compose.services).sort()).toEqual(["nats", "pvflow"]);
  const env = compose.services.pvflow.environment as Record<string, string>;
  for (const name of Object.keys(env)) expect(`${name} declared: ${declared.has(name)}`).toBe(`${name} declared: true`);
  expect(env.NATS_URL).toBe("nats://nats:4222");
  // A required variable from the shell (${NAME:?...}); the database path inside the container.
  const dir = await mkdtemp(join(tmpdir(), "pvflow-compose-"));
  try {
    const resolved = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)
      .replace(/^\$\{[A-Z_]+:\?[^}]*\}$/, "some-admin-token")
      .replace("file:/data/", `file:${dir}/`)]));
    const config = loadConfig(resolved);
    expect(config.subjects).toEqual(["pv.0", "pv.1", "pv.2", "pv.3"]);
    expect(config.httpHost).toBe("0.0.0.0");
    expect(config.logFormat).toBe("json");
    // The stop must finish before Docker's SIGKILL.
    const grace = /^(\d+)s$/.exec(compose.services.pvflow.stop_grace_period);
    expect(Number(grace?.[1]) * 1000).toBeGreaterThan(config.shutdownTimeoutMs);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  // Both stores on named volumes.
  expect(compose.services.pvflow.volumes).toEqual(["pvflow-data:/data"]);
  expect(compose.services.nats.volumes).toContain("nats-data:/data");
  expect(Object.keys(compose.volumes).sort()).toEqual(["nats-data", "pvflow-data"]);
});

test("deploy files - Dockerfile: ENV names declared variables, HEALTHCHECK runs pvflow healthcheck", async () => {
  const dockerfile = await Bun.file(join(ROOT, "Dockerfile")).text();
  const envBlock = /^ENV ((?:.*\\\n)*.*)$/m.exec(dockerfile)?.[1] ?? "";
  const names = [...envBlock.matchAll(/([A-Z_][A-Z0-9_]*)=/g)].map((m) => m[1]).filter((n) => n !== "TMPDIR");
  expect(names).toEqual(["PVFLOW_HTTP_HOST", "PVFLOW_DB_URL"]);
  for (const name of names) expect(declared.has(name)).toBe(true);
  expect(dockerfile).toMatch(/^HEALTHCHECK .*\\\n\s+CMD \["\/usr\/local\/bin\/pvflow", "healthcheck"\]$/m);
});

test("deploy files - deploy/nats-server.conf is accepted by nats-server (sync_interval aside) and fsyncs always", async () => {
  const conf = await Bun.file(join(ROOT, "deploy/nats-server.conf")).text();
  expect(conf).toMatch(/^\s+sync_interval: always$/m);
  expect(conf).toMatch(/^\s+store_dir: \/data$/m);
  const dir = await mkdtemp(join(tmpdir(), "pvflow-natsconf-"));
  try {
    const file = join(dir, "nats.conf");
    await writeFile(file, conf.replace(/^\s+sync_interval: .*$/m, ""));
    const p = Bun.spawn(["nats-server", "-t", "-c", file], { stdout: "pipe", stderr: "pipe" });
    const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
    expect(`${code} ${err.trim()}`).toBe(`0 nats-server: configuration file ${file} is valid`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
