/**
 * @module
 * The main-thread side of the commit thread: `commit()` posts the checkpoint's data to a Worker
 * that owns its own libSQL connection (`commit_worker_entry.ts`) and resolves with its answer.
 * If the Worker dies, pending commits fail (their checkpoints FAIL, losing nothing) and the next
 * commit starts a new Worker.
 */
import type { CheckpointData } from "./coordinator.ts";
import type { StoreOptions } from "./store.ts";

/** Main → commit thread. */
export type CommitRequest =
  | { kind: "open"; id: number; options: StoreOptions }
  | { kind: "attach"; id: number; ports: MessagePort[] }
  | { kind: "commit"; id: number; data: CheckpointData; streamCreated?: string; staged: number }
  | { kind: "stats"; id: number };

/** Commit thread → main. */
export type CommitResponse =
  | { id: number; ok: true; bytes?: number; staged?: number }
  | { id: number; ok: false; error: string };

/** Something that commits checkpoints (the store itself, or this Worker proxy). */
export interface Committer {
  /** `staged`: how many count subtasks staged their snapshot for this checkpoint (0: inline). */
  commit(data: CheckpointData, streamCreated?: string, staged?: number): Promise<{ bytes: number }>;
  /**
   * Optional: takes one port per count subtask of a new attempt; their snapshots are staged
   * there instead of travelling in the acknowledgements.
   */
  attach?(ports: MessagePort[]): void;
  /** With `attach`: called when staged snapshots were lost (the job must restart). */
  onLost?: (why: string) => void;
  close(): void;
}

/** Commits checkpoints on a dedicated Worker; see the module doc. */
export class CommitWorker implements Committer {
  #url: URL;
  #options: StoreOptions;
  #worker: Worker | undefined;
  #opened: Promise<unknown> | undefined;
  #nextId = 1;
  #pending = new Map<number, PromiseWithResolvers<CommitResponse>>();

  /**
   * `workerUrl` must point at `commit_worker_entry.ts` (resolved from the root module in a binary);
   * `options.epoch`: the main thread's claim, which the thread's commits carry.
   */
  constructor(workerUrl: URL, options: StoreOptions) {
    this.#url = workerUrl;
    this.#options = options;
  }

  /** Called when the thread dies after `attach`: its staged snapshots are gone, the job must restart. */
  onLost: ((why: string) => void) | undefined;
  #attached = false;

  async commit(data: CheckpointData, streamCreated?: string, staged = 0): Promise<{ bytes: number }> {
    this.#start();
    await this.#opened;
    const r = await this.#request({ kind: "commit", id: this.#nextId++, data, streamCreated, staged });
    if (!r.ok) throw new Error(r.error);
    return { bytes: r.bytes ?? 0 };
  }

  attach(ports: MessagePort[]): void {
    this.#start();
    this.#attached = true;
    const req: CommitRequest = { kind: "attach", id: this.#nextId++, ports };
    this.#pending.set(req.id, Promise.withResolvers());
    this.#worker!.postMessage(req, ports);
  }

  close(): void {
    this.#worker?.terminate();
    this.#worker = undefined;
  }

  #start(): void {
    if (this.#worker) return;
    const worker = new Worker(this.#url, { type: "module" });
    this.#worker = worker;
    worker.onmessage = (e: MessageEvent<CommitResponse>) => {
      const p = this.#pending.get(e.data.id);
      this.#pending.delete(e.data.id);
      p?.resolve(e.data);
    };
    // Every way the thread can end reaches here once: pending commits fail, and staged snapshots
    // (which went to this thread only) are reported lost so that the job restarts and re-attaches.
    const died = (why: string) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      worker.terminate();
      for (const p of this.#pending.values()) p.resolve({ id: 0, ok: false, error: `commit thread ${why}` });
      this.#pending.clear();
      if (this.#attached) {
        this.#attached = false;
        this.onLost?.(`commit thread ${why}`);
      }
    };
    worker.addEventListener("error", (e) => {
      e.preventDefault(); // handled: Deno would otherwise rethrow it in this thread and exit
      died(`crashed: ${(e as ErrorEvent).message}`);
    });
    worker.addEventListener("close", () => died("exited"));
    const opened = this.#request({ kind: "open", id: this.#nextId++, options: this.#options }).then((r) => {
      if (!r.ok) {
        died(`cannot open its database: ${r.error}`);
        throw new Error(`commit thread cannot open its database: ${r.error}`);
      }
    });
    opened.catch(() => {}); // awaited by commit(); without a commit the failure is reported by died()
    this.#opened = opened;
  }

  /** Test hook: how many staged snapshots the thread holds. */
  async stagedSnapshots(): Promise<number> {
    this.#start();
    const r = await this.#request({ kind: "stats", id: this.#nextId++ });
    return r.ok ? r.staged ?? 0 : -1;
  }

  #request(req: CommitRequest): Promise<CommitResponse> {
    const p = Promise.withResolvers<CommitResponse>();
    this.#pending.set(req.id, p);
    this.#worker!.postMessage(req);
    return p.promise;
  }
}
