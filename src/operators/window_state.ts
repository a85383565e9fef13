/**
 * @module
 * Tumbling event-time windows per key, pure (the semantics of Flink's `WindowOperator` with an
 * `EventTimeTrigger` and allowed lateness). A window is `[start, start + size)`; its max
 * timestamp is `end − 1`.
 *
 * - It **fires** when the watermark reaches its max timestamp: one result per key, revision 1.
 * - Until the watermark reaches max timestamp + allowed lateness (its **cleanup time**) it stays
 *   in state, and each later update of a key makes a new result with revision + 1 (updates are
 *   coalesced up to the next {@link WindowState.flushUpdates}: once per records batch).
 * - An event whose window's cleanup time the watermark has reached is **late**: it is in no
 *   window. At cleanup time the window is dropped, so state is bounded by the open windows.
 *
 * Results wait here until a checkpoint takes them (`snapshot`): they are committed with it and
 * forgotten only once it completes, so an aborted checkpoint's results go with the next one.
 * Snapshots are incremental, as the counts' are: the (key, window) entries changed and the windows
 * dropped since the last COMPLETED checkpoint (a store applies them to the whole state it holds).
 */

/** One fired (or re-fired) window of one key. */
export interface WindowResult {
  key: string;
  windowStart: number;
  windowEnd: number;
  count: number;
  revision: number;
}

/**
 * What changed since the last completed checkpoint: entries to write (current values) and the
 * windows dropped (their entries to delete; a dropped window never comes back).
 */
export interface WindowDelta {
  keys: string[];
  starts: number[];
  counts: number[];
  revisions: number[];
  /** 1: the entry's window has fired. */
  fired: number[];
  dropped: number[];
}

/** The whole window state, as a restore loads it. */
export interface WindowSnapshot {
  watermark: number;
  /** Parallel arrays, one entry per (key, open window). */
  keys: string[];
  starts: number[];
  counts: number[];
  /** 0: not emitted yet. */
  revisions: number[];
  /** Window starts that have fired. */
  fired: number[];
}

/** The sizes that define the windows. */
export interface WindowOptions {
  sizeMs: number;
  /** @default 0 */
  allowedLatenessMs?: number;
}

interface Cell {
  key: string;
  start: number;
  count: number;
  revision: number;
}

interface Pane {
  start: number;
  fired: boolean;
  cells: Map<string, Cell>;
  /** Keys updated since the pane fired or since their last result. */
  dirty: Set<string>;
}

/** The start of the tumbling window of size `sizeMs` holding time `ts` (≥ 0). */
export function windowStartOf(ts: number, sizeMs: number): number {
  return ts - (ts % sizeMs);
}

/** Whether an event of time `ts` is late at `watermark`: its window's cleanup time has passed. */
export function isLate(ts: number, watermark: number, sizeMs: number, allowedLatenessMs: number): boolean {
  return windowStartOf(ts, sizeMs) + sizeMs - 1 + allowedLatenessMs <= watermark;
}

/** The window state of one count subtask; see the module doc. */
export class WindowState {
  readonly sizeMs: number;
  readonly allowedLatenessMs: number;
  #watermark = -Infinity;
  /** Open windows by start. */
  #panes = new Map<number, Pane>();
  /** Results produced since the last snapshot. */
  #fresh: WindowResult[] = [];
  /** Results of snapshots not yet known to be completed, under the newest such id (0: none). */
  #unconfirmed: WindowResult[] = [];
  #unconfirmedId = 0;
  /** Entries changed since the last snapshot, and windows dropped since it. */
  #changed = new Set<Cell>();
  #dropped: number[] = [];
  /** The same of snapshots not yet known to be completed (filed under `#unconfirmedId`). */
  #unconfirmedCells = new Set<Cell>();
  #unconfirmedDropped: number[] = [];

  constructor(options: WindowOptions) {
    if (!Number.isSafeInteger(options.sizeMs) || options.sizeMs < 1) throw new RangeError(`sizeMs must be a positive integer, got ${options.sizeMs}`);
    const lateness = options.allowedLatenessMs ?? 0;
    if (!Number.isSafeInteger(lateness) || lateness < 0) throw new RangeError(`allowedLatenessMs must be a non-negative integer, got ${lateness}`);
    this.sizeMs = options.sizeMs;
    this.allowedLatenessMs = lateness;
  }

  /** The watermark the state has advanced to. */
  get watermark(): number {
    return this.#watermark;
  }

  /** Open windows (any key). */
  get openWindows(): number {
    return this.#panes.size;
  }

  /** The starts of the open windows (diagnostics and tests). */
  windowStarts(): number[] {
    return [...this.#panes.keys()];
  }

  /** (key, window) entries held. */
  get entries(): number {
    let n = 0;
    for (const p of this.#panes.values()) n += p.cells.size;
    return n;
  }

  /** Results waiting for a checkpoint to complete (fresh and unconfirmed). */
  get pendingResults(): number {
    return this.#fresh.length + this.#unconfirmed.length;
  }

  /** Entries held by the snapshot bookkeeping (bounded by {@link entries} plus dropped windows). */
  get trackedEntries(): number {
    return this.#changed.size + this.#unconfirmedCells.size;
  }

  /** Counts one event of `key` at time `ts` into its window; false (and nothing counted) if it is late. */
  add(key: string, ts: number): boolean {
    const start = windowStartOf(ts, this.sizeMs);
    if (start + this.sizeMs - 1 + this.allowedLatenessMs <= this.#watermark) return false;
    let pane = this.#panes.get(start);
    if (pane === undefined) {
      // a window first seen after the watermark passed its max timestamp (within the lateness) is already fired
      pane = { start, fired: start + this.sizeMs - 1 <= this.#watermark, cells: new Map(), dirty: new Set() };
      this.#panes.set(start, pane);
    }
    let cell = pane.cells.get(key);
    if (cell === undefined) pane.cells.set(key, (cell = { key, start, count: 1, revision: 0 }));
    else cell.count++;
    this.#changed.add(cell);
    if (pane.fired) pane.dirty.add(key);
    return true;
  }

  /** Emits a new revision for every key updated in a fired window since its last result. */
  flushUpdates(): void {
    for (const pane of this.#panes.values()) if (pane.dirty.size > 0) this.#emitDirty(pane);
  }

  /**
   * Moves the watermark to `watermark` (ignored if not ahead): pending updates are emitted,
   * windows whose max timestamp it reached fire, and windows whose cleanup time it reached are dropped.
   */
  advanceWatermark(watermark: number): void {
    if (watermark <= this.#watermark) return;
    this.#watermark = watermark;
    this.flushUpdates();
    const due = [...this.#panes.values()].sort((a, b) => a.start - b.start);
    for (const pane of due) {
      const maxTs = pane.start + this.sizeMs - 1;
      if (maxTs > watermark) break;
      if (!pane.fired) {
        pane.fired = true;
        for (const key of pane.cells.keys()) pane.dirty.add(key);
        this.#emitDirty(pane);
      }
      if (maxTs + this.allowedLatenessMs <= watermark) {
        this.#panes.delete(pane.start);
        this.#dropped.push(pane.start);
      }
    }
  }

  /**
   * Checkpoint `checkpointId`: the changes since the last completed checkpoint, and every result
   * not yet known to be committed (the caller commits both with the checkpoint).
   */
  snapshot(checkpointId: number): { delta: WindowDelta; results: WindowResult[] } {
    this.flushUpdates();
    // Fold: the older unconfirmed snapshots' changes and the new ones become one set under this id.
    if (this.#fresh.length > 0) {
      this.#unconfirmed = this.#unconfirmed.length === 0 ? this.#fresh : this.#unconfirmed.concat(this.#fresh);
      this.#fresh = [];
    }
    if (this.#unconfirmedCells.size === 0) this.#unconfirmedCells = this.#changed;
    else for (const c of this.#changed) this.#unconfirmedCells.add(c);
    this.#changed = new Set();
    if (this.#dropped.length > 0) {
      this.#unconfirmedDropped = this.#unconfirmedDropped.concat(this.#dropped);
      this.#dropped = [];
    }
    this.#unconfirmedId = checkpointId;
    const delta: WindowDelta = { keys: [], starts: [], counts: [], revisions: [], fired: [], dropped: [...this.#unconfirmedDropped] };
    for (const c of this.#unconfirmedCells) {
      const pane = this.#panes.get(c.start);
      if (pane?.cells.get(c.key) !== c) continue; // its window was dropped: deleted instead
      delta.keys.push(c.key);
      delta.starts.push(c.start);
      delta.counts.push(c.count);
      delta.revisions.push(c.revision);
      delta.fired.push(pane.fired ? 1 : 0);
    }
    return { delta, results: [...this.#unconfirmed] };
  }

  /** The whole state (what a store holding every delta so far holds; tests and diagnostics). */
  fullState(): WindowSnapshot {
    const state: WindowSnapshot = { watermark: this.#watermark, keys: [], starts: [], counts: [], revisions: [], fired: [] };
    for (const pane of this.#panes.values()) {
      if (pane.fired) state.fired.push(pane.start);
      for (const cell of pane.cells.values()) {
        state.keys.push(cell.key);
        state.starts.push(pane.start);
        state.counts.push(cell.count);
        state.revisions.push(cell.revision);
      }
    }
    return state;
  }

  /** Checkpoint `checkpointId` committed: its results and changes, and every older one's, are durable. */
  notifyCheckpointComplete(checkpointId: number): void {
    if (this.#unconfirmedId !== 0 && checkpointId >= this.#unconfirmedId) {
      this.#unconfirmed = [];
      this.#unconfirmedCells = new Set();
      this.#unconfirmedDropped = [];
      this.#unconfirmedId = 0;
    }
  }

  /** Loads a snapshot (restore): its results were committed with it. */
  restore(s: WindowSnapshot): void {
    this.#watermark = s.watermark;
    const fired = new Set(s.fired);
    for (let i = 0; i < s.keys.length; i++) {
      let pane = this.#panes.get(s.starts[i]);
      if (pane === undefined) {
        pane = { start: s.starts[i], fired: fired.has(s.starts[i]), cells: new Map(), dirty: new Set() };
        this.#panes.set(pane.start, pane);
      }
      pane.cells.set(s.keys[i], { key: s.keys[i], start: pane.start, count: s.counts[i], revision: s.revisions[i] });
    }
  }

  #emitDirty(pane: Pane): void {
    const windowEnd = pane.start + this.sizeMs;
    for (const key of pane.dirty) {
      const cell = pane.cells.get(key)!;
      cell.revision++;
      this.#changed.add(cell); // its revision (and its window's fired flag) is state too
      this.#fresh.push({ key, windowStart: pane.start, windowEnd, count: cell.count, revision: cell.revision });
    }
    pane.dirty.clear();
  }
}
