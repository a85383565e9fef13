import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { lowerThreadPriority, threadNice } from "./thread_priority.ts";

const WORKER = new URL("../../tests/support/nice_worker.ts", import.meta.url);

/** A thread's nice value as the kernel reports it (field 19 of /proc/<pid>/task/<tid>/stat). */
function kernelNice(tid: number): number {
  const stat = readFileSync(`/proc/${process.pid}/task/${tid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
}

async function inWorker(by: number): Promise<{ tid: number; nice: number | undefined; worker: Worker }> {
  const worker = new Worker(WORKER, { type: "module" });
  const answer = await new Promise<{ tid: number; nice: number | undefined }>((resolve) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.postMessage(by);
  });
  return { ...answer, worker };
}

describe("thread priority", () => {
  test.if(process.platform === "linux")("a worker lowers its own thread's priority only: the kernel shows it for that thread, the main thread keeps its own", async () => {
    const main = threadNice()!;
    const { tid, nice, worker } = await inWorker(3);
    try {
      expect(tid).not.toBe(process.pid);
      expect(nice).toBe(Math.min(19, main + 3));
      expect(kernelNice(tid)).toBe(nice!);
      expect(threadNice()).toBe(main);
      expect(kernelNice(process.pid)).toBe(main);
    } finally {
      worker.terminate();
    }
  });

  test.if(process.platform === "linux")("never past 19; 0 changes nothing", async () => {
    const { tid, nice, worker } = await inWorker(100);
    try {
      expect(nice).toBe(19);
      expect(kernelNice(tid)).toBe(19);
    } finally {
      worker.terminate();
    }
    expect(lowerThreadPriority(0)).toBeUndefined();
  });
});
