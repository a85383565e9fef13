/**
 * @module
 * Child process of `src/startup_pages_test.ts` (Bun): maps two files of `MB` megabytes, one
 * private and one shared, reads every page of both, calls `releaseStartupPages()`, and prints
 * one JSON line: each mapping's resident bytes (from /proc/self/smaps) before and after, the
 * result, and a checksum of the private mapping read before and after (the same bytes must come
 * back when its pages fault in again).
 */
import { readFileSync } from "node:fs";
import { releaseStartupPages } from "../../src/startup_pages.ts";

const [privatePath, sharedPath] = process.argv.slice(2);

/** Resident bytes of the mappings of `path` (the `Rss:` lines of its /proc/self/smaps entries). */
function residentOf(path: string): number {
  let total = 0, inIt = false;
  for (const line of readFileSync("/proc/self/smaps", "utf8").split("\n")) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inIt = line.endsWith(` ${path}`);
    else if (inIt && line.startsWith("Rss:")) total += Number(/(\d+) kB/.exec(line)![1]) * 1024;
  }
  return total;
}

/** A checksum of every 64th byte (so every page is touched). */
function touch(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 64) sum = (sum + bytes[i] * (i + 1)) % 2147483647;
  return sum;
}

const priv = Bun.mmap(privatePath, { shared: false });
const shared = Bun.mmap(sharedPath, { shared: true });
const sumBefore = touch(priv);
touch(shared);
const before = { private: residentOf(privatePath), shared: residentOf(sharedPath) };
const released = await releaseStartupPages();
const after = { private: residentOf(privatePath), shared: residentOf(sharedPath) };
const sumAfter = touch(priv);
console.log(JSON.stringify({ before, after, released, sumBefore, sumAfter, length: priv.length }));
