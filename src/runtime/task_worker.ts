/**
 * @module
 * The Worker entry of a slot (see `slot_workers.ts`): runs source subtask k, count subtask k, or
 * both, each started by its own first (`init`) message. Every message names the subtask it is
 * for; control messages that arrive while that subtask is still starting are queued, in order.
 */
import { runCountTask, type CountTaskInit } from "../operators/count_task.ts";
import { runSourceTask, type SourceTaskInit } from "../source/jetstream_source.ts";
import type { TaskControl, TaskReport } from "../types.ts";
import type { SlotMessage } from "./slot_workers.ts";
import { localPortPair, type Port } from "./local_port.ts";
import { lowerThreadPriority } from "./thread_priority.ts";

declare var self: Worker;

const post = (r: TaskReport) => self.postMessage(r);

/** One subtask of this slot: its control handler once started, and what came before. */
interface Subtask {
  init: SourceTaskInit | CountTaskInit;
  control?: (c: TaskControl) => void;
  early: TaskControl[];
}
const subtasks: Partial<Record<"source" | "count", Subtask>> = {};
/** The in-thread channel between this slot's source k and count k: [source end, count end]. */
let local: [Port, Port] | undefined;

/**
 * Source k's channel to count k, both in this slot, becomes a local pair (no structured clone).
 * The job wires channel (s, c) as source s's `outputs[c]` and count c's `inputs[s]`, and a slot
 * k runs source k and count k, so when the source has an output k and the count an input k,
 * they are the two ends of that one channel; its MessagePorts are closed unused.
 */
function useLocalChannel(init: SourceTaskInit | CountTaskInit): void {
  const k = init.subtask;
  const ports = init.role === "source" ? init.outputs : init.inputs;
  if (k >= ports.length) return; // no such channel: the slot runs only one subtask
  local ??= localPortPair();
  ports[k].close();
  ports[k] = init.role === "source" ? local[0] : local[1];
}

const fail = (role: "source" | "count", subtask: number) => (err: unknown) => {
  const error = err instanceof Error ? err.message : String(err);
  post({ kind: "failed", role, subtask, error });
};
// Not attributable to one subtask of the slot: reported as the first one's (either ends the attempt).
process.on("unhandledRejection", (err) => {
  const first = subtasks.count ?? subtasks.source;
  fail(first?.init.role ?? "count", first?.init.subtask ?? -1)(err);
});

self.onmessage = (e: MessageEvent<SlotMessage>) => {
  const { role } = e.data;
  const task = subtasks[role];
  if (task === undefined) {
    const init = e.data.msg as SourceTaskInit | CountTaskInit;
    const t: Subtask = { init, early: [] };
    useLocalChannel(init);
    if (subtasks.source === undefined && subtasks.count === undefined) lowerThreadPriority(init.nice ?? 0); // once per slot
    subtasks[role] = t;
    const started = init.role === "source" ? runSourceTask(init, post) : Promise.resolve(runCountTask(init, post));
    started.then((c) => {
      t.control = c;
      for (const m of t.early.splice(0)) c(m);
    }, fail(init.role, init.subtask));
    return;
  }
  const msg = e.data.msg as TaskControl;
  if (task.control) task.control(msg);
  else task.early.push(msg);
};
