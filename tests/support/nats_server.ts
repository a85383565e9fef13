/**
 * @module
 * Launches a real `nats-server` with JetStream for tests, after nats.js v3's test launcher: a config
 * file in a fresh temp dir with `port: -1` and a `ports_file_dir`, the real port read from the
 * ports file. `await using ns = await NatsServer.start()` stops the server and removes the dir.
 */
import { closeSync, openSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sleep } from "../../src/platform.ts";
import { spawnChild, which, type Child } from "./child_process.ts";

/** Options of {@link NatsServer.start}. */
export interface NatsServerOptions {
  /** Extra config text appended to the generated file, e.g. an `authorization { ... }` block. @default "" */
  config?: string;
  /** How long to wait for the server to write its ports file. @default 10000 */
  startTimeoutMs?: number;
}

const NOT_FOUND = "nats-server not found on PATH: install it with `apt-get install -y nats-server`";
const KILL_AFTER_MS = 5000;

/** A running (or stopped) nats-server; {@link restart} reuses its port and JetStream store. */
export class NatsServer implements AsyncDisposable {
  #port = 0;
  #proc: Child | undefined;
  #starts = 0;

  private constructor(
    /** The temp dir holding the config, logs, ports file and store. */
    readonly dir: string,
    private readonly binary: string,
    private readonly options: NatsServerOptions,
  ) {}

  /** The client port; fixed for the life of the handle. */
  get port(): number {
    return this.#port;
  }

  /** Client URL, `nats://127.0.0.1:PORT`. */
  get url(): string {
    return `nats://127.0.0.1:${this.#port}`;
  }

  /** The server's process id while it runs (e.g. to SIGSTOP it: a server that answers nothing). */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** JetStream `store_dir`; kept across {@link restart}. */
  get storeDir(): string {
    return join(this.dir, "js");
  }

  /** Starts a server on a free port in a fresh temp dir; throws if nats-server is missing or does not start. */
  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    const binary = which("nats-server");
    if (binary === null) throw new Error(NOT_FOUND);
    const server = new NatsServer(await mkdtemp(join(tmpdir(), "pvflow-nats-")), binary, options);
    try {
      await server.#launch(-1);
    } catch (e) {
      await rm(server.dir, { recursive: true, force: true });
      throw e;
    }
    return server;
  }

  /** Stops the server (if running) and starts it again on the same port with the same store. */
  async restart(): Promise<this> {
    await this.stop();
    await this.#launch(this.#port);
    return this;
  }

  /** Sends SIGTERM and waits for exit; sends SIGKILL if it has not exited after 5s. */
  async stop(): Promise<void> {
    const proc = this.#proc;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), KILL_AFTER_MS);
    await proc.exited;
    clearTimeout(timer);
  }

  /** Stops the server and removes its temp dir. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Writes the config for `port` (-1: any), spawns the server and waits for its ports file. */
  async #launch(port: number): Promise<void> {
    const n = ++this.#starts;
    const file = join(this.dir, `server.${n}.conf`);
    const log = join(this.dir, `server.${n}.log`);
    await writeFile(file, [
      `port: ${port}`,
      `host: 127.0.0.1`,
      `ports_file_dir: ${JSON.stringify(this.dir)}`,
      `jetstream { store_dir: ${JSON.stringify(this.storeDir)} }`,
      this.options.config ?? "",
      "",
    ].join("\n"));
    const fd = openSync(log, "w");
    const proc = spawnChild([this.binary, "-c", file], { stdout: "ignore", stderr: fd, cwd: this.dir });
    closeSync(fd);
    this.#proc = proc;
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 10000);
    for (;;) {
      const found = await readPort(this.dir, proc.pid);
      if (found !== undefined) {
        this.#port = found;
        return;
      }
      const exited = proc.exitCode !== null || proc.signalCode !== null;
      if (exited || Date.now() > deadline) {
        await this.stop();
        const why = exited ? `exited with ${proc.exitCode ?? proc.signalCode}` : "wrote no ports file in time";
        throw new Error(`nats-server ${why} (config ${file}); stderr:\n${await readFile(log, "utf8")}`);
      }
      await sleep(20);
    }
  }
}

/** The client port from `<name>_<pid>.ports` in `dir`, or undefined while it is missing or partial. */
async function readPort(dir: string, pid: number): Promise<number | undefined> {
  const name = (await readdir(dir)).find((f) => f.endsWith(`_${pid}.ports`));
  if (name === undefined) return undefined;
  try {
    const ports = JSON.parse(await readFile(join(dir, name), "utf8")) as { nats?: string[] };
    const url = ports.nats?.[0];
    return url === undefined ? undefined : Number(new URL(url).port);
  } catch {
    return undefined;
  }
}
