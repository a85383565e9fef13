import { expect, test } from "bun:test";
import { sleep } from "../platform.ts";
import { BarrierCell } from "./barrier_cell.ts";

test("barrier cell - a published barrier is read back through another view of the same memory", () => {
  const writer = new BarrierCell();
  const reader = new BarrierCell(writer.buffer);
  expect(reader.latestId()).toBe(0);
  writer.publish({ checkpointId: 7, timestamp: 1_700_000_000_123 });
  expect(reader.latestId()).toBe(7);
  expect(reader.read()).toEqual({ checkpointId: 7, timestamp: 1_700_000_000_123 });
  writer.publish({ checkpointId: 8, timestamp: 1_700_000_000_456, final: true });
  expect(reader.read()).toEqual({ checkpointId: 8, timestamp: 1_700_000_000_456, final: true });
  writer.publish({ checkpointId: 9, timestamp: 1_700_000_000_789, completed: 8 });
  expect(reader.read()).toEqual({ checkpointId: 9, timestamp: 1_700_000_000_789, completed: 8 });
});

test("barrier cell - a worker sees the barrier without receiving a message", async () => {
  const cell = new BarrierCell();
  const worker = new Worker(URL.createObjectURL(new Blob([`
    self.onmessage = (e) => {
      const ints = new Int32Array(e.data, 0, 2);
      const t0 = Date.now();
      while (Atomics.load(ints, 0) === 0 && Date.now() - t0 < 5000) {} // busy: never yields
      postMessage(Atomics.load(ints, 0));
    };
  `], { type: "application/javascript" })), { type: "module" });
  const seen = new Promise((resolve) => (worker.onmessage = (e) => resolve(e.data)));
  worker.postMessage(cell.buffer);
  await sleep(50);
  cell.publish({ checkpointId: 42, timestamp: Date.now() });
  expect(await seen).toBe(42);
  worker.terminate();
});
