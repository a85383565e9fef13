/**
 * @module
 * Runtime-neutral child processes for the test launchers (nats-server, sqld): `node:child_process`,
 * which Bun and Deno both provide, behind the few members the launchers used of `Bun.spawn`'s
 * `Subprocess` — so the unit tests that start real servers run under `deno test` too.
 */
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

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
