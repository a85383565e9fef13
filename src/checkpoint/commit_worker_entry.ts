/**
 * @module
 * The Worker entry that runs checkpoint commits on their own thread, so that a long libSQL
 * transaction (a million changed keys, or a lock held by another process) never blocks the main
 * thread's coordinator and status server. Count subtasks stage their snapshots here directly
 * (one port each, see `attach`), so the changed keys never pass through the main thread; a
 * commit waits until every count subtask's snapshot of its checkpoint has arrived.
 * See {@link CommitWorker} for the main-thread side.
 */
import type { StagedSnapshot } from "../types.ts";
import { CheckpointStore } from "./store.ts";
import type { CommitRequest, CommitResponse } from "./commit_worker.ts";

declare var self: Worker;

/** How long a commit waits for staged snapshots before it fails (they are sent before the acks). */
const STAGE_TIMEOUT_MS = 30_000;

let store: Promise<CheckpointStore> | undefined;
let inputs: MessagePort[] = [];
/** Staged snapshots by checkpoint id, then by count subtask. */
const staged = new Map<number, Map<number, StagedSnapshot>>();
/** The newest checkpoint id staged since `attach`. */
let newest = 0;
let arrived: (() => void) | undefined;

/**
 * Keeps the snapshot; only the newest checkpoint's are ever kept. A snapshot of n is taken after
 * checkpoint n-1 and every older one ended (one checkpoint at a time), so older staged ones can
 * never be committed: without this, every checkpoint that fails before its commit (a timeout, a
 * decline) would leave its snapshots here for good.
 */
function stage(s: StagedSnapshot): void {
  if (s.checkpointId < newest) return; // a straggler of an ended checkpoint
  if (s.checkpointId > newest) {
    newest = s.checkpointId;
    for (const id of staged.keys()) if (id < newest) staged.delete(id);
  }
  let byTask = staged.get(s.checkpointId);
  if (!byTask) staged.set(s.checkpointId, (byTask = new Map()));
  byTask.set(s.subtask, s);
  arrived?.();
}

/** Resolves with every attached subtask's snapshot of `checkpointId`, dropping older ones. */
async function snapshotsOf(checkpointId: number): Promise<StagedSnapshot[]> {
  const deadline = Date.now() + STAGE_TIMEOUT_MS;
  for (;;) {
    const byTask = staged.get(checkpointId);
    if ((byTask?.size ?? 0) >= inputs.length) break;
    if (Date.now() > deadline) throw new Error(`staged snapshots of checkpoint ${checkpointId} did not arrive`);
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 100);
      arrived = () => { clearTimeout(t); resolve(); };
    });
  }
  const out = [...(staged.get(checkpointId)?.values() ?? [])];
  for (const id of staged.keys()) if (id <= checkpointId) staged.delete(id); // aborted ones too
  return out;
}

self.onmessage = async (e: MessageEvent<CommitRequest>) => {
  const req = e.data;
  const reply = (r: CommitResponse) => self.postMessage(r);
  try {
    if (req.kind === "open") {
      store = CheckpointStore.open(req.options);
      await store;
      reply({ id: req.id, ok: true });
    } else if (req.kind === "attach") {
      for (const p of inputs) p.close();
      staged.clear();
      newest = 0;
      inputs = req.ports;
      for (const p of inputs) p.onmessage = (m: MessageEvent<StagedSnapshot>) => stage(m.data);
      reply({ id: req.id, ok: true });
    } else if (req.kind === "stats") {
      let n = 0;
      for (const byTask of staged.values()) n += byTask.size;
      reply({ id: req.id, ok: true, staged: n });
    } else {
      if (!store) throw new Error("commit before open");
      const data = req.data;
      // Never commit positions without the counts that go with them.
      if (req.staged !== inputs.length) {
        throw new Error(`expected snapshots from ${req.staged} count subtasks, ${inputs.length} attached`);
      }
      for (const s of req.staged ? await snapshotsOf(data.record.id) : []) {
        (data.encoded ??= []).push(s.rows);
        if (s.windows && data.windows) {
          data.windows.deltas.push(s.windows.delta);
          for (const r of s.windows.results) data.windows.results.push(r);
        }
      }
      const { bytes } = await (await store).commit(data, req.streamCreated);
      reply({ id: req.id, ok: true, bytes });
    }
  } catch (err) {
    reply({ id: req.id, ok: false, error: (err as Error).message });
  }
};
