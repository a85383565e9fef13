/**
 * @module
 * One attempt of the job (Flink's execution attempt): wires the graph for a set of splits from a
 * restored checkpoint — count subtasks restored by key group, source subtasks resuming every
 * split after its position, a channel per (source, count) pair, the checkpoint coordinator —
 * waits until every subtask is ready, fails on the first subtask failure, and tears down. The
 * {@link Job} decides what to restore and when to run another attempt; this only runs one.
 */
import type { Config } from "./config.ts";
import { CheckpointCoordinator, type CheckpointData, type CheckpointRecord } from "./checkpoint/coordinator.ts";
import type { Committer } from "./checkpoint/commit_worker.ts";
import { isFenced, isSplitFenced, type RestoredCheckpoint } from "./checkpoint/store.ts";
import type { JobMetrics } from "./job_metrics.ts";
import { FatalJobError } from "./job_streams.ts";
import { checkUnverified, needsBacklog } from "./source/front_guard.ts";
import type { CountTaskInit } from "./operators/count_task.ts";
import { windowPartition } from "./operators/window_partition.ts";
import { BarrierCell } from "./runtime/barrier_cell.ts";
import { partitionByKeyGroup } from "./runtime/key_group.ts";
import { SlotWorkers, type SubtaskPort } from "./runtime/slot_workers.ts";
import { instanceTag } from "./source/consumer_names.ts";
import type { SourceTaskInit } from "./source/jetstream_source.ts";
import type { SplitPositions, TaskControl, TaskMetrics, TaskReport, UnverifiedSplit } from "./types.ts";

const METRICS_INTERVAL_MS = 500;
/** How long a teardown waits for the final metrics of the tasks still alive. */
const FINAL_METRICS_WAIT_MS = 200;
const FLUSH_INTERVAL_MS = 20;
/** How often a source recomputes and emits its watermark (windows on). */
const WATERMARK_INTERVAL_MS = 200;
const READY_TIMEOUT_MS = 30_000;
/** Idle heartbeat of the sources' pull requests: a consumer's dead server is noticed in ~2 of them. */
const HEARTBEAT_MS = 1000;

/**
 * The owned splits changed (cluster mode): the attempt ends and the next one runs with the new
 * set, at once — not a failure, and not counted as one.
 */
export class RebalanceError extends Error {}

interface Task {
  role: "source" | "count";
  subtask: number;
  /** Its slot's task worker (shared with the other role's subtask of the same number). */
  worker: SubtaskPort;
  ready?: boolean;
  /** Crashed or exited: answers nothing more. */
  gone?: boolean;
}

/** What the job hears from an attempt. */
export interface AttemptHooks {
  /** A barrier with this id was triggered. */
  triggered(checkpointId: number): void;
  /** A checkpoint was committed (before its subtasks are told). */
  committed(data: CheckpointData): void;
  /** A checkpoint ended, either way. */
  finished(record: CheckpointRecord): void;
  log(line: string): void;
}

/** What an attempt runs. */
export interface AttemptOptions {
  /** The job's config with `subjects` the splits of this attempt and `sourceParallelism` at most their number. */
  config: Readonly<Config>;
  restored: RestoredCheckpoint;
  /** Creation time of the stream the positions belong to, stored with each commit. */
  streamCreated: string;
  /** Dead letters already stored for the replayed events, by split (the sources skip them). */
  deadLettered: Record<string, number[]>;
  /** Cluster mode: each split's fencing token; its presence makes the count subtasks count deltas. */
  fence?: Record<string, number>;
  firstCheckpointId: number;
  /** Test-only: whether this attempt injects the configured count fault. */
  injectFault: boolean;
  workerUrl: URL;
  committer: Pick<Committer, "commit" | "attach" | "onLost">;
  /**
   * The stream's first sequence, read now (not cached): a checkpoint whose sources named
   * unverified positions commits only once it shows none of their events were removed unread.
   */
  streamFirstSequence(): Promise<number>;
  /** A consumer's pending count, read now (throws when it cannot be read). */
  consumerPending(consumer: string): Promise<number>;
  metrics: JobMetrics;
  hooks: AttemptHooks;
}

/** One run of the graph, from spawn to teardown; see the module doc. */
export class Attempt {
  /** The splits this attempt reads (all of them, or in cluster mode the owned ones). */
  readonly splits: string[];
  readonly sources: number;
  readonly coordinator: CheckpointCoordinator;
  /** Rejects on the first subtask failure (a reason string restarts the job; a {@link FatalJobError} makes it FAILED). */
  readonly failed: Promise<never>;
  /** Subtasks that reported "stopped" (`role:subtask`). */
  readonly stopped = new Set<string>();
  /** Cluster mode: a commit failed; its outcome is unknown, so nothing more is committed (the attempt restarts). */
  #commitsClosed = false;
  /** The unverified positions the sources named in their acks, by checkpoint (see {@link #verifyFront}). */
  readonly #unverified = new Map<number, UnverifiedSplit[]>();
  readonly #tasks: Task[] = [];
  /** One task worker per slot: source k and count k share slot k. */
  readonly #slots: SlotWorkers;
  readonly #failed = Promise.withResolvers<never>();
  #failedOnce = false;
  #readyChanged: (() => void) | undefined;
  readonly #metrics: JobMetrics;

  constructor(o: AttemptOptions) {
    const c = o.config;
    this.splits = [...c.subjects];
    this.sources = c.sourceParallelism;
    this.#metrics = o.metrics;
    this.#slots = new SlotWorkers(o.workerUrl);
    this.failed = this.#failed.promise;
    this.failed.catch(() => {});
    const cells = Array.from({ length: c.sourceParallelism }, () => new BarrierCell());
    // With a commit thread, count subtasks stage their snapshots there directly.
    const staging = o.committer.attach ? Array.from({ length: c.parallelism }, () => new MessageChannel()) : undefined;
    this.coordinator = new CheckpointCoordinator({
      intervalMs: c.checkpointIntervalMs,
      timeoutMs: c.checkpointTimeoutMs,
      minPauseMs: c.checkpointMinPauseMs,
      sources: c.sourceParallelism,
      counts: c.parallelism,
      firstCheckpointId: o.firstCheckpointId,
      trigger: (barrier) => {
        o.hooks.triggered(barrier.checkpointId);
        for (const cell of cells) cell.publish(barrier);
        for (const t of this.#tasks) if (t.role === "source") post(t, { kind: "trigger", barrier });
      },
      commit: (data) => this.#commit(o, data, staging ? staging.length : 0),
      notifyComplete: (id) => { for (const t of this.#tasks) post(t, { kind: "complete", checkpointId: id }); },
      notifyAbort: (id) => { for (const t of this.#tasks) if (t.role === "count") post(t, { kind: "abort", checkpointId: id }); },
      onFinished: (r) => o.hooks.finished(r),
    });
    if (staging) {
      o.committer.attach!(staging.map((ch) => ch.port2));
      o.committer.onLost = (why) => this.fail(why);
    }
    this.#spawnAll(o, cells, staging);
  }

  /** Fails the attempt (the first reason wins). */
  fail(reason: string | Error): void {
    if (this.#failedOnce) return;
    this.#failedOnce = true;
    this.#failed.reject(typeof reason === "string" ? new Error(reason) : reason);
  }

  /** Resolves when every subtask reported ready; rejects after {@link READY_TIMEOUT_MS}. */
  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`subtasks not ready after ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      const check = () => {
        if (this.#tasks.every((t) => t.ready)) {
          clearTimeout(timer);
          this.#readyChanged = undefined;
          resolve();
        }
      };
      this.#readyChanged = check;
      check();
    });
  }

  /**
   * Stops the coordinator, lets a commit in flight land (or fail) — whoever restores next must not
   * see it land underneath — collects the final metrics and terminates every worker.
   */
  async teardown(): Promise<void> {
    this.coordinator.stop();
    await this.coordinator.settle();
    await this.#finalMetrics();
    for (const t of this.#tasks) {
      t.worker.onmessage = null;
      t.worker.terminate();
    }
  }

  async #commit(o: AttemptOptions, data: CheckpointData, staged: number): Promise<{ bytes: number }> {
    const fence = o.fence;
    if (this.#commitsClosed) throw new Error("an earlier commit of this attempt failed; the attempt restarts");
    await this.#verifyFront(o, data.record.id);
    const r = await o.committer.commit(fence ? { ...data, fence } : data, o.streamCreated, staged).catch((err: Error) => {
      // Another process claimed the database: never commit again (it would overwrite newer state).
      if (isFenced(err.message)) this.fail(new FatalJobError(err.message));
      else if (fence) {
        // Deltas cannot be carried past a commit whose outcome is unknown: restart from what landed.
        this.#commitsClosed = true;
        this.fail(isSplitFenced(err.message) ? new RebalanceError(err.message) : `checkpoint ${data.record.id} commit failed: ${err.message}`);
      }
      throw err;
    });
    o.hooks.committed(data);
    return r;
  }

  /**
   * Before checkpoint `id` commits: if its sources named positions past their verified ones
   * (src/source/front_guard.ts), the stream's first sequence, read after their acks, must show
   * that none of those splits' events were removed unread; else the job fails (never committing
   * past a loss). Read here, on the main thread: a busy source reads its own probes' answers late,
   * and the checkpoint would wait for them. The sources then move their verified positions up.
   * When NATS does not answer, positions of streams without limits commit unverified.
   */
  async #verifyFront(o: AttemptOptions, id: number): Promise<void> {
    const unverified = this.#unverified.get(id);
    for (const k of this.#unverified.keys()) if (k <= id) this.#unverified.delete(k); // older ones failed
    if (!unverified) return;
    let first: number;
    try {
      first = await o.streamFirstSequence();
      for (const u of unverified) {
        if (!needsBacklog(u, first)) continue;
        if (u.consumer === undefined) throw new Error(`split ${u.split} has no consumer to ask for its backlog`);
        if ((await o.consumerPending(u.consumer)) > 0) u.active = true;
      }
    } catch (err) {
      // NATS does not answer: a stream without limits loses events only to a purge, so its
      // positions commit unverified; with limits the checkpoint fails (the next one asks again).
      if (unverified.every((u) => !u.limited)) return;
      throw err;
    }
    const loss = checkUnverified(o.config.stream, unverified, first);
    if (loss) {
      this.fail(new FatalJobError(loss));
      throw new Error(loss);
    }
    const positions: SplitPositions = {};
    for (const u of unverified) positions[u.split] = u.position;
    for (const t of this.#tasks) if (t.role === "source") post(t, { kind: "verified", positions });
  }

  #onReport(t: Task, r: TaskReport, log: (line: string) => void): void {
    switch (r.kind) {
      case "ack":
        if (r.role === "source" && r.unverified) {
          this.#unverified.set(r.checkpointId, [...(this.#unverified.get(r.checkpointId) ?? []), ...r.unverified]);
        }
        this.coordinator.acknowledge(r);
        break;
      case "declined": this.coordinator.decline(r.checkpointId, `${r.role} ${r.subtask}: ${r.reason}`); break;
      case "metrics": this.#metrics.update(r as TaskMetrics); break;
      case "stopped": this.stopped.add(`${t.role}:${t.subtask}`); break;
      case "failed": {
        const reason = `${t.role} subtask ${t.subtask} failed: ${r.error}`;
        this.fail(r.fatal ? new FatalJobError(reason) : reason);
        break;
      }
      case "log": log(r.line); break;
      case "ready": t.ready = true; this.#readyChanged?.(); break;
    }
  }

  #spawn(o: AttemptOptions, role: "source" | "count", subtask: number, init: SourceTaskInit | CountTaskInit, transfer: MessagePort[]): void {
    const worker = this.#slots.worker(role, subtask);
    const t: Task = { role, subtask, worker };
    this.#tasks.push(t);
    worker.onmessage = (e: MessageEvent<TaskReport>) => this.#onReport(t, e.data, o.hooks.log);
    worker.addEventListener("error", (e) => {
      e.preventDefault(); // handled: Deno would otherwise rethrow it in this thread and exit
      t.gone = true;
      this.fail(`${role} subtask ${subtask} crashed: ${(e as ErrorEvent).message}`);
    });
    worker.addEventListener("close", () => {
      t.gone = true;
      this.fail(`${role} subtask ${subtask} exited`);
    });
    worker.postMessage(init, transfer);
  }

  #spawnAll(o: AttemptOptions, cells: BarrierCell[], staging: MessageChannel[] | undefined): void {
    const { config: c, restored, deadLettered } = o;
    const parts = partitionByKeyGroup(restored.counts, c.maxParallelism, c.parallelism);
    const windowParts = c.windows && windowPartition(restored.windows, c.maxParallelism, c.parallelism);
    // One channel per (source, count) pair.
    const links = Array.from({ length: c.sourceParallelism }, () =>
      Array.from({ length: c.parallelism }, () => new MessageChannel()));
    for (let i = 0; i < c.parallelism; i++) {
      const inputs = links.map((row) => row[i].port2);
      const commitPort = staging?.[i].port1;
      this.#spawn(o, "count", i, {
        role: "count",
        subtask: i,
        nice: c.taskNice,
        inputs,
        mode: c.checkpointMode,
        restored: parts[i],
        metricsIntervalMs: METRICS_INTERVAL_MS,
        faultThrowAt: o.injectFault && i === 0 ? c.faultCountThrowAt : undefined,
        commitPort,
        deltas: o.fence !== undefined,
        windows: c.windows && { sizeMs: c.windows.sizeMs, allowedLatenessMs: c.windows.allowedLatenessMs, restored: windowParts?.[i] },
      }, commitPort ? [...inputs, commitPort] : inputs);
    }
    for (let s = 0; s < c.sourceParallelism; s++) {
      const outputs = links[s].map((ch) => ch.port1);
      const splits = c.subjects
        .filter((_, i) => i % c.sourceParallelism === s)
        .map((subject) => ({
          subject, position: restored.positions[subject] ?? 0, deadLettered: deadLettered[subject] ?? [],
          maxEventTime: restored.maxEventTimes?.[subject], watermark: restored.watermarks?.[subject],
        }));
      this.#spawn(o, "source", s, {
        role: "source",
        subtask: s,
        nice: c.taskNice,
        nats: { natsServers: c.natsServers, natsAuth: c.natsAuth },
        stream: c.stream,
        splits,
        outputs,
        credits: c.channelCredits,
        batchSize: c.batchSize,
        maxParallelism: c.maxParallelism,
        keyField: c.keyField,
        maxEventBytes: c.maxEventBytes,
        dlqSubject: c.dlqSubject,
        metricsIntervalMs: METRICS_INTERVAL_MS,
        flushIntervalMs: FLUSH_INTERVAL_MS,
        barriers: cells[s].buffer,
        consumerInactiveMs: c.consumerInactiveMs,
        heartbeatMs: HEARTBEAT_MS,
        consumerTag: instanceTag(c.cluster?.instanceId),
        windows: c.windows && { ...c.windows, watermarkIntervalMs: WATERMARK_INTERVAL_MS },
      }, outputs);
    }
  }

  /**
   * Cancels every task still alive and waits briefly for its final metrics: the totals carried
   * into the next attempt then include what was done since the last periodic report (say, dead
   * letters stored just before a crash, which the replay skips and so never reports again).
   */
  async #finalMetrics(): Promise<void> {
    const waiting = new Set(this.#tasks.filter((t) => !t.gone));
    if (waiting.size === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, FINAL_METRICS_WAIT_MS);
      for (const t of waiting) {
        t.worker.onmessage = (e: MessageEvent<TaskReport>) => {
          if (e.data.kind !== "metrics") return; // the attempt is over: only its numbers matter
          this.#metrics.update(e.data as TaskMetrics);
          waiting.delete(t);
          if (waiting.size === 0) { clearTimeout(timer); resolve(); }
        };
        post(t, { kind: "cancel" });
      }
    });
  }
}

function post(t: Task, msg: TaskControl): void {
  t.worker.postMessage(msg);
}
