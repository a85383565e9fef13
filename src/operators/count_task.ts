/**
 * @module
 * A count subtask inside a task worker: reads record batches from its input channels through the
 * barrier handler, counts keys, acknowledges each checkpoint with its changed keys, and grants
 * one credit per processed batch (held batches are not granted: alignment backpressures). With
 * windows on it also keeps the window state: its watermark is the minimum over its input channels,
 * and each snapshot carries the whole window state and the results not yet committed.
 */
import { BarrierHandler } from "../runtime/barrier_handler.ts";
import { InputChannel } from "../runtime/channel.ts";
import type { Port } from "../runtime/local_port.ts";
import { ChannelWatermarks } from "../runtime/watermark.ts";
import type { KeyCounts, RecordBatch, StagedSnapshot, TaskControl, TaskReport, WindowsSnapshot } from "../types.ts";
import { encodeCountRows } from "../checkpoint/count_rows.ts";
import { KeyedCounter } from "./count.ts";
import { DeltaCounter } from "./delta_counter.ts";
import { type WindowOptions, type WindowSnapshot, WindowState } from "./window_state.ts";

/** The `init` message of a count subtask. */
export interface CountTaskInit {
  role: "count";
  subtask: number;
  /** How much nicer its task worker runs (see `runtime/thread_priority.ts`). */
  nice?: number;
  /** One per source subtask, in source order (a slot's own source's may be a local port). */
  inputs: Port[];
  mode: "exactly_once" | "at_least_once";
  restored: KeyCounts;
  metricsIntervalMs: number;
  /** Where snapshots go (the commit thread); without it they travel in the acknowledgement. */
  commitPort?: MessagePort;
  /** Windows on: their sizes, and the state restored for this subtask's key groups. */
  windows?: WindowOptions & { restored?: WindowSnapshot };
  /** Cluster mode: count deltas since the last snapshot ({@link DeltaCounter}), not totals. */
  deltas?: boolean;
  /** Test-only: throw when this many records have been counted by this worker. */
  faultThrowAt?: number;
}

/** Runs one count subtask; `post` sends reports to the job. Returns the control handler. */
export function runCountTask(init: CountTaskInit, post: (r: TaskReport) => void): (c: TaskControl) => void {
  const { subtask } = init;
  const counter = init.deltas ? new DeltaCounter() : new KeyedCounter();
  counter.restore(init.restored);
  let recordsIn = 0;
  let cancelled = false;
  let windows: WindowState | undefined;
  let watermarks: ChannelWatermarks | undefined;
  /** On-time records whose window was already gone here (possible only past a wholly idle source). */
  let lateHere = 0;
  if (init.windows) {
    windows = new WindowState(init.windows);
    if (init.windows.restored) windows.restore(init.windows.restored);
    watermarks = new ChannelWatermarks(init.inputs.length);
  }
  const reportMetrics = () =>
    post({
      kind: "metrics", role: "count", subtask, recordsIn, recordsOut: recordsIn, deadLettered: {}, keys: counter.size,
      windows: windows && { open: windows.openWindows, entries: windows.entries, watermark: windows.watermark, lateHere },
    });

  const inputs: InputChannel[] = [];
  const handler = new BarrierHandler<RecordBatch>(init.inputs.length, init.mode === "exactly_once" ? "aligned" : "unaligned", {
    processRecords(channel, { keys, times }) {
      if (init.faultThrowAt !== undefined && recordsIn + keys.length >= init.faultThrowAt) {
        throw new Error(`injected fault: count subtask ${subtask} at record ${init.faultThrowAt}`);
      }
      counter.add(keys);
      recordsIn += keys.length;
      if (windows && times) {
        for (let i = 0; i < keys.length; i++) if (times[i] >= 0 && !windows.add(keys[i], times[i])) lateHere++;
        windows.flushUpdates();
      }
      inputs[channel].grant();
    },
    processWatermark(channel, timestamp) {
      const w = watermarks?.update(channel, timestamp);
      if (w !== undefined) windows!.advanceWatermark(w);
    },
    snapshot(barrier, alignmentMs) {
      const { checkpointId } = barrier;
      if (barrier.completed) counter.notifyCheckpointComplete(barrier.completed); // (see Barrier.completed)
      const changed = counter.snapshot(checkpointId);
      const w: WindowsSnapshot | undefined = windows?.snapshot(checkpointId);
      const rows = changed.keys.length + (w ? w.results.length : 0);
      reportMetrics(); // before the ack, like the sources: records.counted never trails records.committed
      if (init.commitPort) {
        // Staged before the ack: the commit thread has it by the time the commit is requested.
        init.commitPort.postMessage({ rows: encodeCountRows(changed), checkpointId, subtask, windows: w } satisfies StagedSnapshot);
        post({ kind: "ack", role: "count", subtask, checkpointId, rows, alignmentMs, counted: recordsIn });
      } else {
        post({ kind: "ack", role: "count", subtask, checkpointId, rows, changed, alignmentMs, counted: recordsIn, windows: w });
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
      try {
        if (el.kind === "records") handler.onRecords(c, el);
        else if (el.kind === "barrier") handler.onBarrier(c, el.barrier);
        else if (el.kind === "watermark") handler.onWatermark(c, el.timestamp);
        else handler.onEndOfInput(c);
      } catch (err) {
        // Reported, not thrown: the slot's worker (and the source subtask in it) stays up, so the
        // teardown still gets the source's final metrics (dead letters stored since its last report).
        cancelled = true;
        post({ kind: "failed", role: "count", subtask, error: err instanceof Error ? err.message : String(err) });
      }
    }));
  });
  setInterval(reportMetrics, init.metricsIntervalMs);
  post({ kind: "ready", role: "count", subtask });

  return (control) => {
    if (control.kind === "complete") {
      counter.notifyCheckpointComplete(control.checkpointId);
      windows?.notifyCheckpointComplete(control.checkpointId);
    }
    else if (control.kind === "abort") {
      handler.abortCheckpoint(control.checkpointId);
      counter.notifyCheckpointAborted(control.checkpointId); // its keys go back to "changed"
    } else if (control.kind === "cancel") {
      cancelled = true; // counts nothing more, so the report below is final
      reportMetrics();
    }
  };
}
