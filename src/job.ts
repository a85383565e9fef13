/**
 * @module
 * The job: keeps the graph alive. Each attempt ({@link Attempt}, which wires and runs the graph)
 * starts from the latest completed checkpoint — in cluster mode from the owned splits, claimed
 * under their leases. When any subtask fails, the attempt is torn down and the job restarts with
 * exponential backoff; too many failures in a row without a completed checkpoint make it FAILED;
 * a change of the owned splits (cluster mode) restarts it at once. `stop()` takes a final
 * checkpoint (and in cluster mode releases the leases).
 */
import type { NatsConnection } from "@nats-io/nats-core";
import type { StreamInfo } from "@nats-io/jetstream";
import { Attempt, RebalanceError } from "./attempt.ts";
import { redactUrl, type Config } from "./config.ts";
import type { CheckpointCoordinator, CheckpointData, CheckpointRecord } from "./checkpoint/coordinator.ts";
import type { Committer } from "./checkpoint/commit_worker.ts";
import { isSplitFenced, type CheckpointStore, type RestoredCheckpoint } from "./checkpoint/store.ts";
import { ClusterMember } from "./cluster/cluster_member.ts";
import { attemptFence } from "./cluster/fence_token.ts";
import { connectNats } from "./nats/connect.ts";
import { scanDeadLetters } from "./dead_letter_scan.ts";
import type { SplitPositions } from "./types.ts";
import { JobMetrics } from "./job_metrics.ts";
import { checkPositions, ConfigRefusedError, FatalJobError, StreamAdmin } from "./job_streams.ts";
import { StallWatch, type StalledSplit } from "./stall_watch.ts";
import { RestartPolicy } from "./job_restart.ts";
import { sleep } from "./platform.ts";
import { WindowOutbox } from "./window_outbox.ts";

/** Job states, as Flink's `JobStatus` where they overlap. */
export type JobState = "CREATED" | "RESTORING" | "RUNNING" | "RESTARTING" | "STOPPING" | "STOPPED" | "FAILED";

/**
 * The task worker entry. A compiled binary must pass the URL resolved from its root module
 * (`mod.ts`): inside the bundle, this module's `import.meta.url` is the binary's, not this file's.
 */
const DEFAULT_WORKER_URL = new URL("./runtime/task_worker.ts", import.meta.url);
/** A split is stalled after this many checkpoint intervals without progress, at least STALL_MIN_MS. */
const STALL_INTERVALS = 10;
const STALL_MIN_MS = 10_000;

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
    // The job's config narrowed to this attempt's splits (cluster mode: the owned ones).
    const config = { ...this.config, subjects: splits, sourceParallelism: Math.min(this.config.sourceParallelism, splits.length) };
    checkPositions(config, restored, info);
    const deadLettered = await this.#scanDeadLetters(nc, restored, splits);
    if (this.#stopRequested) return;
    const injectFault = this.metrics.attempts < this.config.faultAttempts;
    this.metrics.beginAttempt();
    const attempt = new Attempt({
      config,
      restored, streamCreated: info.created, deadLettered, fence, firstCheckpointId: this.#nextCheckpointId, injectFault,
      workerUrl: this.#workerUrl, committer: this.#committer, metrics: this.metrics,
      streamFirstSequence: () => this.#streams.firstSequence(this.natsConnected ? this.#nc : undefined),
      consumerPending: (name) => this.#streams.consumerPending(this.natsConnected ? this.#nc : undefined, name),
      hooks: {
        triggered: (id) => { this.#nextCheckpointId = id + 1; },
        committed: (data) => this.#onCommitted(data),
        finished: (r) => {
          this.metrics.checkpointFinished(r);
          if (r.status === "COMPLETED") this.latestCompleted = r;
          if (r.status === "FAILED" && !this.#stopRequested) this.#log(`checkpoint ${r.id} FAILED: ${r.failureReason}`);
        },
        log: this.#log,
      },
    });
    this.#attempt = attempt;
    // The splits moved while this attempt was restoring: start over with the new set.
    if (cluster && !sameSplits(cluster.owned(), splits)) attempt.fail(new RebalanceError("cluster: the owned splits changed while restoring"));
    await Promise.race([attempt.failed, attempt.ready()]);
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

  /** A checkpoint of the current attempt was committed. */
  #onCommitted(data: CheckpointData): void {
    this.committed = {
      checkpointId: data.record.id,
      positions: { ...this.committed.positions, ...data.positions },
    };
    this.committedRecords = data.record.subtasks.reduce((a, s) => a + (s.counted ?? 0), this.#restoredRecords);
    this.#attemptCompletedCheckpoint = true;
    if (data.windows) this.windowOutbox?.kick(this.natsConnected ? this.#nc : undefined);
  }

  /** Tears the current attempt down (see {@link Attempt.teardown}). */
  async #teardown(): Promise<void> {
    const a = this.#attempt;
    if (!a) return;
    this.#attempt = undefined;
    await a.teardown();
    this.#pastHistory = [...a.coordinator.history, ...this.#pastHistory].slice(0, 100);
    this.metrics.endAttempt();
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

