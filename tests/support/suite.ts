/**
 * @module
 * The setup most end-to-end test files share: a temp dir for their databases and files, and the
 * binary under test, both ready before the first test; the dir is removed after the last.
 */
import { afterAll, beforeAll } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary } from "./binary.ts";

/** Registers beforeAll/afterAll hooks; `ready` receives the temp dir and the binary's path. */
export function withTempDirAndBinary(prefix: string, ready: (dir: string, binary: string) => void): void {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
    ready(dir, await ensureBinary());
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
}
