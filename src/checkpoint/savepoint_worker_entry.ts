/**
 * @module
 * The Worker entry that writes one savepoint (see `savepoint.ts`): `VACUUM INTO` of a large
 * database takes its time, and it is spent here rather than on the main thread.
 */
import { writeSavepoint, type SavepointReply, type SavepointRequest } from "./savepoint.ts";

declare var self: Worker;

self.onmessage = async (e: MessageEvent<SavepointRequest>) => {
  let reply: SavepointReply;
  try {
    reply = { ok: true, savepoint: await writeSavepoint(e.data) };
  } catch (err) {
    reply = { ok: false, error: (err as Error).message };
  }
  self.postMessage(reply);
};
