/**
 * @module
 * The command line. `pvflow` alone runs the job (configured by the environment only);
 * `pvflow healthcheck` probes a running instance; `--help` lists every variable of
 * {@link CONFIG_VARS} with its default and meaning; `--version`. Anything else is refused (exit 2).
 */
import { ConfigError, statusEndpoint } from "./config.ts";
import { CONFIG_VARS, shownDefault } from "./config_vars.ts";
import { healthcheck } from "./healthcheck.ts";

/** Where the CLI writes (the process's streams, or a test's buffers). */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  env: Record<string, string | undefined>;
}

const USAGE = [
  "usage: pvflow               run the job, configured by the environment variables below",
  "       pvflow healthcheck   exit 0 if the instance at PVFLOW_HTTP_HOST:PVFLOW_HTTP_PORT is ready (GET /readyz), else 1",
  "       pvflow --version     print the version",
  "       pvflow --help        print this",
];

/** `--help`: the usage, then every variable (test hooks aside) with its default and meaning. */
export function helpText(): string {
  const vars = CONFIG_VARS.filter((v) => !v.testOnly);
  const width = Math.max(...vars.map((v) => v.name.length));
  const lines = [...USAGE, "", "environment (a bad value stops startup with exit code 2):", ""];
  for (const v of vars) {
    lines.push(`  ${v.name.padEnd(width)}  default: ${shownDefault(v)}`, `      ${v.meaning}`);
  }
  return lines.join("\n") + "\n";
}

/**
 * Handles `args` (without the executable). Resolves with the exit code when the command is done,
 * or undefined when pvflow should run the job.
 */
export async function runCli(args: readonly string[], version: string, io: CliIo): Promise<number | undefined> {
  if (args.length === 0) return undefined;
  const [first, ...rest] = args;
  if (rest.length === 0) {
    if (first === "--version" || first === "-v") {
      io.out(`pvflow ${version}`);
      return 0;
    }
    if (first === "--help" || first === "-h") {
      io.out(helpText().trimEnd());
      return 0;
    }
    if (first === "healthcheck") {
      let endpoint: ReturnType<typeof statusEndpoint>;
      try {
        endpoint = statusEndpoint(io.env);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        io.err(`pvflow: ${err.message}`);
        return 2;
      }
      const r = await healthcheck(endpoint);
      (r.ready ? io.out : io.err)(`pvflow healthcheck: ${r.line}`);
      return r.ready ? 0 : 1;
    }
  }
  io.err(`pvflow: unknown arguments ${JSON.stringify(args.join(" "))}; configured by environment variables (pvflow --help lists them)`);
  io.err(USAGE.join("\n"));
  return 2;
}
