/**
 * @module
 * A 3-node JetStream cluster of real nats-servers on loopback for tests: each node with its own
 * `server_name`, store dir, client port, monitoring port and a `cluster { routes }` block naming
 * the others. Ready once the JetStream meta leader answers. Nodes can be killed (SIGKILL) and
 * started again on the same ports and stores.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";

interface Node {
  name: string;
  port: number;
  clusterPort: number;
  httpPort: number;
  proc?: Subprocess;
}

/** Three nats-servers in one JetStream cluster; `await using` stops them and removes the dir. */
export class NatsCluster implements AsyncDisposable {
  readonly nodes: Node[];
  #starts = 0;

  private constructor(readonly dir: string, private readonly binary: string, nodes: Node[]) {
    this.nodes = nodes;
  }

  /** Every node's client URL, comma-separated (a NATS_URL). */
  get urls(): string {
    return this.nodes.map((n) => `nats://127.0.0.1:${n.port}`).join(",");
  }

  /** Starts the three nodes and waits for a JetStream meta leader. */
  static async start(): Promise<NatsCluster> {
    const binary = Bun.which("nats-server", { PATH: process.env.PATH ?? "" });
    if (binary === null) throw new Error("nats-server not found on PATH: install it with `apt-get install -y nats-server`");
    const nodes: Node[] = [];
    for (let i = 0; i < 3; i++) nodes.push({ name: `n${i}`, port: await freePort(), clusterPort: await freePort(), httpPort: await freePort() });
    const c = new NatsCluster(await mkdtemp(join(tmpdir(), "pvflow-cluster-")), binary, nodes);
    for (let i = 0; i < 3; i++) c.startNode(i);
    await c.waitForMetaLeader();
    return c;
  }

  /** (Re)starts node `i` on its ports with its store. */
  startNode(i: number): void {
    const n = this.nodes[i];
    const file = join(this.dir, `${n.name}.${++this.#starts}.conf`);
    const routes = this.nodes.filter((o) => o !== n).map((o) => `"nats-route://127.0.0.1:${o.clusterPort}"`);
    Bun.write(file, [
      `server_name: ${n.name}`,
      `host: 127.0.0.1`,
      `port: ${n.port}`,
      `http_port: ${n.httpPort}`,
      `jetstream { store_dir: ${JSON.stringify(join(this.dir, n.name))} }`,
      `cluster { name: pvtest, listen: "127.0.0.1:${n.clusterPort}", routes: [${routes.join(", ")}] }`,
      "",
    ].join("\n"));
    n.proc = Bun.spawn([this.binary, "-c", file], {
      stdout: "ignore", stderr: Bun.file(join(this.dir, `${n.name}.${this.#starts}.log`)), cwd: this.dir,
    });
  }

  /** SIGKILLs node `i`. */
  async kill(i: number): Promise<void> {
    const p = this.nodes[i].proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill("SIGKILL");
    await p.exited;
  }

  /** Names of the connections on node `i` (from its monitoring endpoint `/connz`). */
  async connectionNames(i: number): Promise<string[]> {
    const res = await fetch(`http://127.0.0.1:${this.nodes[i].httpPort}/connz?limit=1024`).catch(() => undefined);
    if (!res?.ok) return [];
    const body = (await res.json()) as { connections?: { name?: string }[] };
    return (body.connections ?? []).map((c) => c.name ?? "");
  }

  /** Resolves once JetStream answers account info (a meta leader exists). */
  async waitForMetaLeader(timeoutMs = 30_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        const nc = await connect({ servers: this.urls.split(","), timeout: 1000 });
        try {
          await (await jetstreamManager(nc)).getAccountInfo();
          return;
        } finally {
          await nc.close();
        }
      } catch (err) {
        if (Date.now() > end) throw new Error(`no JetStream meta leader after ${timeoutMs} ms: ${(err as Error).message}`);
        await Bun.sleep(250);
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (let i = 0; i < 3; i++) await this.kill(i);
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A free loopback TCP port (picked by the OS, then released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (a && typeof a === "object" ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}
