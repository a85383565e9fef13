/**
 * @module
 * Finds the dead letters already stored for the uncommitted tail, so that a replay does not store
 * them again whatever JetStream's `duplicate_window` (2 minutes by default: a long libSQL outage
 * or long downtime before a restart replays dead letters older than that, which `Nats-Msg-Id`
 * alone no longer deduplicates).
 *
 * A dead letter belongs to the tail when its `Pvflow-Stream` header is this job's stream, its
 * `Pvflow-Split` names one of the restored splits and its `Pvflow-Stream-Seq` is past that split's
 * restored position. Such a dead letter was published after the restored checkpoint was
 * triggered (a source records its positions at the barrier and dead-letters later events only
 * after it), so the scan starts at that trigger time less a margin for clock skew between pvflow
 * and the NATS server, and stops at the DLQ stream's last sequence taken at the start (nothing
 * publishes dead letters for this job while it restores).
 */
import { nanos, type NatsConnection } from "@nats-io/nats-core";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { SplitPositions } from "./types.ts";

/** Dead letters older than the restored checkpoint's trigger time by at most this still count (clock skew). */
export const SCAN_MARGIN_MS = 60_000;
const FETCH_BATCH = 1000;

/**
 * The stream sequences already dead-lettered past each split's position, per split (only splits
 * with at least one). `sinceMs`: the restored checkpoint's trigger time; undefined scans the whole
 * DLQ stream (no checkpoint yet, or its time unknown). No stream captures `dlqSubject`: nothing.
 */
export async function scanDeadLetters(
  nc: NatsConnection,
  o: { stream: string; dlqSubject: string; positions: SplitPositions; splits: readonly string[]; sinceMs: number | undefined },
): Promise<Record<string, number[]>> {
  const jsm = await jetstreamManager(nc);
  const dlqStream = await jsm.streams.find(o.dlqSubject).catch(() => undefined);
  if (!dlqStream) return {};
  const lastSeq = (await jsm.streams.info(dlqStream)).state.last_seq;
  const found: Record<string, number[]> = {};
  if (lastSeq === 0) return found;
  const start = o.sinceMs === undefined
    ? { deliver_policy: DeliverPolicy.All }
    : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(o.sinceMs - SCAN_MARGIN_MS).toISOString() };
  const ci = await jsm.consumers.add(dlqStream, {
    ...start,
    filter_subject: o.dlqSubject,
    ack_policy: AckPolicy.None,
    inactive_threshold: nanos(60_000),
    mem_storage: true,
    num_replicas: 1,
  });
  const splits = new Set(o.splits);
  try {
    let pending = ci.num_pending;
    const consumer = await jetstream(nc).consumers.get(dlqStream, ci.name);
    while (pending > 0) {
      let got = 0;
      let done = false;
      for await (const m of await consumer.fetch({ max_messages: FETCH_BATCH, expires: 5000 })) {
        got++;
        pending = m.info.pending;
        if (m.seq >= lastSeq) done = true;
        const h = m.headers;
        const split = h?.get("Pvflow-Stream") === o.stream ? h.get("Pvflow-Split") : "";
        const seq = Number(h?.get("Pvflow-Stream-Seq"));
        if (splits.has(split) && seq > (o.positions[split] ?? 0)) (found[split] ??= []).push(seq);
        // Leave the fetch at once: it would otherwise wait out `expires` for a full batch.
        if (done || pending === 0) break;
      }
      if (done) break;
      if (got === 0) throw new Error(`dead-letter scan of stream ${dlqStream}: no message delivered, ${pending} expected`);
    }
  } finally {
    await jsm.consumers.delete(dlqStream, ci.name).catch(() => {});
  }
  return found;
}
