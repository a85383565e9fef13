/**
 * @module
 * A worker for `src/runtime/thread_priority_test.ts`: lowers its own thread's priority by the
 * amount it is sent and answers with its thread id (from `/proc/thread-self`) and the result.
 */
import { readlinkSync } from "node:fs";
import { lowerThreadPriority } from "../../src/runtime/thread_priority.ts";

declare var self: Worker;
self.onmessage = (e: MessageEvent<number>) => {
  const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
  self.postMessage({ tid, nice: lowerThreadPriority(e.data) });
};
