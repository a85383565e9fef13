/**
 * @module
 * The binary of an earlier release, built from the repository's own history: the release commit's
 * tree is extracted with `git archive` into a temp dir (kept between runs), given this checkout's
 * `node_modules`, and compiled by that release's own `scripts/build.ts`. Tests that upgrade a
 * database made by a release use it, so the database is exactly what the release writes.
 */
import { existsSync } from "node:fs";
import { mkdir, realpath, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");

/** Release 0.1.0 (`package.json` version 0.1.0, its last commit). */
export const RELEASE_0_1_0 = "d4c27900cc9b912e1903c64fc857d7d44a8dbc4d";

async function run(cmd: string[], cwd: string): Promise<void> {
  const proc = Bun.spawn(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`${cmd.join(" ")} failed (${code}) in ${cwd}: ${out}${err}`);
}

/** Path of the compiled binary of `commit`; `PVFLOW_BINARY_0_1_0` overrides it for 0.1.0. */
export async function releaseBinary(commit: string = RELEASE_0_1_0): Promise<string> {
  if (commit === RELEASE_0_1_0 && process.env.PVFLOW_BINARY_0_1_0) return resolve(process.env.PVFLOW_BINARY_0_1_0);
  const dir = join(tmpdir(), `pvflow-release-${commit.slice(0, 12)}`);
  const binary = join(dir, "pvflow");
  if (existsSync(binary)) return binary;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await run(["sh", "-c", `git archive ${commit} | tar -x -C '${dir}'`], ROOT);
  await symlink(await realpath(join(ROOT, "node_modules")), join(dir, "node_modules"));
  await run([process.execPath, "scripts/build.ts", binary], dir);
  return binary;
}
