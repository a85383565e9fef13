/**
 * @module
 * Runs the pvflow binary as a child process for end-to-end tests: a free status port, its log
 * captured, helpers for the HTTP endpoints, and SIGTERM / SIGKILL.
 */
import type { Subprocess } from "bun";
import { sleep } from "../../src/platform.ts";

/** Options for {@link PvflowProcess.start}. */
export interface PvflowOptions {
  binary: string;
  /** Arguments after the binary (pvflow takes none; `["task", "start"]` when `binary` is Deno). @default [] */
  args?: string[];
  /** Environment on top of a minimal base (PATH, HOME, TMPDIR). */
  env: Record<string, string>;
  cwd?: string;
  /** How long to wait for the status server line. @default 15000 */
  startTimeoutMs?: number;
}

/** One running pvflow process. */
export class PvflowProcess implements AsyncDisposable {
  readonly proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Everything the process wrote to stderr and stdout so far. */
  log = "";
  url = "";
  #portSeen = Promise.withResolvers<string>();

  private constructor(proc: Subprocess<"ignore", "pipe", "pipe">) {
    this.proc = proc;
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      const dec = new TextDecoder();
      const reader = stream.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        this.log += dec.decode(value, { stream: true });
        const m = /status server on (http:\/\/[\d.]+:\d+)/.exec(this.log);
        if (m) this.#portSeen.resolve(m[1]);
      }
    };
    pump(proc.stderr);
    pump(proc.stdout);
    proc.exited.then((code) => this.#portSeen.reject(new Error(`pvflow exited with ${code} before serving:\n${this.log}`)));
  }

  /** Starts the binary with `PVFLOW_HTTP_PORT=0` and waits until its status server listens. */
  static async start(o: PvflowOptions): Promise<PvflowProcess> {
    const proc = Bun.spawn([o.binary, ...(o.args ?? [])], {
      cwd: o.cwd,
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: process.env.HOME ?? "/tmp",
        TMPDIR: process.env.TMPDIR ?? "/tmp",
        PVFLOW_HTTP_PORT: "0",
        ...o.env,
      },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const p = new PvflowProcess(proc);
    const timeout = o.startTimeoutMs ?? 15_000;
    const timer = setTimeout(() => p.#portSeen.reject(new Error(`pvflow did not serve within ${timeout} ms:\n${p.log}`)), timeout);
    try {
      p.url = await p.#portSeen.promise;
    } catch (err) {
      proc.kill("SIGKILL");
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return p;
  }

  /** GET `path` as JSON (throws on a non-JSON answer). */
  async json<T = any>(path: string, init?: RequestInit): Promise<{ status: number; body: T }> {
    const res = await fetch(this.url + path, init);
    return { status: res.status, body: (await res.json()) as T };
  }

  /** Polls `GET /readyz` until 200. */
  async waitReady(timeoutMs = 20_000): Promise<void> {
    await waitFor(async () => (await fetch(this.url + "/readyz").catch(() => undefined))?.status === 200,
      timeoutMs, () => `pvflow not ready:\n${this.log}`);
  }

  /** Sends `signal` and resolves with the exit code. */
  async kill(signal: "SIGTERM" | "SIGKILL" | "SIGINT" = "SIGTERM"): Promise<number> {
    this.proc.kill(signal);
    return await this.proc.exited;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill("SIGKILL");
      await this.proc.exited;
    }
  }
}

/** Polls `check` every 50 ms until true; throws `message()` after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, message: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms: ${message()}`);
    await sleep(50); // runtime-neutral: unit tests use waitFor under Deno too
  }
}

/**
 * The environment most end-to-end tests run pvflow with: the four test splits, 2 sources × 2
 * count subtasks, checkpoints every 200 ms, a libSQL file; `extra` overrides.
 */
export function pipelineEnv(natsUrl: string, dbFile: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NATS_URL: natsUrl,
    PVFLOW_SUBJECTS: "pv.0,pv.1,pv.2,pv.3",
    PVFLOW_PARALLELISM: "2",
    PVFLOW_SOURCE_PARALLELISM: "2",
    PVFLOW_CHECKPOINT_INTERVAL_MS: "200",
    PVFLOW_DB_URL: `file:${dbFile}`,
    ...extra,
  };
}
