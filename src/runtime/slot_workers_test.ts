import { expect, test } from "bun:test";
import { SlotWorkers } from "./slot_workers.ts";

const ECHO = new URL("../../tests/support/slot_echo_worker.ts", import.meta.url);
type Echo = { role: string; worker: string; got: unknown; ports: number };

function next(port: { onmessage: ((e: MessageEvent) => void) | null }): Promise<Echo> {
  return new Promise((resolve) => (port.onmessage = (e) => resolve(e.data as Echo)));
}

test("slot workers - source k and count k share one worker; each port gets only its own subtask's reports", async () => {
  const slots = new SlotWorkers(ECHO);
  const source0 = slots.worker("source", 0);
  const count0 = slots.worker("count", 0);
  const count1 = slots.worker("count", 1);
  expect(slots.size).toBe(2);
  try {
    const { port1, port2 } = new MessageChannel();
    const [s, c] = [next(source0), next(count0)];
    count0.postMessage({ n: 2 }, [port2]);
    source0.postMessage({ n: 1 });
    const [fromSource, fromCount] = await Promise.all([s, c]);
    expect(fromSource).toMatchObject({ role: "source", got: { n: 1 }, ports: 0 });
    expect(fromCount).toMatchObject({ role: "count", got: { n: 2 }, ports: 1 });
    expect(fromSource.worker).toBe(fromCount.worker); // one slot, one worker
    const other = next(count1);
    count1.postMessage({ n: 3 });
    expect((await other).worker).not.toBe(fromCount.worker); // slot 1 is another worker
    port1.close();
  } finally {
    for (const p of [source0, count0, count1]) p.terminate();
  }
});

test("slot workers - a slot runs at most one subtask of each role", () => {
  const slots = new SlotWorkers(ECHO);
  const p = slots.worker("source", 3);
  try {
    expect(() => slots.worker("source", 3)).toThrow("slot 3 already runs a source subtask");
  } finally {
    p.terminate();
  }
});
