/**
 * @module
 * Lowers the CPU priority of the calling thread. Task workers (sources and counters: the data
 * path) run nicer than the main thread (coordinator, status server) and the commit thread, so
 * that when the data path saturates the cores — at full speed it always does — a checkpoint's
 * commit and the coordinator still get the CPU they need at once instead of an equal share with
 * every busy thread. The work is the same and the cores stay busy: what changes is who waits.
 *
 * On Linux a thread's nice value is its own: setpriority(PRIO_PROCESS, tid) (node's
 * `os.setPriority`) with the thread's id, read from `/proc/thread-self`, changes only it.
 * Best effort: elsewhere, or if the process may not change it, nothing happens.
 */
import { readlinkSync } from "node:fs";
import { getPriority, setPriority } from "node:os";

/** Highest nice value Linux allows (lowest priority). */
const MAX_NICE = 19;

/** The calling thread's id on Linux, else undefined. */
function threadId(): number | undefined {
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Makes the calling thread `by` nicer than it is (at most 19); returns its nice value after, or
 * undefined when it could not be changed (not Linux, not permitted). `by` 0 changes nothing.
 */
export function lowerThreadPriority(by: number): number | undefined {
  if (by <= 0) return undefined;
  const tid = threadId();
  if (tid === undefined) return undefined;
  try {
    const nice = Math.min(MAX_NICE, getPriority(tid) + by);
    setPriority(tid, nice);
    return getPriority(tid);
  } catch {
    return undefined;
  }
}

/** The calling thread's nice value (Linux), else undefined; for tests and the status page. */
export function threadNice(): number | undefined {
  const tid = threadId();
  if (tid === undefined) return undefined;
  try {
    return getPriority(tid);
  } catch {
    return undefined;
  }
}
