/**
 * @module
 * Runtime-neutral child processes for the test launchers (nats-server, sqld): `node:child_process`,
 * which Bun and Deno both provide, behind the few members the launchers used of `Bun.spawn`'s
 * `Subprocess` — so the unit tests that start real servers run under `deno test` too; and
 * {@link runScript}, a module run in a new process of the runtime running the tests.
 */
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { runtime } from "../../src/platform.ts";

/** The repository root: under Deno, bare imports resolve through the deno.json found from here. */
const ROOT = resolve(import.meta.dirname, "../..");

/** A spawned process. */
export interface Child {
  readonly pid: number;
  /** The exit code once exited normally, else null. */
  readonly exitCode: number | null;
  /** The signal that ended it, else null. */
  readonly signalCode: NodeJS.Signals | null;
  kill(signal: NodeJS.Signals): void;
  /** Resolves once the process has exited. */
  readonly exited: Promise<void>;
}

/** Options of {@link spawnChild}: each output is dropped or goes to an open file descriptor. */
export interface SpawnOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  stdout?: "ignore" | number;
  stderr?: "ignore" | number;
}

/** Starts `argv[0]` with the rest as arguments; stdin is closed. */
export function spawnChild(argv: string[], o: SpawnOptions = {}): Child {
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: o.cwd, env: o.env ?? process.env, stdio: ["ignore", o.stdout ?? "ignore", o.stderr ?? "ignore"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  if (child.pid === undefined) throw new Error(`cannot start ${argv[0]}`);
  return {
    pid: child.pid,
    get exitCode() { return child.exitCode; },
    get signalCode() { return child.signalCode; },
    kill: (signal) => void child.kill(signal),
    exited,
  };
}

/** The absolute path of `name` on `PATH` (executable), or null: `which`. */
export function which(name: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return null;
}

/** What a finished child wrote, and how it ended. */
export interface ChildResult {
  /** The exit code, or null when a signal ended it. */
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `source` (an ES module; imports by absolute path) in a new process of the runtime running
 * this — `bun -e` or `deno eval` (which grants every permission), from the repository root — and
 * resolves once it exited, with its output.
 */
export function runScript(source: string): Promise<ChildResult> {
  const args = runtime === "bun" ? ["-e", source] : ["eval", source];
  const child = spawn(process.execPath, args, { cwd: ROOT, env: process.env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => void (stdout += s));
  child.stderr!.setEncoding("utf8").on("data", (s: string) => void (stderr += s));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}
