/**
 * @module
 * The Worker entry that runs checkpoint commits on their own thread, so that a long libSQL
 * transaction (a million changed keys, or a lock held by another process) never blocks the main
 * thread's coordinator and status server. See {@link CommitWorker} for the main-thread side.
 */
import { CheckpointStore } from "./store.ts";
import type { CommitRequest, CommitResponse } from "./commit_worker.ts";

declare var self: Worker;

let store: Promise<CheckpointStore> | undefined;

self.onmessage = async (e: MessageEvent<CommitRequest>) => {
  const req = e.data;
  const reply = (r: CommitResponse) => self.postMessage(r);
  try {
    if (req.kind === "open") {
      store = CheckpointStore.open(req.options);
      await store;
      reply({ id: req.id, ok: true });
    } else {
      if (!store) throw new Error("commit before open");
      const { bytes } = await (await store).commit(req.data, req.streamCreated);
      reply({ id: req.id, ok: true, bytes });
    }
  } catch (err) {
    reply({ id: req.id, ok: false, error: (err as Error).message });
  }
};
