/**
 * @module
 * A stand-in slot worker for `src/runtime/slot_workers_test.ts`: answers every message with a
 * report naming the role it was sent to, this worker's identity and the transferred ports' count.
 */
export {};
declare var self: Worker;
const me = crypto.randomUUID();
self.onmessage = (e: MessageEvent<{ role: string; msg: unknown }>) => {
  self.postMessage({ role: e.data.role, worker: me, got: e.data.msg, ports: e.ports.length });
};
