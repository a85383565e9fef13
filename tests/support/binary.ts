/**
 * @module
 * The compiled binary under test: `PVFLOW_BINARY` when set, else `dist/pvflow` built once per
 * test process (the build takes about a second and always reflects the current sources).
 */
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");
let built: Promise<string> | undefined;

/** Path of a freshly built `dist/pvflow`. */
export function ensureBinary(): Promise<string> {
  if (process.env.PVFLOW_BINARY) return Promise.resolve(resolve(process.env.PVFLOW_BINARY));
  built ??= (async () => {
    const proc = Bun.spawn([process.execPath, "scripts/build.ts"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([
      new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited,
    ]);
    if (code !== 0) throw new Error(`build failed (${code}): ${out}${err}`);
    return resolve(ROOT, "dist/pvflow");
  })();
  return built;
}
