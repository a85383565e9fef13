/**
 * @module
 * A source subtask inside a task worker. Each of its splits (one filter subject) is read by a
 * {@link SplitReader}: an ephemeral `ack_policy: none` pull consumer from the split's checkpointed
 * position + 1, with delivery continuity verified and the consumer recreated in place after a gap,
 * a reconnect or its loss. Each event is parsed once, routed by key group to a count subtask, and
 * batched onto that subtask's channel. On `trigger(n)` — which runs between two events, never inside one — it
 * records every split's position, flushes, emits barrier n on every channel and acknowledges n
 * with the positions, naming those its {@link FrontProber} has not verified yet (no event of the
 * split up to them removed from the stream unread by retention limits or a purge): the job
 * verifies them before it commits. Correctness never depends on JetStream acks.
 *
 * With windows on, each event's time is parsed too, and the source keeps its splits' watermarks:
 * every watermark interval it emits a new one on every channel. Lateness is judged HERE, against
 * the watermark this source has emitted: the count subtasks' watermark is a minimum that includes
 * it, so a window an on-time event belongs to is still open there; and the source holds the
 * payload, so a late event is published like a dead letter (stored once, `Nats-Msg-Id`), and on a
 * replay an event already stored as late is late again (see `lateStored`), whatever the timing.
 */
import { headers, type Msg } from "@nats-io/nats-core";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connectNats, type NatsSettings } from "../nats/connect.ts";
import { BarrierCell } from "../runtime/barrier_cell.ts";
import { OutputChannel } from "../runtime/channel.ts";
import type { Port } from "../runtime/local_port.ts";
import { subtaskOfKey } from "../runtime/key_group.ts";
import { RecordWriter } from "../runtime/record_writer.ts";
import { isLate } from "../operators/window_state.ts";
import { SplitWatermarks } from "../runtime/watermark.ts";
import { LATE_RECORD, type DeadLetterReason, type SplitMetrics, type SplitPositions, type TaskControl, type TaskReport } from "../types.ts";
import { parseEvent } from "./event_parser.ts";
import { consumerPrefix } from "./consumer_names.ts";
import { FrontProber } from "./front_prober.ts";
import { SplitReader, SplitReaderFatal, type SplitState } from "./split_reader.ts";

/** The `init` message of a source subtask. */
export interface SourceTaskInit {
  role: "source";
  subtask: number;
  /** How much nicer its task worker runs (see `runtime/thread_priority.ts`). */
  nice?: number;
  nats: NatsSettings;
  stream: string;
  /**
   * Each split with the stream sequence of the last event already counted, and the sequences
   * after it whose dead letters are already stored (found by `scanDeadLetters`): not published again.
   */
  splits: {
    subject: string; position: number; deadLettered: number[];
    /** Windows on: the split's max event time and its source's watermark as of the checkpoint (-Infinity: none). */
    maxEventTime?: number; watermark?: number;
  }[];
  /** Windows on: how event time is read and watermarks are made. */
  windows?: SourceWindows;
  /** One per count subtask, in count order (a slot's own count subtask's may be a local port). */
  outputs: Port[];
  credits: number;
  batchSize: number;
  maxParallelism: number;
  keyField: string;
  maxEventBytes: number;
  dlqSubject: string;
  metricsIntervalMs: number;
  /** Partial batches older than this are sent (latency bound under light traffic). */
  flushIntervalMs: number;
  /** The {@link BarrierCell} buffer the job publishes triggered barriers into. */
  barriers: SharedArrayBuffer;
  /** The server deletes a consumer not pulled from for this long (a paused process loses it). */
  consumerInactiveMs: number;
  /** Idle heartbeat of the pull requests: two missed ones make a split recreate its consumer. */
  heartbeatMs: number;
  /** Cluster mode: this instance's tag in its consumers' names (see consumer_names.ts). */
  consumerTag?: string;
}

/** What a source needs to know of the windows. */
export interface SourceWindows {
  timeField: string;
  sizeMs: number;
  allowedLatenessMs: number;
  outOfOrdernessMs: number;
  idleTimeoutMs: number;
  lateSubject: string;
  /** How often the watermark is recomputed and, if it moved, emitted. */
  watermarkIntervalMs: number;
}

/** Events the pull consumer may buffer per split. */
const PULL_BATCH = 4096;
/**
 * Timeout of the split readers' JetStream API calls (consumer create, delete, stream info), under
 * the client's 5 s default: after a node of a cluster dies, nats-server 2.9 still places about a
 * third of the new R1 consumers on it, and such a create is never answered — the sooner it is
 * retried (under another name), the sooner the split reads again. A healthy server answers in ms.
 */
const CONSUMER_API_TIMEOUT_MS = 2000;

/** Connects, starts every split, and returns the control handler. */
export async function runSourceTask(init: SourceTaskInit, post: (r: TaskReport) => void): Promise<(c: TaskControl) => void> {
  const { subtask, stream, keyField, maxEventBytes, maxParallelism } = init;
  const parallelism = init.outputs.length;
  const nc = await connectNats(init.nats, `pvflow-source-${subtask}`);
  const jsm = await jetstreamManager(nc, { timeout: CONSUMER_API_TIMEOUT_MS });
  const js = jetstream(nc);
  const channels = init.outputs.map((p) => new OutputChannel(p, init.credits));
  const win = init.windows;
  const writer = new RecordWriter(channels, init.batchSize, win !== undefined);
  const splits: SplitState[] = init.splits.map((s) => ({
    subject: s.subject, position: s.position, delivered: s.position, pending: 0, consumerRestarts: 0,
  }));
  const log = (line: string) => post({ kind: "log", role: "source", subtask, line: `source ${subtask}: ${line}` });
  const deadLettered: Partial<Record<DeadLetterReason, number>> = {};
  // Per split, looked up only for a malformed event (never on the path of a well-formed one).
  const alreadyStored = new Map(init.splits.map((s) => [s.subject, new Set(s.deadLettered)]));
  let recordsIn = 0;
  let recordsOut = 0;
  let stopped = false;

  const reportMetrics = () => {
    const perSplit: Record<string, SplitMetrics> = {};
    for (const s of splits) {
      perSplit[s.subject] = {
        delivered: s.delivered, position: s.position, pending: s.pending, consumerRestarts: s.consumerRestarts, waiting: s.waiting,
      };
    }
    post({
      kind: "metrics", role: "source", subtask, recordsIn, recordsOut, deadLettered: { ...deadLettered }, splits: perSplit,
      watermark: watermarks?.current,
    });
  };

  const fail = (err: unknown) => {
    if (stopped) return;
    const fatal = err instanceof SplitReaderFatal || undefined;
    post({ kind: "failed", role: "source", subtask, error: `source ${subtask}: ${(err as Error).message ?? err}`, fatal });
  };

  // Dead letters go through JetStream when a stream captures the subject: stored, acknowledged,
  // and never stored twice by a replay after a failure: those already stored are skipped (see
  // `alreadyStored`), and `Nats-Msg-Id` = stream:sequence catches a publish whose outcome was lost. A checkpoint is acknowledged only once its dead letters are
  // stored. Without such a stream they can only be published fire-and-forget.
  const dlqStored = await jsm.streams.find(init.dlqSubject).then(() => true, () => false);
  const dlqInFlight = new Set<Promise<unknown>>();
  let dlqFailed = false;
  const lateStored = win && win.lateSubject !== init.dlqSubject
    ? await jsm.streams.find(win.lateSubject).then(() => true, () => false)
    : dlqStored;
  const deadLetter = (split: SplitState, m: Msg, seq: number, reason: DeadLetterReason, subject = init.dlqSubject, stored = dlqStored) => {
    // Stored before the failure that replays it: `Nats-Msg-Id` would catch it only within the
    // DLQ stream's duplicate window, this whatever the time passed.
    if (alreadyStored.get(split.subject)?.has(seq)) return;
    const h = headers();
    h.set("Pvflow-Reason", reason);
    h.set("Pvflow-Stream", stream);
    h.set("Pvflow-Split", split.subject);
    h.set("Pvflow-Subject", m.subject);
    h.set("Pvflow-Stream-Seq", String(seq));
    const msgID = `${stream}:${seq}`;
    if (stored) {
      const p = js.publish(subject, m.data, { headers: h, msgID }).then(
        () => { dlqInFlight.delete(p); },
        (err) => {
          dlqFailed = true; // never acknowledge a checkpoint past a lost dead letter
          fail(new Error(`dead-lettering ${msgID}: ${(err as Error).message}`));
        },
      );
      dlqInFlight.add(p);
    } else {
      h.set("Nats-Msg-Id", msgID);
      nc.publish(subject, m.data, { headers: h });
    }
    deadLettered[reason] = (deadLettered[reason] ?? 0) + 1;
  };

  // Barriers: the latest one published in the cell, taken between two events (or on the
  // trigger message when idle). Records its splits' positions, flushes, emits, acknowledges.
  const cell = new BarrierCell(init.barriers);
  let lastBarrierId = cell.latestId();
  const takeBarrier = () => {
    const barrier = cell.read();
    if (stopped || barrier.checkpointId <= lastBarrierId) return;
    lastBarrierId = barrier.checkpointId;
    const positions: SplitPositions = {};
    for (const s of splits) positions[s.subject] = s.position;
    // Reported with every barrier, before the ack: once a checkpoint completes, records.in is
    // never behind what it committed (the periodic report alone can trail it).
    reportMetrics();
    let maxEventTimes: Record<string, number> | undefined;
    let watermark: number | undefined;
    if (watermarks) {
      const max = watermarks.maxTimes();
      maxEventTimes = {};
      splits.forEach((s, i) => { maxEventTimes![s.subject] = max[i]; });
      watermark = watermarks.current;
    }
    // Positions past their verified ones: the job verifies them before it commits (src/attempt.ts).
    const unverified = readers.map((r) => r.unverified()).filter((u) => u !== undefined);
    writer.broadcastBarrier(barrier);
    const ack = () => {
      if (!dlqFailed) {
        post({
          kind: "ack", role: "source", subtask, checkpointId: barrier.checkpointId, positions, maxEventTimes, watermark,
          unverified: unverified.length > 0 ? unverified : undefined,
        });
      }
    };
    if (dlqInFlight.size === 0) ack();
    else Promise.all(dlqInFlight).then(ack);
    if (barrier.final) stop().catch(fail);
  };

  // Windows: per-split watermarks on a coarse clock (ticked with the watermark interval; idleness
  // is measured in such ticks, so no clock is read per event).
  const splitIndex = new Map(splits.map((s, i) => [s, i]));
  let clock = performance.now();
  let watermarks: SplitWatermarks | undefined;
  let watermarkTimer: ReturnType<typeof setInterval> | undefined;
  if (win) {
    const floor = Math.min(...init.splits.map((s) => s.watermark ?? -Infinity));
    watermarks = new SplitWatermarks(init.splits.map((s) => s.maxEventTime ?? -Infinity), win.outOfOrdernessMs, win.idleTimeoutMs, clock, floor);
    const tick = () => {
      clock = performance.now();
      if (stopped) return;
      watermarks!.advance(clock);
      // every tick, moved or not: a restored watermark reaches the count subtasks before any record
      if (watermarks!.current > -Infinity) writer.broadcastWatermark(watermarks!.current);
    };
    tick();
    watermarkTimer = setInterval(tick, win.watermarkIntervalMs);
  }
  const emitTimed = (split: SplitState, m: Msg, seq: number, key: string, ts: number) => {
    const wms = watermarks!;
    wms.observe(splitIndex.get(split)!, ts, clock);
    const target = subtaskOfKey(key, maxParallelism, parallelism);
    // already stored as late by an earlier attempt: late again (and not published twice)
    if (isLate(ts, wms.current, win!.sizeMs, win!.allowedLatenessMs) || alreadyStored.get(split.subject)?.has(seq)) {
      deadLetter(split, m, seq, "late", win!.lateSubject, lateStored);
      writer.emitTimed(target, key, LATE_RECORD);
    } else {
      writer.emitTimed(target, key, ts);
    }
  };

  // One event of a split, in stream order (the reader has checked that none is missing before it).
  const onEvent = (split: SplitState, m: Msg, seq: number, pending: number): Promise<void> | undefined => {
    if (cell.latestId() !== lastBarrierId) takeBarrier(); // between two events, see BarrierCell
    if (stopped) return;
    recordsIn++;
    split.delivered = seq;
    split.pending = pending;
    if (seq <= split.position) return; // never emit an event twice, whatever the server sends
    const r = parseEvent(m.data, keyField, maxEventBytes, win?.timeField);
    if (r.key !== undefined) {
      if (r.ts === undefined) writer.emit(subtaskOfKey(r.key, maxParallelism, parallelism), r.key);
      else emitTimed(split, m, seq, r.key, r.ts);
      recordsOut++;
    } else {
      deadLetter(split, m, seq, r.reason);
    }
    split.position = seq;
    if (writer.backpressured) return writer.whenWritable();
  };
  const readers = splits.map((split) => new SplitReader(split, {
    jsm, nc, stream, log,
    namePrefix: consumerPrefix(subtask, init.consumerTag),
    pullBatch: PULL_BATCH,
    inactiveThresholdMs: init.consumerInactiveMs,
    heartbeatMs: init.heartbeatMs,
    probeSoon: () => prober.request(),
  }));
  const prober: FrontProber = new FrontProber({ jsm, stream, readers, fail, log });
  // A reconnect may have lost messages in flight after the last one read: a consumer that thinks
  // it delivered them would never send them again, so every split resumes from its position.
  (async () => {
    for await (const s of nc.status()) if (s.type === "reconnect") for (const r of readers) r.restart("reconnected to NATS");
  })().catch(() => {});

  for (const r of readers) {
    r.run((m, seq, pending) => onEvent(r.split, m, seq, pending)).then(
      () => { if (!stopped) fail(new Error(`split ${r.split.subject}: reading ended unexpectedly`)); },
      fail,
    );
  }
  const flushTimer = setInterval(() => writer.flushWritable(), init.flushIntervalMs);
  const metricsTimer = setInterval(reportMetrics, init.metricsIntervalMs);
  prober.start();
  post({ kind: "ready", role: "source", subtask });

  const stop = async () => {
    stopped = true;
    clearInterval(flushTimer);
    clearInterval(metricsTimer);
    clearInterval(watermarkTimer);
    writer.broadcastEnd();
    reportMetrics();
    prober.stop();
    await Promise.all(readers.map((r) => r.stop()));
    await nc.close();
    post({ kind: "stopped", role: "source", subtask });
  };

  return (control) => {
    if (control.kind === "trigger") takeBarrier();
    else if (control.kind === "verified") for (const r of readers) r.markVerified(control.positions[r.split.subject] ?? 0);
    else if (control.kind === "cancel") {
      stopped = true; // reads nothing more, so the report below is final
      prober.stop();
      reportMetrics();
    }
  };
}

