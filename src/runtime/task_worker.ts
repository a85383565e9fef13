/**
 * @module
 * The Worker entry: runs one subtask, source or count, chosen by its first (`init`) message.
 * Control messages that arrive while the subtask is still starting are queued, in order.
 */
import { runCountTask, type CountTaskInit } from "../operators/count_task.ts";
import { runSourceTask, type SourceTaskInit } from "../source/jetstream_source.ts";
import type { TaskControl, TaskReport } from "../types.ts";

declare var self: Worker;

const post = (r: TaskReport) => self.postMessage(r);
let control: ((c: TaskControl) => void) | undefined;
const early: TaskControl[] = [];
let init: SourceTaskInit | CountTaskInit | undefined;

const fail = (err: unknown) => {
  const error = err instanceof Error ? err.message : String(err);
  post({ kind: "failed", role: init?.role ?? "count", subtask: init?.subtask ?? -1, error });
};
process.on("unhandledRejection", fail);

self.onmessage = (e: MessageEvent<SourceTaskInit | CountTaskInit | TaskControl>) => {
  if (init === undefined) {
    init = e.data as SourceTaskInit | CountTaskInit;
    const started = init.role === "source"
      ? runSourceTask(init, post)
      : Promise.resolve(runCountTask(init, post));
    started.then((c) => {
      control = c;
      for (const m of early.splice(0)) c(m);
    }, fail);
    return;
  }
  const msg = e.data as TaskControl;
  if (control) control(msg);
  else early.push(msg);
};
