/**
 * @module
 * The job: wires the graph and keeps it alive. Each attempt reads the latest completed
 * checkpoint, spawns the count subtasks (restored by key group) and the source subtasks (resuming
 * every split after its position), connects every source to every count subtask with a channel,
 * and runs the checkpoint coordinator. When any subtask fails, the attempt is torn down and the
 * job restarts from the latest completed checkpoint, with exponential backoff; too many failures
 * in a row without a completed checkpoint make it FAILED. `stop()` takes a final checkpoint.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import type { StreamInfo } from "@nats-io/jetstream";
import { redactUrl, type Config } from "./config.ts";
import { CheckpointCoordinator, type CheckpointRecord } from "./checkpoint/coordinator.ts";
import type { Committer } from "./checkpoint/commit_worker.ts";
import { isFenced, isSplitFenced, type CheckpointStore, type RestoredCheckpoint } from "./checkpoint/store.ts";
import { ClusterMember } from "./cluster/cluster_member.ts";
import { attemptFence } from "./cluster/fence_token.ts";
import { connectNats } from "./nats/connect.ts";
import { scanDeadLetters } from "./dead_letter_scan.ts";
import type { CountTaskInit } from "./operators/count_task.ts";
import { BarrierCell } from "./runtime/barrier_cell.ts";
import { partitionByKeyGroup } from "./runtime/key_group.ts";
import type { SourceTaskInit } from "./source/jetstream_source.ts";
import type { SplitPositions, TaskControl, TaskMetrics, TaskReport } from "./types.ts";
import { JobMetrics } from "./job_metrics.ts";
import { checkPositions, ConfigRefusedError, FatalJobError, StreamAdmin } from "./job_streams.ts";
import { StallWatch, type StalledSplit } from "./stall_watch.ts";
import { RestartPolicy } from "./job_restart.ts";
import { sleep } from "./platform.ts";
import { windowPartition } from "./operators/window_partition.ts";
import { WindowOutbox } from "./window_outbox.ts";

/** Job states, as Flink's `JobStatus` where they overlap. */
export type JobState = "CREATED" | "RESTORING" | "RUNNING" | "RESTARTING" | "STOPPING" | "STOPPED" | "FAILED";

/**
 * The task worker entry. A compiled binary must pass the URL resolved from its root module
 * (`mod.ts`): inside the bundle, this module's `import.meta.url` is the binary's, not this file's.
 */
const DEFAULT_WORKER_URL = new URL("./runtime/task_worker.ts", import.meta.url);
const METRICS_INTERVAL_MS = 500;
/** How long a teardown waits for the final metrics of the tasks still alive. */
const FINAL_METRICS_WAIT_MS = 200;
const FLUSH_INTERVAL_MS = 20;
/** How often a source recomputes and emits its watermark (windows on). */
const WATERMARK_INTERVAL_MS = 200;
const READY_TIMEOUT_MS = 30_000;
/** Idle heartbeat of the sources' pull requests: a consumer's dead server is noticed in ~2 of them. */
const HEARTBEAT_MS = 1000;
/** A split is stalled after this many checkpoint intervals without progress, at least STALL_MIN_MS. */
const STALL_INTERVALS = 10;
const STALL_MIN_MS = 10_000;

interface Task {
  role: "source" | "count";
  subtask: number;
  worker: Worker;
  ready?: boolean;
  /** Crashed or exited: answers nothing more. */
  gone?: boolean;
}

/**
 * The owned splits changed (cluster mode): the attempt ends and the next one runs with the new
 * set, at once — not a failure, and not counted as one.
 */
class RebalanceError extends Error {}

/** One run of the graph, from spawn to teardown. */
interface Attempt {
  /** The splits this attempt reads (all of them, or in cluster mode the owned ones). */
  splits: string[];
  sources: number;
  /** Cluster mode: a commit failed; its outcome is unknown, so nothing more is committed (the attempt restarts). */
  commitsClosed?: boolean;
  tasks: Task[];
  coordinator: CheckpointCoordinator;
  /** Rejects on the first subtask failure. */
  failed: Promise<never>;
  /** A reason string restarts the job; a {@link FatalJobError} makes it FAILED. */
  fail(reason: string | Error): void;
  stopped: Set<string>;
}

/** Runs the pipeline described by `config`; see the module doc. */
export class Job {
  readonly config: Readonly<Config>;
  readonly metrics = new JobMetrics();
  readonly startedAt = Date.now();
  state: JobState = "CREATED";
  /** Why the job is not RUNNING (waiting for NATS, the last failure, ...). */
  stateReason: string | undefined;
  /** The fatal error that made the job FAILED at once (a {@link FatalJobError}, e.g. a `ConfigRefusedError`). */
  failure: Error | undefined;
  restarts = 0;
  natsConnected = false;
  /** The latest completed checkpoint's id and positions. */
  committed: { checkpointId: number; positions: SplitPositions } = { checkpointId: 0, positions: {} };
  /** The latest checkpoint this process completed (kept when the history has moved past it). */
  latestCompleted: CheckpointRecord | undefined;
  /** Events covered by the latest completed checkpoint: the sum of its committed counts. */
  committedRecords = 0;
  /** The sum of the counts this attempt restored (its count subtasks count on from them). */
  #restoredRecords = 0;
  /** Splits with events waiting whose position has not moved for several intervals. */
  readonly stalls: StallWatch;
  /** Cluster mode: this instance's membership (undefined before NATS was first reached). */
  cluster: ClusterMember | undefined;
  /** The splits the current (or last) attempt reads: all of them, or in cluster mode the owned ones. */
  splits: string[];

  #store: CheckpointStore;
  /** With windows on: publishes committed window results after each commit. */
  readonly windowOutbox: WindowOutbox | undefined;
  #log: (line: string) => void;
  #nc: NatsConnection | undefined;
  #attempt: Attempt | undefined;
  #stopRequested = false;
  #wake: (() => void) | undefined;
  #nextCheckpointId = 1;
  #pastHistory: CheckpointRecord[] = [];
  #done = Promise.withResolvers<void>();

  #workerUrl: URL;
  #streams: StreamAdmin;
  /** Writes checkpoints: the store itself, or a {@link CommitWorker} off the main thread. */
  #committer: Pick<Committer, "commit" | "attach" | "onLost">;

  constructor(
    config: Readonly<Config>,
    store: CheckpointStore,
    options: { log?: (line: string) => void; workerUrl?: URL; committer?: Committer } = {},
  ) {
    this.config = config;
    this.#store = store;
    this.#log = options.log ?? console.error;
    this.#workerUrl = options.workerUrl ?? DEFAULT_WORKER_URL;
    this.#streams = new StreamAdmin(config, this.#log);
    this.#committer = options.committer ?? store;
    if (config.windows) {
      this.windowOutbox = new WindowOutbox({ store, stream: config.stream, subject: config.windows.outputSubject, log: this.#log });
    }
    this.stalls = new StallWatch(Math.max(STALL_MIN_MS, STALL_INTERVALS * config.checkpointIntervalMs));
    this.splits = config.cluster ? [] : [...config.subjects];
  }

  /** Stalled splits while RUNNING (see {@link StallWatch}); empty in any other state. */
  stalledSplits(): StalledSplit[] {
    return this.state === "RUNNING" ? this.stalls.stalled(Date.now()) : [];
  }

  /** Feeds the stall watch: each split's position and whether events wait for it. */
  async #watchProgress(): Promise<void> {
    const last = await this.splitLastSequences().catch(() => undefined);
    const now = Date.now();
    for (const split of this.splits) {
      const m = this.metrics.splits[split];
      const position = Math.max(m?.position ?? 0, this.committed.positions[split] ?? 0);
      const behind = (m?.pending ?? 0) > 0 || (last?.[split] ?? 0) > position;
      this.stalls.observe(split, position, behind, now);
    }
  }

  /** Resolves when the job is STOPPED or FAILED. */
  get done(): Promise<void> {
    return this.#done.promise;
  }

  /** The current attempt's coordinator, if running. */
  get coordinator(): CheckpointCoordinator | undefined {
    return this.#attempt?.coordinator;
  }

  /** Recent checkpoints of every attempt, newest first (at most 100). */
  get checkpointHistory(): CheckpointRecord[] {
    return [...(this.#attempt?.coordinator.history ?? []), ...this.#pastHistory].slice(0, 100);
  }

  /** Runs attempts until stopped or failed. Never throws. */
  async run(): Promise<void> {
    const policy = new RestartPolicy({
      attempts: this.config.restartAttempts,
      backoffMs: this.config.restartBackoffMs,
      backoffMaxMs: this.config.restartBackoffMaxMs,
    });
    while (!this.#stopRequested) {
      try {
        await this.#runAttempt();
        break; // graceful stop
      } catch (err) {
        const reason = (err as Error).message;
        await this.#teardown();
        if (err instanceof RebalanceError && !this.#stopRequested) {
          this.#setState("RESTARTING", reason);
          continue; // at once, and not a failure: the splits moved
        }
        if (err instanceof FatalJobError) {
          this.failure = err;
          this.#setState("FAILED", reason); // even while stopping: the process must not look fine
          break;
        }
        if (this.#stopRequested) break;
        // NATS down when the attempt failed (the teardown gave the client time to notice): an
        // outage, waited out like the one at startup, not a failed attempt.
        const natsDown = !this.natsConnected;
        const d = policy.onFailure({ completedCheckpoint: this.#attemptCompletedCheckpoint, dependencyDown: natsDown });
        if (d.giveUp) {
          this.#setState("FAILED", `${reason} (gave up after ${this.config.restartAttempts} restarts without a completed checkpoint)`);
          break;
        }
        this.restarts++;
        const why = natsDown ? `${reason} (NATS disconnected: not counted as a failed attempt)` : reason;
        this.#setState("RESTARTING", `${why}; restart ${this.restarts} in ${d.delayMs} ms`);
        await this.#sleep(d.delayMs);
      }
    }
    await this.#teardown();
    // Stopped or FAILED, the splits go to the other members now rather than when the leases expire.
    await this.cluster?.leave().catch((err: Error) => this.#log(`cluster: leaving failed: ${err.message}`));
    await this.#nc?.close().catch(() => {});
    if (this.state !== "FAILED") this.#setState("STOPPED");
    this.#done.resolve();
  }

  /**
   * Graceful stop: a final checkpoint, then teardown. Resolves when the job has ended. A checkpoint
   * in flight is not the final one (its sources go on reading), so it is let end first. The final
   * checkpoint gets `PVFLOW_SHUTDOWN_TIMEOUT_MS` less a reserve for the teardown; the binary
   * exits at that timeout whatever happens (mod.ts).
   */
  async stop(): Promise<void> {
    if (this.#stopRequested) return this.done;
    this.#stopRequested = true;
    const attempt = this.#attempt;
    if (this.state === "RUNNING" && attempt) {
      this.#setState("STOPPING");
      const budget = this.config.shutdownTimeoutMs - Math.min(1000, this.config.shutdownTimeoutMs / 5);
      const deadline = Date.now() + budget;
      const timeout = Promise.withResolvers<undefined>();
      const timer = setTimeout(() => timeout.resolve(undefined), budget);
      const failed = attempt.failed.catch(() => undefined);
      let final: { id: number; done: Promise<CheckpointRecord> } | undefined;
      for (;;) {
        const inFlight = attempt.coordinator.inProgress;
        const t = attempt.coordinator.trigger({ final: true }); // returns the one in flight, if any
        if (!inFlight || inFlight.final) {
          final = t;
          break;
        }
        this.#log(`stopping: checkpoint ${t.id} is in flight; the final checkpoint follows it`);
        if (!(await Promise.race([t.done, timeout.promise, failed]))) break;
      }
      const rec = final && (await Promise.race([final.done, timeout.promise, failed]));
      clearTimeout(timer);
      if (rec?.status === "COMPLETED") {
        this.#log(`final checkpoint ${rec.id} completed`);
        // Its window results: published now rather than at the next start (bounded by the stop's budget).
        if (this.windowOutbox) await Promise.race([this.windowOutbox.idle(), sleep(Math.max(0, Math.min(2000, deadline - Date.now())))]);
        // Let the sources delete their consumers and close their connections.
        const sources = attempt.sources;
        const wait = Math.max(0, Math.min(2000, deadline - Date.now()));
        await until(() => [...attempt.stopped].filter((s) => s.startsWith("source:")).length === sources, wait);
      } else {
        const what = final ? `final checkpoint ${final.id} did not complete (${rec?.failureReason ?? "timeout"})`
          : "no final checkpoint (the checkpoint in flight did not end in time, or the attempt failed)";
        this.#log(`${what}; the next start replays from checkpoint ${this.committed.checkpointId}`);
      }
      attempt.fail("stopping");
    }
    this.#wake?.();
    this.#wakeIdle?.();
    return this.done;
  }

  /** Triggers a checkpoint now; undefined when the job is not RUNNING. */
  triggerCheckpoint(): { id: number; done: Promise<CheckpointRecord> } | undefined {
    if (this.state !== "RUNNING") return undefined;
    return this.#attempt?.coordinator.trigger();
  }

  /** The JetStream stream's info, cached for a second; undefined while NATS is unreachable. */
  streamInfo(): Promise<StreamInfo | undefined> {
    return this.#streams.streamInfo(this.natsConnected ? this.#nc : undefined);
  }

  /** Each split's last stream sequence, cached for a second; undefined while NATS is unreachable. */
  splitLastSequences(): Promise<Record<string, number> | undefined> {
    return this.#streams.splitLastSequences(this.natsConnected ? this.#nc : undefined);
  }

  #attemptCompletedCheckpoint = false;

  async #runAttempt(): Promise<void> {
    this.#attemptCompletedCheckpoint = false;
    this.#setState("RESTORING");
    const nc = await this.#connect();
    if (this.#stopRequested) return;
    const info = await this.#streams.ensureStreams(nc);
    const cluster = this.config.cluster && await this.#joinCluster(nc, info);
    if (this.#stopRequested) return;
    const splits = cluster ? cluster.owned() : [...this.config.subjects];
    const fence = cluster && attemptFence(cluster.fence(splits), ++this.#clusterAttempts);
    this.splits = splits;
    if (cluster && splits.length === 0) return await this.#idle();
    const restored = await this.#restore(fence);
    if (this.#stopRequested) return;
    this.committed = { checkpointId: restored.checkpointId, positions: restored.positions };
    // All of the counts table, the rows with a NUL key (left out of the restored state) included:
    // records.committed then equals `SELECT sum(count) FROM counts`. (Cluster mode restores no counts.)
    this.#restoredRecords = restored.counts.counts.reduce((a, b) => a + b, 0) + (restored.unreadable?.events ?? 0);
    this.committedRecords = this.#restoredRecords;
    this.#nextCheckpointId = Math.max(this.#nextCheckpointId, restored.checkpointId + 1);
    if (restored.unreadable) {
      const { keys, events } = restored.unreadable;
      this.#log(`${keys} keys (${events} events) of the checkpoint contain NUL and cannot be read back exactly: ` +
        "left out of the restored counts and of /counts (still in the counts table; see key_contains_nul)");
    }
    checkPositions({ ...this.config, subjects: splits }, restored, info);
    const deadLettered = await this.#scanDeadLetters(nc, restored, splits);
    if (this.#stopRequested) return;
    const attempt = this.#spawn(restored, info.created, deadLettered, splits, fence);
    this.#attempt = attempt;
    // The splits moved while this attempt was restoring: start over with the new set.
    if (cluster && !sameSplits(cluster.owned(), splits)) attempt.fail(new RebalanceError("cluster: the owned splits changed while restoring"));
    await Promise.race([attempt.failed, this.#allReady(attempt)]);
    if (this.#stopRequested) return;
    this.stalls.reset();
    this.#setState("RUNNING");
    const watch = setInterval(() => this.#watchProgress(), 1000);
    attempt.failed.catch(() => clearInterval(watch));
    this.#log(`running: ${splits.length} splits, ${attempt.sources} sources, ` +
      `${this.config.parallelism} count subtasks, from checkpoint ${restored.checkpointId} (${restored.counts.keys.length} keys)`);
    attempt.coordinator.start();
    this.windowOutbox?.kick(nc); // results committed before a crash and not yet published
    await attempt.failed.catch((err) => {
      if (this.#stopRequested) return;
      throw err;
    });
  }

  /**
   * Cluster mode: this instance's membership, started on the first attempt (on the job's NATS
   * connection, which outlives attempts); waits for its first round, which decides the owned splits.
   */
  async #joinCluster(nc: NatsConnection, info: StreamInfo): Promise<ClusterMember> {
    if (!this.cluster) {
      this.cluster = await ClusterMember.start({
        nc, config: this.config, replicas: info.config.num_replicas,
        log: this.#log,
        onChange: (owned) => {
          const a = this.#attempt;
          if (a && !sameSplits(owned, a.splits)) a.fail(new RebalanceError(`cluster: the owned splits changed (now ${owned.length})`));
          this.#wakeIdle?.();
        },
      }).catch((err: Error) => {
        // The bucket exists with another TTL or replica count: the instances disagree on their config.
        if (/exists with TTL/.test(err.message)) {
          throw new ConfigRefusedError(`PVFLOW_LEASE_TTL_MS must be the same on every instance of cluster ${this.config.cluster!.name}: ${err.message}`);
        }
        throw err; // refused facts (fatal), or NATS in trouble (the attempt restarts)
      });
    }
    await this.cluster.ready();
    return this.cluster;
  }

  #wakeIdle: (() => void) | undefined;
  /** Cluster mode: attempts so far, the low part of every fencing token (see {@link attemptFence}). */
  #clusterAttempts = 0;

  /** Cluster mode, no split owned: RUNNING (serving the shared counts) until some split comes this way. */
  async #idle(): Promise<void> {
    this.#setState("RUNNING", "cluster: this instance owns no split now (more members than splits, or the splits are moving)");
    await new Promise<void>((resolve) => { this.#wakeIdle = resolve; });
    this.#wakeIdle = undefined;
    if (this.#stopRequested) return;
    throw new RebalanceError("cluster: splits were assigned to this instance");
  }

  /**
   * What the attempt resumes from: the latest completed checkpoint, or in cluster mode the owned
   * splits claimed under their leases (see {@link CheckpointStore.claimSplits}).
   */
  #restore(fence: Record<string, number> | undefined): Promise<RestoredCheckpoint> {
    return this.#waitForStore(() => fence ? this.#store.claimSplits(fence) : this.#store.loadLatest());
  }

  /**
   * Reads the store; waits (RESTORING, "waiting for libSQL: ...") while it cannot be read — an
   * outage is waited out, never counted as a failed attempt. A claim fenced by a newer lease is
   * not waited out: the splits moved (a rebalance).
   */
  async #waitForStore(read: () => Promise<RestoredCheckpoint>): Promise<RestoredCheckpoint> {
    let delay = 250;
    for (;;) {
      try {
        const restored = await read();
        this.stateReason = undefined;
        return restored;
      } catch (err) {
        if (isSplitFenced((err as Error).message)) throw new RebalanceError((err as Error).message);
        if (this.#stopRequested) throw new Error("stopped while waiting for libSQL");
        this.stateReason = `waiting for libSQL: ${(err as Error).message}`;
        this.#log(`${this.stateReason}; retrying in ${delay} ms`);
        await this.#sleep(delay);
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  /**
   * The dead letters already stored for the events this attempt replays (see
   * {@link scanDeadLetters}): the sources skip them, whatever the DLQ stream's duplicate window.
   * A failed scan fails the attempt (restarted) rather than risk storing dead letters twice.
   */
  async #scanDeadLetters(nc: NatsConnection, restored: RestoredCheckpoint, splits: string[]): Promise<Record<string, number[]>> {
    // Cluster mode: from the oldest checkpoint of the owned splits (the latest is another instance's).
    const from = this.config.cluster ? restored.oldestCheckpointId ?? 0 : restored.checkpointId;
    const since = from > 0
      ? (await this.#store.getCheckpoint(from).catch(() => undefined))?.triggerTime
      : undefined;
    const scan = (dlqSubject: string) => scanDeadLetters(nc, {
      stream: this.config.stream, dlqSubject, positions: restored.positions,
      splits, sinceMs: since,
    }).catch((err: Error) => { throw new Error(`reading the stored dead letters: ${err.message}`); });
    const found = await scan(this.config.dlqSubject);
    // Late events stored elsewhere: the sources treat those replayed as late again (see jetstream_source.ts).
    const late = this.config.windows?.lateSubject;
    if (late !== undefined && late !== this.config.dlqSubject) {
      for (const [split, seqs] of Object.entries(await scan(late))) (found[split] ??= []).push(...seqs);
    }
    const n = Object.values(found).reduce((a, seqs) => a + seqs.length, 0);
    if (n > 0) this.#log(`${n} dead letters of the replayed events are already stored; they are not published again`);
    return found;
  }

  /** The management connection; waits (RESTORING, with the reason) while NATS is unreachable. */
  async #connect(): Promise<NatsConnection> {
    // A connection that lost its server reconnects by itself: wait for it rather than fail the
    // attempt on it (and count a failure) — the same wait as for a server unreachable at start.
    let logged = false;
    while (this.#nc && !this.#nc.isClosed() && !this.natsConnected) {
      this.stateReason = "waiting for NATS: connection lost, reconnecting";
      if (!logged) this.#log(this.stateReason);
      logged = true;
      await this.#sleep(250);
      if (this.#stopRequested) throw new Error("stopped while waiting for NATS");
    }
    if (this.#nc && !this.#nc.isClosed()) {
      this.stateReason = undefined;
      return this.#nc;
    }
    let delay = 250;
    for (;;) {
      try {
        const nc = await connectNats(this.config, "pvflow-job");
        this.#nc = nc;
        this.natsConnected = true;
        this.stateReason = undefined;
        (async () => {
          for await (const s of nc.status()) {
            // Logged on each change: an outage must show in the log, not only in /readyz.
            if (s.type === "disconnect" && this.natsConnected) {
              this.natsConnected = false;
              this.#log(`NATS disconnected (${redactUrl(String(s.server ?? "server"))}); reconnecting`);
            } else if (s.type === "reconnect" && !this.natsConnected) {
              this.natsConnected = true;
              this.#log(`NATS reconnected (${redactUrl(String(s.server ?? "server"))})`);
            }
          }
        })().catch(() => {});
        return nc;
      } catch (err) {
        this.stateReason = `waiting for NATS: ${(err as Error).message}`;
        this.#log(`${this.stateReason}; retrying in ${delay} ms`);
        await this.#sleep(delay);
        if (this.#stopRequested) throw new Error("stopped while waiting for NATS");
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  #spawn(
    restored: RestoredCheckpoint, streamCreated: string, deadLettered: Record<string, number[]>, splits: string[],
    fence: Record<string, number> | undefined,
  ): Attempt {
    const c = { ...this.config, subjects: splits, sourceParallelism: Math.min(this.config.sourceParallelism, splits.length) };
    const injectFault = this.metrics.attempts < c.faultAttempts;
    this.metrics.beginAttempt();
    const failed = Promise.withResolvers<never>();
    failed.promise.catch(() => {});
    let failedOnce = false;
    const tasks: Task[] = [];
    const stopped = new Set<string>();
    const cells = Array.from({ length: c.sourceParallelism }, () => new BarrierCell());
    const attempt: Attempt = {
      splits,
      sources: c.sourceParallelism,
      tasks,
      stopped,
      failed: failed.promise,
      fail: (reason) => {
        if (failedOnce) return;
        failedOnce = true;
        failed.reject(typeof reason === "string" ? new Error(reason) : reason);
      },
      coordinator: new CheckpointCoordinator({
        intervalMs: c.checkpointIntervalMs,
        timeoutMs: c.checkpointTimeoutMs,
        minPauseMs: c.checkpointMinPauseMs,
        sources: c.sourceParallelism,
        counts: c.parallelism,
        firstCheckpointId: this.#nextCheckpointId,
        trigger: (barrier) => {
          this.#nextCheckpointId = barrier.checkpointId + 1;
          for (const cell of cells) cell.publish(barrier);
          for (const t of tasks) if (t.role === "source") post(t, { kind: "trigger", barrier });
        },
        commit: async (data) => {
          if (attempt.commitsClosed) throw new Error("an earlier commit of this attempt failed; the attempt restarts");
          const r = await this.#committer.commit(fence ? { ...data, fence } : data, streamCreated, staging ? staging.length : 0).catch((err: Error) => {
            // Another process claimed the database: never commit again (it would overwrite newer state).
            if (isFenced(err.message)) attempt.fail(new FatalJobError(err.message));
            else if (fence) {
              // Deltas cannot be carried past a commit whose outcome is unknown: restart from what landed.
              attempt.commitsClosed = true;
              attempt.fail(isSplitFenced(err.message) ? new RebalanceError(err.message) : `checkpoint ${data.record.id} commit failed: ${err.message}`);
            }
            throw err;
          });
          this.committed = {
            checkpointId: data.record.id,
            positions: { ...this.committed.positions, ...data.positions },
          };
          this.committedRecords = data.record.subtasks.reduce((a, s) => a + (s.counted ?? 0), this.#restoredRecords);
          this.#attemptCompletedCheckpoint = true;
          if (data.windows) this.windowOutbox?.kick(this.natsConnected ? this.#nc : undefined);
          return r;
        },
        notifyComplete: (id) => { for (const t of tasks) post(t, { kind: "complete", checkpointId: id }); },
        notifyAbort: (id) => { for (const t of tasks) if (t.role === "count") post(t, { kind: "abort", checkpointId: id }); },
        onFinished: (r) => {
          this.metrics.checkpointFinished(r);
          if (r.status === "COMPLETED") this.latestCompleted = r;
          if (r.status === "FAILED" && !this.#stopRequested) this.#log(`checkpoint ${r.id} FAILED: ${r.failureReason}`);
        },
      }),
    };

    const parts = partitionByKeyGroup(restored.counts, c.maxParallelism, c.parallelism);
    const windowParts = c.windows && windowPartition(restored.windows, c.maxParallelism, c.parallelism);
    // One channel per (source, count) pair.
    const links = Array.from({ length: c.sourceParallelism }, () =>
      Array.from({ length: c.parallelism }, () => new MessageChannel()));

    const onReport = (t: Task, r: TaskReport) => {
      switch (r.kind) {
        case "ack": attempt.coordinator.acknowledge(r); break;
        case "declined": attempt.coordinator.decline(r.checkpointId, `${r.role} ${r.subtask}: ${r.reason}`); break;
        case "metrics": this.metrics.update(r as TaskMetrics); break;
        case "stopped": stopped.add(`${t.role}:${t.subtask}`); break;
        case "failed": {
          const reason = `${t.role} subtask ${t.subtask} failed: ${r.error}`;
          attempt.fail(r.fatal ? new FatalJobError(reason) : reason);
          break;
        }
        case "log": this.#log(r.line); break;
        case "ready": t.ready = true; this.#readyChanged?.(); break;
      }
    };
    const spawn = (role: "source" | "count", subtask: number, init: SourceTaskInit | CountTaskInit, transfer: MessagePort[]) => {
      const worker = new Worker(this.#workerUrl, { type: "module" });
      const t: Task = { role, subtask, worker };
      tasks.push(t);
      worker.onmessage = (e: MessageEvent<TaskReport>) => onReport(t, e.data);
      worker.addEventListener("error", (e) => {
        e.preventDefault(); // handled: Deno would otherwise rethrow it in this thread and exit
        t.gone = true;
        attempt.fail(`${role} subtask ${subtask} crashed: ${(e as ErrorEvent).message}`);
      });
      worker.addEventListener("close", () => {
        t.gone = true;
        attempt.fail(`${role} subtask ${subtask} exited`);
      });
      worker.postMessage(init, transfer);
    };
    // With a commit thread, count subtasks stage their snapshots there directly.
    const staging = this.#committer.attach
      ? Array.from({ length: c.parallelism }, () => new MessageChannel())
      : undefined;
    if (staging) {
      this.#committer.attach!(staging.map((ch) => ch.port2));
      this.#committer.onLost = (why) => attempt.fail(why);
    }
    for (let i = 0; i < c.parallelism; i++) {
      const inputs = links.map((row) => row[i].port2);
      const commitPort = staging?.[i].port1;
      spawn("count", i, {
        role: "count",
        subtask: i,
        inputs,
        mode: c.checkpointMode,
        restored: parts[i],
        metricsIntervalMs: METRICS_INTERVAL_MS,
        faultThrowAt: injectFault && i === 0 ? c.faultCountThrowAt : undefined,
        commitPort,
        deltas: fence !== undefined,
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
      spawn("source", s, {
        role: "source",
        subtask: s,
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
        windows: c.windows && { ...c.windows, watermarkIntervalMs: WATERMARK_INTERVAL_MS },
      }, outputs);
    }
    return attempt;
  }

  #readyChanged: (() => void) | undefined;

  #allReady(attempt: Attempt): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`subtasks not ready after ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      const check = () => {
        if (attempt.tasks.every((t) => t.ready)) {
          clearTimeout(timer);
          this.#readyChanged = undefined;
          resolve();
        }
      };
      this.#readyChanged = check;
      check();
    });
  }

  /** Stops the coordinator and terminates every worker of the current attempt. */
  async #teardown(): Promise<void> {
    const a = this.#attempt;
    if (!a) return;
    this.#attempt = undefined;
    a.coordinator.stop();
    await a.coordinator.settle(); // a commit in flight lands (or fails) before anyone restores
    this.#pastHistory = [...a.coordinator.history, ...this.#pastHistory].slice(0, 100);
    await this.#finalMetrics(a.tasks);
    for (const t of a.tasks) {
      t.worker.onmessage = null;
      t.worker.terminate();
    }
    this.metrics.endAttempt();
  }

  /**
   * Cancels every task still alive and waits briefly for its final metrics: the totals carried
   * into the next attempt then include what was done since the last periodic report (say, dead
   * letters stored just before a crash, which the replay skips and so never reports again).
   */
  async #finalMetrics(tasks: Task[]): Promise<void> {
    const waiting = new Set(tasks.filter((t) => !t.gone));
    if (waiting.size === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, FINAL_METRICS_WAIT_MS);
      for (const t of waiting) {
        t.worker.onmessage = (e: MessageEvent<TaskReport>) => {
          if (e.data.kind !== "metrics") return; // the attempt is over: only its numbers matter
          this.metrics.update(e.data as TaskMetrics);
          waiting.delete(t);
          if (waiting.size === 0) { clearTimeout(timer); resolve(); }
        };
        post(t, { kind: "cancel" });
      }
    });
  }

  #setState(state: JobState, reason?: string): void {
    if (this.state !== state || reason) this.#log(reason ? `${state}: ${reason}` : state);
    this.state = state;
    this.stateReason = reason;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.#wake = undefined; resolve(); }, ms);
      this.#wake = () => { clearTimeout(t); this.#wake = undefined; resolve(); };
    });
  }
}

/** Whether two sorted split lists are the same. */
function sameSplits(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

/** Resolves once `check()` is true (polled every 20 ms) or `timeoutMs` has passed. */
async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check() && Date.now() < end) await sleep(20);
}

function post(t: Task, msg: TaskControl): void {
  t.worker.postMessage(msg);
}
