/**
 * @module
 * Slot sharing (as Flink's default): source subtask k and count subtask k run in ONE task worker,
 * the slot k, instead of a Worker each. Every Worker is a whole JavaScript VM with its own heap,
 * JIT and allocator caches — about 5–8 MB idle and several times that under load — so a 2 × 2 job
 * runs 2 task workers instead of 4. Nothing about the dataflow changes: the subtasks still talk
 * over their channels (a MessagePort whose two ends may now sit in the same thread), barriers and
 * credits included, and a failure of either ends the attempt as before.
 *
 * {@link SlotWorkers.worker} hands the job one {@link SubtaskPort} per subtask, which looks to it
 * like that subtask's own Worker: messages to it are tagged with the subtask's role, and reports
 * (which always name their role and subtask) come back to the port of the subtask they name.
 * `task_worker.ts` is the other side.
 */

/** Job → slot worker: a message for one of the slot's subtasks. */
export interface SlotMessage {
  role: "source" | "count";
  msg: unknown;
}

type Listener = (e: Event) => void;

/** The part of a Worker the job uses, for one subtask of a shared slot. */
export class SubtaskPort {
  /** Reports of this subtask. */
  onmessage: ((e: MessageEvent) => void) | null = null;
  readonly #slot: Slot;
  readonly #role: "source" | "count";

  constructor(slot: Slot, role: "source" | "count") {
    this.#slot = slot;
    this.#role = role;
  }

  postMessage(msg: unknown, transfer: Transferable[] = []): void {
    this.#slot.worker.postMessage({ role: this.#role, msg } satisfies SlotMessage, transfer);
  }

  /** `error` and `close` are the slot's: either subtask's failure ends both (and the attempt). */
  addEventListener(type: "error" | "close", listener: Listener): void {
    this.#slot.worker.addEventListener(type, listener);
  }

  /** Terminates the slot's worker (the job terminates all of them together). */
  terminate(): void {
    this.#slot.worker.terminate();
  }
}

interface Slot {
  worker: Worker;
  ports: Partial<Record<"source" | "count", SubtaskPort>>;
}

/** The task workers of one attempt, one per slot; see the module doc. */
export class SlotWorkers {
  readonly #url: URL;
  readonly #slots = new Map<number, Slot>();

  constructor(workerUrl: URL) {
    this.#url = workerUrl;
  }

  /** Slots started so far (one task worker each). */
  get size(): number {
    return this.#slots.size;
  }

  /** The port of subtask `subtask` of `role`, in slot `subtask` (started on first use). */
  worker(role: "source" | "count", subtask: number): SubtaskPort {
    let slot = this.#slots.get(subtask);
    if (!slot) {
      const s: Slot = { worker: new Worker(this.#url, { type: "module" }), ports: {} };
      s.worker.onmessage = (e: MessageEvent<{ role: "source" | "count" }>) => s.ports[e.data.role]?.onmessage?.(e);
      this.#slots.set(subtask, (slot = s));
    }
    if (slot.ports[role]) throw new Error(`slot ${subtask} already runs a ${role} subtask`);
    return (slot.ports[role] = new SubtaskPort(slot, role));
  }
}
