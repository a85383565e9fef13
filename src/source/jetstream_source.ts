/**
 * @module
 * A source subtask inside a task worker. Each of its splits (one filter subject) is read by a
 * {@link SplitReader}: an ephemeral `ack_policy: none` pull consumer from the split's checkpointed
 * position + 1, with delivery continuity verified and the consumer recreated in place after a gap,
 * a reconnect or its loss. Each event is parsed once, routed by key group to a count subtask, and
 * batched onto that subtask's channel. On `trigger(n)` — which runs between two events, never inside one — it
 * records every split's position, flushes, emits barrier n on every channel and acknowledges n
 * with the positions. Correctness never depends on JetStream acks.
 */
import { headers } from "@nats-io/nats-core";
import { jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import { connectNats, type NatsSettings } from "../nats/connect.ts";
import { BarrierCell } from "../runtime/barrier_cell.ts";
import { OutputChannel } from "../runtime/channel.ts";
import { subtaskOfKey } from "../runtime/key_group.ts";
import { RecordWriter } from "../runtime/record_writer.ts";
import type { DeadLetterReason, SplitMetrics, SplitPositions, TaskControl, TaskReport } from "../types.ts";
import { parseEvent } from "./event_parser.ts";
import { SplitReader, SplitReaderFatal, type SplitState } from "./split_reader.ts";

/** The `init` message of a source subtask. */
export interface SourceTaskInit {
  role: "source";
  subtask: number;
  nats: NatsSettings;
  stream: string;
  /**
   * Each split with the stream sequence of the last event already counted, and the sequences
   * after it whose dead letters are already stored (found by `scanDeadLetters`): not published again.
   */
  splits: { subject: string; position: number; deadLettered: number[] }[];
  outputs: MessagePort[];
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
}

/** Events the pull consumer may buffer per split. */
const PULL_BATCH = 4096;
/** How often idle splits of a stream with retention limits catch up with its end (two JetStream API calls each). */
const CATCH_UP_MS = 2000;

/** Connects, starts every split, and returns the control handler. */
export async function runSourceTask(init: SourceTaskInit, post: (r: TaskReport) => void): Promise<(c: TaskControl) => void> {
  const { subtask, stream, keyField, maxEventBytes, maxParallelism } = init;
  const parallelism = init.outputs.length;
  const nc = await connectNats(init.nats, `pvflow-source-${subtask}`);
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const channels = init.outputs.map((p) => new OutputChannel(p, init.credits));
  const writer = new RecordWriter(channels, init.batchSize);
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
    post({ kind: "metrics", role: "source", subtask, recordsIn, recordsOut, deadLettered: { ...deadLettered }, splits: perSplit });
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
  const deadLetter = (split: SplitState, m: JsMsg, reason: DeadLetterReason) => {
    // Stored before the failure that replays it: `Nats-Msg-Id` would catch it only within the
    // DLQ stream's duplicate window, this whatever the time passed.
    if (alreadyStored.get(split.subject)?.has(m.seq)) return;
    const h = headers();
    h.set("Pvflow-Reason", reason);
    h.set("Pvflow-Stream", stream);
    h.set("Pvflow-Split", split.subject);
    h.set("Pvflow-Subject", m.subject);
    h.set("Pvflow-Stream-Seq", String(m.seq));
    const msgID = `${stream}:${m.seq}`;
    if (dlqStored) {
      const p = js.publish(init.dlqSubject, m.data, { headers: h, msgID }).then(
        () => { dlqInFlight.delete(p); },
        (err) => {
          dlqFailed = true; // never acknowledge a checkpoint past a lost dead letter
          fail(new Error(`dead-lettering ${msgID}: ${(err as Error).message}`));
        },
      );
      dlqInFlight.add(p);
    } else {
      h.set("Nats-Msg-Id", msgID);
      nc.publish(init.dlqSubject, m.data, { headers: h });
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
    writer.broadcastBarrier(barrier);
    const ack = () => {
      if (!dlqFailed) post({ kind: "ack", role: "source", subtask, checkpointId: barrier.checkpointId, positions });
    };
    if (dlqInFlight.size === 0) ack();
    else Promise.all(dlqInFlight).then(ack);
    if (barrier.final) stop().catch(fail);
  };

  // One event of a split, in stream order (the reader has checked that none is missing before it).
  const onEvent = (split: SplitState, m: JsMsg, seq: number, pending: number): Promise<void> | undefined => {
    if (cell.latestId() !== lastBarrierId) takeBarrier(); // between two events, see BarrierCell
    if (stopped) return;
    recordsIn++;
    split.delivered = seq;
    split.pending = pending;
    if (seq <= split.position) return; // never emit an event twice, whatever the server sends
    const r = parseEvent(m.data, keyField, maxEventBytes);
    if (r.key !== undefined) {
      writer.emit(subtaskOfKey(r.key, maxParallelism, parallelism), r.key);
      recordsOut++;
    } else {
      deadLetter(split, m, r.reason);
    }
    split.position = seq;
    if (writer.backpressured) return writer.whenWritable();
  };
  const readers = splits.map((split) => new SplitReader(split, {
    jsm, js, stream, log,
    namePrefix: `pvf${subtask}`,
    pullBatch: PULL_BATCH,
    inactiveThresholdMs: init.consumerInactiveMs,
    heartbeatMs: init.heartbeatMs,
  }));
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
  // Idle splits of a stream with limits keep up with its end (SplitReader.catchUp).
  const catchUpTimer = setInterval(() => { for (const r of readers) r.catchUp().catch(() => {}); }, CATCH_UP_MS);
  post({ kind: "ready", role: "source", subtask });

  const stop = async () => {
    stopped = true;
    clearInterval(flushTimer);
    clearInterval(metricsTimer);
    clearInterval(catchUpTimer);
    writer.broadcastEnd();
    reportMetrics();
    await Promise.all(readers.map((r) => r.stop()));
    await nc.close();
    post({ kind: "stopped", role: "source", subtask });
  };

  return (control) => {
    if (control.kind === "trigger") takeBarrier();
    else if (control.kind === "cancel") {
      stopped = true; // reads nothing more, so the report below is final
      reportMetrics();
    }
  };
}

