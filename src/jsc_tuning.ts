/**
 * @module
 * JavaScriptCore heap options for the compiled binary, applied by re-executing it in place.
 *
 * On a machine with 16 GB of RAM or more, JavaScriptCore switches every heap to its "aggressive"
 * growth function: after a collection a heap may grow to about 4× its live size, and more while
 * it allocates fast. pvflow runs several heaps (main, slots, commit thread), each allocating
 * briefly-lived messages at full speed, so on such a machine the process held ~40 MB more than on
 * a smaller one — for no throughput (bench/footprint.ts). An edge device never gets that mode;
 * these options give every machine the default growth (2× live) that such a device has.
 *
 * JavaScriptCore reads its options from the environment (`BUN_JSC_*`) once, before any
 * JavaScript runs, so the binary sets them by `execve`-ing itself with them added: the same
 * pid, the same arguments, nothing opened yet (`mod.ts` imports this module first). A variable
 * the user set is kept as set (e.g. `BUN_JSC_heapGrowthFunctionThresholdInMB=16384` brings
 * JavaScriptCore's own behaviour back), and a process that already has them is not re-executed.
 * Only the compiled binary does this; `bun mod.ts` and Deno run as started.
 */

/** The options and their values; see the module doc. */
export const JSC_OPTIONS: Readonly<Record<string, string>> = {
  // Growth function only on machines with more than 1 TB of RAM: the default growth everywhere.
  BUN_JSC_heapGrowthFunctionThresholdInMB: "1048576",
};

/** The environment to re-execute with, or undefined when nothing is missing. */
export function tunedEnvironment(env: Record<string, string | undefined>): Record<string, string> | undefined {
  const missing = Object.keys(JSC_OPTIONS).filter((k) => env[k] === undefined);
  if (missing.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  for (const k of missing) out[k] = JSC_OPTIONS[k];
  return out;
}

/** Whether this is a `bun build --compile` executable (its entry lives in Bun's embedded file system). */
function isCompiledBun(): boolean {
  return process.versions.bun !== undefined && (process.argv[1] ?? "").startsWith("/$bunfs/");
}

/** Re-executes the binary with {@link JSC_OPTIONS} when they are missing; returns only if it did not. */
export function applyJscOptions(): void {
  const execve = (process as { execve?: (file: string, args: string[], env: Record<string, string>) => never }).execve;
  if (!isCompiledBun() || typeof execve !== "function") return;
  const env = tunedEnvironment(process.env);
  if (env === undefined) return;
  try {
    execve(process.execPath, [process.execPath, ...process.argv.slice(2)], env);
  } catch (err) {
    // Runs on, with JavaScriptCore's defaults: only memory is at stake.
    console.error(`pvflow: could not apply the JavaScriptCore heap options (${(err as Error).message}); running without them`);
  }
}

applyJscOptions();
