/**
 * @module
 * A count subtask inside a task worker: reads record batches from its input channels through the
 * barrier handler, counts keys, acknowledges each checkpoint with its changed keys, and grants
 * one credit per processed batch (held batches are not granted: alignment backpressures).
 */
import { BarrierHandler } from "../runtime/barrier_handler.ts";
import { InputChannel } from "../runtime/channel.ts";
import type { KeyCounts, StagedSnapshot, TaskControl, TaskReport } from "../types.ts";
import { KeyedCounter } from "./count.ts";

/** The `init` message of a count subtask. */
export interface CountTaskInit {
  role: "count";
  subtask: number;
  inputs: MessagePort[];
  mode: "exactly_once" | "at_least_once";
  restored: KeyCounts;
  metricsIntervalMs: number;
  /** Where snapshots go (the commit thread); without it they travel in the acknowledgement. */
  commitPort?: MessagePort;
  /** Test-only: throw when this many records have been counted by this worker. */
  faultThrowAt?: number;
}

/** Runs one count subtask; `post` sends reports to the job. Returns the control handler. */
export function runCountTask(init: CountTaskInit, post: (r: TaskReport) => void): (c: TaskControl) => void {
  const { subtask } = init;
  const counter = new KeyedCounter();
  counter.restore(init.restored);
  let recordsIn = 0;
  let cancelled = false;
  const reportMetrics = () =>
    post({ kind: "metrics", role: "count", subtask, recordsIn, recordsOut: recordsIn, deadLettered: {}, keys: counter.size });

  const inputs: InputChannel[] = [];
  const handler = new BarrierHandler<string[]>(init.inputs.length, init.mode === "exactly_once" ? "aligned" : "unaligned", {
    processRecords(channel, keys) {
      if (init.faultThrowAt !== undefined && recordsIn + keys.length >= init.faultThrowAt) {
        throw new Error(`injected fault: count subtask ${subtask} at record ${init.faultThrowAt}`);
      }
      counter.add(keys);
      recordsIn += keys.length;
      inputs[channel].grant();
    },
    snapshot(barrier, alignmentMs) {
      const { checkpointId } = barrier;
      const changed = counter.snapshot(checkpointId);
      const rows = changed.keys.length;
      reportMetrics(); // before the ack, like the sources: records.counted never trails records.committed
      if (init.commitPort) {
        // Staged before the ack: the commit thread has it by the time the commit is requested.
        init.commitPort.postMessage({ ...changed, checkpointId, subtask } satisfies StagedSnapshot);
        post({ kind: "ack", role: "count", subtask, checkpointId, rows, alignmentMs, counted: recordsIn });
      } else {
        post({ kind: "ack", role: "count", subtask, checkpointId, rows, changed, alignmentMs, counted: recordsIn });
      }
    },
    abort(checkpointId, reason) {
      post({ kind: "declined", role: "count", subtask, checkpointId, reason });
    },
    endOfInput() {
      reportMetrics();
      post({ kind: "stopped", role: "count", subtask });
    },
  });
  init.inputs.forEach((port, c) => {
    inputs.push(new InputChannel(port, (el) => {
      if (cancelled) return;
      if (el.kind === "records") handler.onRecords(c, el.keys);
      else if (el.kind === "barrier") handler.onBarrier(c, el.barrier);
      else handler.onEndOfInput(c);
    }));
  });
  setInterval(reportMetrics, init.metricsIntervalMs);
  post({ kind: "ready", role: "count", subtask });

  return (control) => {
    if (control.kind === "complete") counter.notifyCheckpointComplete(control.checkpointId);
    else if (control.kind === "abort") {
      handler.abortCheckpoint(control.checkpointId);
      counter.notifyCheckpointAborted(control.checkpointId); // its keys go back to "changed"
    } else if (control.kind === "cancel") {
      cancelled = true; // counts nothing more, so the report below is final
      reportMetrics();
    }
  };
}
