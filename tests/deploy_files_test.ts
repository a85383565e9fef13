/**
 * The deployment files, checked without Docker (none on the test machines): compose.yaml parses,
 * its pvflow environment names only declared variables and is a config pvflow accepts;
 * deploy/compose.cluster.yaml likewise for each of its instances, which keep the cluster contract
 * (same stream, splits, database, cluster and lease TTL; distinct instance ids; every NATS node in
 * NATS_URL; R3 streams created before them), with deploy/nats-cluster.conf accepted for each node; the
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

/** The pvflow environment of a compose file with the shell's token filled in, as pvflow reads it. */
function resolvedEnv(env: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v).replace(/^\$\{[A-Z_]+:\?[^}]*\}$/, "some-admin-token")]));
}

/** `nats-server -t` on `conf` with `env` (and SERVER_NAME only if `env` has it): the exit code and what it printed. */
async function natsServerCheck(conf: string, env: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "pvflow-natsconf-"));
  try {
    const file = join(dir, "nats.conf");
    await writeFile(file, conf);
    const p = Bun.spawn(["nats-server", "-t", "-c", file], { stdout: "pipe", stderr: "pipe", env: { ...process.env, SERVER_NAME: undefined, ...env } });
    const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
    return `${code} ${err.trim().replace(file, "<file>")}`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("deploy files - deploy/compose.cluster.yaml: every instance loads, and they keep the cluster contract", async () => {
  const compose = Bun.YAML.parse(await Bun.file(join(ROOT, "deploy/compose.cluster.yaml")).text()) as any;
  const services = compose.services as Record<string, any>;
  expect(Object.keys(services).sort()).toEqual(["nats1", "nats2", "nats3", "pvflow-a", "pvflow-b", "sqld", "streams"]);
  const instances = ["pvflow-a", "pvflow-b"];
  const configs = instances.map((name) => {
    const env = services[name].environment as Record<string, string>;
    for (const v of Object.keys(env)) expect(`${name}: ${v} declared: ${declared.has(v)}`).toBe(`${name}: ${v} declared: true`);
    return loadConfig(resolvedEnv(env));
  });
  for (const [i, c] of configs.entries()) {
    expect(c.cluster?.instanceId).toBe(instances[i]);
    // Every NATS node, the libSQL server (a file: database is refused in cluster mode anyway).
    expect(c.natsServers).toEqual(["nats://nats1:4222", "nats://nats2:4222", "nats://nats3:4222"]);
    expect(c.dbUrl).toBe("http://sqld:8080");
    expect(c.createStream).toBe(false); // pvflow would create an R1 stream; `streams` creates R3 ones
    expect(c.httpHost).toBe("0.0.0.0");
    const grace = /^(\d+)s$/.exec(services[instances[i]].stop_grace_period);
    expect(Number(grace?.[1]) * 1000).toBeGreaterThan(c.shutdownTimeoutMs);
  }
  // The contract: the same everywhere but the instance id.
  const shared = (c: (typeof configs)[number]) =>
    ({ stream: c.stream, subjects: c.subjects, dbUrl: c.dbUrl, cluster: c.cluster?.name, ttl: c.cluster?.leaseTtlMs, dlq: c.dlqSubject });
  expect(shared(configs[1])).toEqual(shared(configs[0]));
  expect(configs[0].cluster?.name).toBeString();
  expect(new Set(configs.map((c) => c.cluster?.instanceId)).size).toBe(instances.length);
  expect(configs[0].subjects.length % instances.length).toBe(0); // an equal share each
  // Started after every part is healthy and the streams exist; published on distinct loopback ports.
  for (const name of instances) {
    expect(services[name].depends_on).toEqual({
      nats1: { condition: "service_healthy" }, nats2: { condition: "service_healthy" }, nats3: { condition: "service_healthy" },
      sqld: { condition: "service_healthy" }, streams: { condition: "service_completed_successfully" },
    });
  }
  expect(instances.map((name) => services[name].ports[0])).toEqual(["127.0.0.1:8080:8080", "127.0.0.1:8081:8080"]);
  for (const name of ["nats1", "nats2", "nats3", "sqld"]) expect(services[name].healthcheck?.test?.[0]).toBe("CMD");
  expect(services.sqld.healthcheck.test.join(" ")).toContain("GET /health");
  expect(services.sqld.volumes).toEqual(["sqld-data:/var/lib/sqld"]);
  // The streams: R3, on the subjects pvflow reads and its dead-letter subject.
  const script = services.streams.command.at(-1) as string;
  expect(script).toContain(`nats stream add ${configs[0].stream} --subjects 'pv.>' --replicas 3`);
  expect(configs[0].subjects.every((s) => s.startsWith("pv."))).toBe(true);
  expect(script).toContain(`nats stream add ${configs[0].stream}_DLQ --subjects '${configs[0].dlqSubject}' --replicas 3`);
  // Three nodes of one JetStream cluster, each with its name, store volume and the shared config.
  for (const [i, name] of ["nats1", "nats2", "nats3"].entries()) {
    expect(services[name].environment).toEqual({ SERVER_NAME: name });
    expect(services[name].volumes).toEqual(["./nats-cluster.conf:/etc/nats/nats-server.conf:ro", `${name}-data:/data`]);
    expect(services[name].ports).toEqual([`127.0.0.1:${4222 + i}:4222`]);
  }
  expect(Object.keys(compose.volumes).sort()).toEqual(["nats1-data", "nats2-data", "nats3-data", "sqld-data"]);
});

test("deploy files - deploy/nats-cluster.conf: accepted by nats-server for each node, routes to all three", async () => {
  const conf = await Bun.file(join(ROOT, "deploy/nats-cluster.conf")).text();
  expect(conf).toMatch(/^server_name: \$SERVER_NAME$/m);
  expect(conf).toMatch(/^\s+store_dir: \/data$/m);
  const routes = [...conf.matchAll(/nats-route:\/\/(\w+):6222/g)].map((m) => m[1]);
  expect(routes).toEqual(["nats1", "nats2", "nats3"]);
  for (const name of routes) expect(await natsServerCheck(conf, { SERVER_NAME: name })).toBe("0 nats-server: configuration file <file> is valid");
  // Without its name the node refuses to start (the compose file sets it per node).
  expect(await natsServerCheck(conf)).toBe("1 nats-server: variable reference for 'SERVER_NAME' on line 4 can not be found");
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
  expect(await natsServerCheck(conf.replace(/^\s+sync_interval: .*$/m, ""))).toBe("0 nats-server: configuration file <file> is valid");
});
