/**
 * @module
 * A source subtask inside a task worker. Each of its splits (one filter subject) is read by an
 * ephemeral pull consumer with `ack_policy: none`, starting at the split's checkpointed position
 * + 1; each event is parsed once, routed by key group to a count subtask, and batched onto that
 * subtask's channel. On `trigger(n)` — which runs between two events, never inside one — it
 * records every split's position, flushes, emits barrier n on every channel and acknowledges n
 * with the positions. Correctness never depends on JetStream acks.
 */
import { headers, nanos } from "@nats-io/nats-core";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import { connectNats, type NatsSettings } from "../nats/connect.ts";
import { BarrierCell } from "../runtime/barrier_cell.ts";
import { OutputChannel } from "../runtime/channel.ts";
import { subtaskOfKey } from "../runtime/key_group.ts";
import { RecordWriter } from "../runtime/record_writer.ts";
import type { DeadLetterReason, SplitMetrics, SplitPositions, TaskControl, TaskReport } from "../types.ts";
import { AckSubjectParser } from "./ack_subject.ts";
import { parseEvent } from "./event_parser.ts";

/** The `init` message of a source subtask. */
export interface SourceTaskInit {
  role: "source";
  subtask: number;
  nats: NatsSettings;
  stream: string;
  /** Each split with the stream sequence of the last event already counted. */
  splits: { subject: string; position: number }[];
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
}

/** Events the pull consumer may buffer per split. */
const PULL_BATCH = 4096;

interface SplitState extends SplitMetrics {
  subject: string;
  messages?: ConsumerMessages;
  consumerName?: string;
}

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
    subject: s.subject, position: s.position, delivered: s.position, pending: 0,
  }));
  const deadLettered: Partial<Record<DeadLetterReason, number>> = {};
  let recordsIn = 0;
  let recordsOut = 0;
  let stopped = false;

  const reportMetrics = () => {
    const perSplit: Record<string, SplitMetrics> = {};
    for (const s of splits) perSplit[s.subject] = { delivered: s.delivered, position: s.position, pending: s.pending };
    post({ kind: "metrics", role: "source", subtask, recordsIn, recordsOut, deadLettered: { ...deadLettered }, splits: perSplit });
  };

  const fail = (err: unknown) => {
    if (stopped) return;
    post({ kind: "failed", role: "source", subtask, error: `source ${subtask}: ${(err as Error).message ?? err}` });
  };

  // Dead letters go through JetStream when a stream captures the subject: stored, acknowledged,
  // and deduplicated by `Nats-Msg-Id` = stream:sequence, so a replay after a failure does not
  // dead-letter an event twice. A checkpoint is acknowledged only once its dead letters are
  // stored. Without such a stream they can only be published fire-and-forget.
  const dlqStored = await jsm.streams.find(init.dlqSubject).then(() => true, () => false);
  const dlqInFlight = new Set<Promise<unknown>>();
  let dlqFailed = false;
  const deadLetter = (split: SplitState, m: JsMsg, reason: DeadLetterReason) => {
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
    writer.broadcastBarrier(barrier);
    const ack = () => {
      if (!dlqFailed) post({ kind: "ack", role: "source", subtask, checkpointId: barrier.checkpointId, positions });
    };
    if (dlqInFlight.size === 0) ack();
    else Promise.all(dlqInFlight).then(ack);
    if (barrier.final) stop().catch(fail);
  };

  const read = async (split: SplitState) => {
    // Short: the name is in every message's reply subject, which the client parses byte by byte.
    const name = `pvf${subtask}_${crypto.randomUUID().slice(0, 6)}`;
    await jsm.consumers.add(stream, {
      name,
      filter_subject: split.subject,
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: split.position + 1,
      inactive_threshold: nanos(30_000),
      mem_storage: true,
    });
    split.consumerName = name;
    const consumer = await js.consumers.get(stream, name);
    const messages = await consumer.consume({ max_messages: PULL_BATCH, abort_on_missing_resource: true });
    split.messages = messages;
    const ack = new AckSubjectParser();
    for await (const m of messages) {
      if (cell.latestId() !== lastBarrierId) takeBarrier(); // between two events, see BarrierCell
      if (stopped) break;
      // The raw reply subject is cheaper to read than `m.info`; fall back for unknown formats.
      const known = ack.parse((m as unknown as { msg: { reply: string } }).msg.reply);
      const seq = known ? ack.seq : m.info.streamSequence;
      recordsIn++;
      split.delivered = seq;
      split.pending = known ? ack.pending : m.info.pending;
      if (seq <= split.position) continue; // never emit an event twice, whatever the server sends
      const r = parseEvent(m.data, keyField, maxEventBytes);
      if (r.key !== undefined) {
        writer.emit(subtaskOfKey(r.key, maxParallelism, parallelism), r.key);
        recordsOut++;
      } else {
        deadLetter(split, m, r.reason);
      }
      split.position = seq;
      if (writer.backpressured) await writer.whenWritable();
    }
    if (!stopped) throw new Error(`split ${split.subject}: consumer ended unexpectedly (stream or consumer deleted?)`);
  };

  for (const s of splits) read(s).catch(fail);
  const flushTimer = setInterval(() => writer.flushWritable(), init.flushIntervalMs);
  const metricsTimer = setInterval(reportMetrics, init.metricsIntervalMs);
  post({ kind: "ready", role: "source", subtask });

  const stop = async () => {
    stopped = true;
    clearInterval(flushTimer);
    clearInterval(metricsTimer);
    writer.broadcastEnd();
    reportMetrics();
    for (const s of splits) {
      await s.messages?.close().catch(() => {});
      if (s.consumerName) await jsm.consumers.delete(stream, s.consumerName).catch(() => {});
    }
    await nc.close();
    post({ kind: "stopped", role: "source", subtask });
  };

  return (control) => {
    if (control.kind === "trigger") takeBarrier();
  };
}

