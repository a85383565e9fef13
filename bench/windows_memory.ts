/**
 * @module
 * `bun bench/windows_memory.ts`: is window state bounded over hours of traffic? Drives the count
 * subtask's state (KeyedCounter + WindowState, as `count_task.ts` does) with simulated traffic —
 * BENCH_HOURS (4) hours of event time at BENCH_RATE (1000) events/s over BENCH_KEYS (1000) keys,
 * out of order by up to 2 s, watermark 5 s behind, a checkpoint completed every simulated second
 * — and prints, every simulated 30 minutes, the open windows, (key, window) entries, snapshot
 * bookkeeping, pending results and the heap after a GC. Flat numbers = bounded state.
 */
import { heapStats } from "bun:jsc";
import { KeyedCounter } from "../src/operators/count.ts";
import { WindowState } from "../src/operators/window_state.ts";

const HOURS = Number(process.env.BENCH_HOURS ?? 4);
const RATE = Number(process.env.BENCH_RATE ?? 1000);
const KEYS = Number(process.env.BENCH_KEYS ?? 1000);
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 60_000);
const LATENESS_MS = Number(process.env.BENCH_LATENESS_MS ?? 10_000);
const T0 = 1_700_000_000_000;
const counter = new KeyedCounter();
const windows = new WindowState({ sizeMs: WINDOW_MS, allowedLatenessMs: LATENESS_MS });
const keys = Array.from({ length: KEYS }, (_, i) => `site${i}`);
let maxTs = 0;
let id = 0;
let results = 0;
const batch: string[] = [];
const started = performance.now();
for (let second = 0; second < HOURS * 3600; second++) {
  for (let i = 0; i < RATE; i++) {
    const n = second * RATE + i;
    const key = keys[(Math.imul(n, 2654435761) >>> 0) % KEYS];
    const ts = T0 + second * 1000 + Math.floor((i * 1000) / RATE) - ((Math.imul(n, 40503) >>> 0) % 2000);
    if (ts > maxTs) maxTs = ts;
    batch.push(key);
    windows.add(key, ts);
    if (batch.length === 512) {
      counter.add(batch.splice(0));
      windows.flushUpdates();
    }
  }
  windows.advanceWatermark(maxTs - 5000);
  id++;
  counter.snapshot(id);
  results += windows.snapshot(id).results.length;
  counter.notifyCheckpointComplete(id);
  windows.notifyCheckpointComplete(id);
  if ((second + 1) % 1800 === 0) {
    Bun.gc(true);
    console.log(JSON.stringify({
      eventHours: (second + 1) / 3600, events: (second + 1) * RATE, openWindows: windows.openWindows, entries: windows.entries,
      trackedEntries: windows.trackedEntries, pendingResults: windows.pendingResults, resultsCommitted: results,
      keys: counter.size, heapMb: Math.round(heapStats().heapSize / 1e5) / 10, wallS: Math.round((performance.now() - started) / 100) / 10,
    }));
  }
}
