import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runtime } from "./platform.ts";
import { pageableMappings, parseMaps, releaseStartupPages } from "./startup_pages.ts";

const SAMPLE = [
  "55d0c0a00000-55d0c2a00000 r-xp 00200000 08:01 1048600                    /usr/local/bin/pvflow",
  "55d0c2a00000-55d0c3a00000 rw-p 02200000 08:01 1048600                    /usr/local/bin/pvflow",
  "7f0000000000-7f0000100000 rw-s 00000000 08:01 2233                       /data/pvflow.db-shm",
  "7f0000200000-7f0000300000 rw-p 00000000 00:00 0 ",
  "7f0000400000-7f0000500000 r-xp 00000000 00:2a 99                         /tmp/.bun-ab12.node (deleted)",
  "7ffd1c000000-7ffd1c021000 rw-p 00000000 00:00 0                          [stack]",
  "7ffd1c100000-7ffd1c102000 r-xp 00000000 00:00 0                          [vdso]",
  "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]",
].join("\n");

describe("startup pages", () => {
  test("maps are parsed; only private file mappings are pageable (not anonymous memory, not shared, not the kernel's)", () => {
    const maps = parseMaps(SAMPLE);
    expect(maps).toHaveLength(8);
    expect(maps[0]).toEqual({ start: 0x55d0c0a00000, end: 0x55d0c2a00000, perms: "r-xp", inode: 1048600, path: "/usr/local/bin/pvflow" });
    expect(maps[3].path).toBe("");
    expect(pageableMappings(maps).map((m) => `${m.perms} ${m.path}`)).toEqual([
      "r-xp /usr/local/bin/pvflow",
      "rw-p /usr/local/bin/pvflow",
      "r-xp /tmp/.bun-ab12.node (deleted)",
    ]);
  });

  test.if(runtime === "deno")("under Deno nothing is done, and it says why", async () => {
    const r = await releaseStartupPages();
    expect(r.mappings).toBe(0);
    expect(r.skipped).toContain("not Bun");
  });

  test.if(runtime === "bun" && process.platform === "linux")("a private file mapping's pages leave the resident set and fault back with the same bytes; a shared one stays resident", () => {
    const dir = mkdtempSync(join(tmpdir(), "pvflow-pages-"));
    try {
      const MB = 16;
      const chunk = new Uint8Array(1 << 20);
      const files = ["private.bin", "shared.bin"].map((name, f) => {
        const path = join(dir, name);
        const fd = openSync(path, "w");
        for (let i = 0; i < MB; i++) {
          for (let j = 0; j < chunk.length; j += 97) chunk[j] = (i * 31 + j + f) & 0xff;
          writeSync(fd, chunk);
        }
        fsyncSync(fd); // clean pages: reclaim drops them at once (dirty file pages wait for writeback)
        closeSync(fd);
        return path;
      });
      const child = spawnSync(process.execPath, [join(import.meta.dirname, "../tests/support/startup_pages_child.ts"), ...files], { encoding: "utf8" });
      expect(child.stderr).toBe("");
      const r = JSON.parse(child.stdout);
      const size = MB << 20;
      expect(r.length).toBe(size);
      expect(r.before.private).toBeGreaterThan(size * 0.9);
      expect(r.before.shared).toBeGreaterThan(size * 0.9);
      expect(r.released.skipped).toBeUndefined();
      expect(r.released.mappings).toBeGreaterThan(0);
      expect(r.after.private).toBeLessThan(size * 0.1);
      expect(r.after.shared).toBeGreaterThan(size * 0.9);
      expect(r.released.rssAfter).toBeLessThan(r.released.rssBefore - size * 0.8);
      expect(r.sumAfter).toBe(r.sumBefore);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
