/**
 * @module
 * Gives the kernel back the pages of the executable that only starting up touched.
 *
 * Most of an idle pvflow's memory is not its data: it is the compiled binary's own file-backed
 * pages, touched once while starting — Bun's code for parsing and linking the bundled modules,
 * the embedded module graph (which holds a copy of the libSQL addon, read once to extract it),
 * read-only data, the extracted addon's initialisation code (bench/footprint.ts, README
 * Footprint). Linux counts them in RSS as long as they stay mapped and resident, which is
 * forever on a machine without memory pressure. Once the job runs and has completed its first
 * checkpoint (so the commit path has run too), {@link releaseStartupPages} asks the kernel to
 * reclaim them now (`madvise(MADV_PAGEOUT)`, Linux ≥ 5.4), as Android's app compaction does with
 * its background apps' file pages: a page still in use faults back in from the page cache or the
 * file at its next touch, so the effect is only on what stays resident — the code that keeps
 * running comes back within milliseconds, what ran only at start stays out.
 *
 * Only private file mappings (`p`, with an inode) are advised: not anonymous memory (the heaps;
 * without swap the kernel could not reclaim it anyway), and never a shared mapping such as
 * SQLite's `-shm` index, whose pages other processes read. A clean page of such a mapping is
 * dropped; a page this process wrote (copy-on-write) is anonymous memory: it stays, or goes to
 * swap if the machine has any, as memory pressure would send it. Pages mapped by other processes
 * too (another pvflow on the same binary) stay.
 *
 * Bun only (its `bun:ffi` calls libc's `madvise`) and best effort: under Deno, on another OS, an
 * older kernel or a libc that cannot be opened, nothing happens. `PVFLOW_RELEASE_STARTUP_PAGES=false`
 * turns it off.
 */
import { readFileSync } from "node:fs";
import { runtime, unrefTimer } from "./platform.ts";

/** `MADV_PAGEOUT` (asm-generic/mman-common.h: the same on x86-64 and arm64). */
const MADV_PAGEOUT = 21;

/** One mapping of /proc/self/maps. */
export interface Mapping {
  start: number;
  end: number;
  /** e.g. `r-xp`. */
  perms: string;
  inode: number;
  path: string;
}

/** Parses /proc/<pid>/maps text (`start-end perms offset dev inode [path]`). */
export function parseMaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (!m) continue;
    out.push({ start: parseInt(m[1], 16), end: parseInt(m[2], 16), perms: m[3], inode: Number(m[4]), path: m[5] });
  }
  return out;
}

/**
 * The mappings whose pages may be paged out: private and backed by a file (an inode; anonymous
 * memory and the kernel's `[stack]`, `[vdso]`, ... have none). See the module doc.
 */
export function pageableMappings(maps: readonly Mapping[]): Mapping[] {
  return maps.filter((m) => m.perms[3] === "p" && m.inode !== 0);
}

/** What {@link releaseStartupPages} did. */
export interface Released {
  /** Mappings advised; 0 when nothing could be done. */
  mappings: number;
  /** The process's VmRSS just before and just after, in bytes (0 when unknown). */
  rssBefore: number;
  rssAfter: number;
  /** How long the advice took (the calling thread waits for the kernel's reclaim), in ms. */
  ms: number;
  /** Why nothing was done, when nothing was. */
  skipped?: string;
}

/** This process's resident set (VmRSS) in bytes, or 0 when /proc cannot tell. */
export function residentBytes(): number {
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
    return kb === undefined ? 0 : Number(kb) * 1024;
  } catch {
    return 0;
  }
}

/** The libc `madvise` of this process, or a reason it has none. */
async function libcMadvise(): Promise<{ madvise: (addr: number, len: number, advice: number) => number; close: () => void } | string> {
  if (process.platform !== "linux") return `not Linux (${process.platform})`;
  if (runtime !== "bun") return `not Bun (${runtime})`;
  try {
    // A variable specifier: Deno's type checker and bundlers must not resolve Bun's module.
    const ffiModule = "bun:ffi";
    const ffi = await import(ffiModule) as typeof import("bun:ffi");
    const lib = ffi.dlopen("libc.so.6", {
      madvise: { args: [ffi.FFIType.u64, ffi.FFIType.u64, ffi.FFIType.i32], returns: ffi.FFIType.i32 },
    });
    return { madvise: (a, l, adv) => lib.symbols.madvise(a, l, adv) as number, close: () => lib.close() };
  } catch (err) {
    return `no libc madvise (${(err as Error).message})`;
  }
}

/**
 * Advises MADV_PAGEOUT over this process's private file mappings (see the module doc). Never
 * throws; the first mapping the kernel refuses (EINVAL before Linux 5.4) ends it.
 */
export async function releaseStartupPages(): Promise<Released> {
  const t0 = performance.now();
  const rssBefore = residentBytes();
  const none = (skipped: string): Released => ({ mappings: 0, rssBefore, rssAfter: rssBefore, ms: 0, skipped });
  const libc = await libcMadvise();
  if (typeof libc === "string") return none(libc);
  try {
    let maps: Mapping[];
    try {
      maps = pageableMappings(parseMaps(readFileSync("/proc/self/maps", "utf8")));
    } catch (err) {
      return none(`cannot read /proc/self/maps (${(err as Error).message})`);
    }
    let mappings = 0;
    for (const m of maps) {
      if (libc.madvise(m.start, m.end - m.start, MADV_PAGEOUT) !== 0) {
        if (mappings === 0) return none("the kernel refused MADV_PAGEOUT (Linux < 5.4?)");
        continue; // a mapping gone meanwhile (a worker unloaded something): the others still count
      }
      mappings++;
    }
    return { mappings, rssBefore, rssAfter: residentBytes(), ms: Math.round(performance.now() - t0) };
  } finally {
    libc.close();
  }
}

/**
 * Calls {@link releaseStartupPages} once, as soon as `ready()` answers true (polled every 250 ms
 * on an unref'd timer: it never keeps the process alive), and hands the result to `done`.
 */
export function releaseStartupPagesWhen(ready: () => boolean, done: (r: Released) => void): void {
  const poll = setInterval(() => {
    if (!ready()) return;
    clearInterval(poll);
    void releaseStartupPages().then(done);
  }, 250);
  unrefTimer(poll);
}
