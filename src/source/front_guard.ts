/**
 * @module
 * Events removed from a stream before a split read them (retention limits, a purge) while pvflow
 * runs behind: the server's consumer then silently skips to the stream's new first sequence, and
 * its delivery sequences stay continuous. A removed event's subject is unknowable afterwards, so
 * for a split that is a subset of the stream the loss cannot be counted exactly; these pure rules
 * decide what can be known (Kafka's OffsetOutOfRange, applied to a split):
 *
 * - **Covering split** (its filter matches every subject of the stream): every stream sequence is
 *   one of its events, so the sequences it receives must be contiguous; a jump is an exact loss.
 * - **Other splits** keep a *verified position*: every event of the split up to it was delivered.
 *   Limits and purges remove from the stream's front, so when the first sequence `f`, read after
 *   the reader passed position `b`, is at most verified + 1, nothing after the verified position
 *   had been removed when the consumer passed it: `b` is verified. When the front has passed the
 *   verified position, the events in between may have been removed unread; if the split was
 *   active meanwhile (events delivered, pending in the consumer, lost in transit) that is a loss
 *   the job must fail on, never skip. A split that was idle throughout held none there (its
 *   consumer had nothing pending and delivered nothing), so it is not failed.
 *
 * Probes must come often enough for an active split's verified position to stay ahead of the
 * front: {@link nextProbeDelay} and {@link probeStride} pace them by the front's speed and the
 * stream's length.
 */
import { subjectIsSubset } from "../subjects.ts";
import type { UnverifiedSplit } from "../types.ts";

/** Whether every subject of the stream is within `split`: then each stream sequence is the split's. */
export function coversStream(split: string, streamSubjects: readonly string[] | undefined): boolean {
  return !!streamSubjects && streamSubjects.length > 0 && streamSubjects.every((s) => subjectIsSubset(s, split));
}

/** A split's consumer as its consumer info reported it (the server's own counts). */
export interface ConsumerFacts {
  /** Events of the split stored after the consumer's read position. */
  numPending: number;
  /** Deliveries so far (`delivered.consumer_seq`). */
  deliveredCseq: number;
  /** The consumer's read position minus one (`delivered.stream_seq`): it passed every sequence up to it. */
  deliveredSseq: number;
}

/**
 * The stream sequence up to which an idle split has no events, from consumer info read after
 * the stream's last sequence `lastBefore` was read; 0 when it cannot tell. Nothing pending and
 * nothing in flight (as many deliveries as the reader handled): no event of the split is stored
 * between its last one and `max(lastBefore, the read position)`. That holds for the events that
 * ever existed there once a later probe shows the front had not passed the verified position.
 */
export function idleClaim(c: ConsumerFacts, handledCseq: number, lastBefore: number): number {
  return c.numPending === 0 && c.deliveredCseq === handledCseq ? Math.max(c.deliveredSseq, lastBefore) : 0;
}

/** A split's reader's counters, as of one probe (or the consumer's creation). */
export interface SplitActivity {
  /** Events handled whose reply said more of the split's events were pending after them (cumulative). */
  pendingSeen: number;
  /** Deliveries lost in transit (cumulative). */
  transitGaps: number;
  /** The consumer then, and how many of its deliveries were handled. */
  consumer: string | undefined;
  handledCseq: number;
  /** Events of the split pending in the consumer (its consumer info); undefined: not asked this time. */
  numPending: number | undefined;
}

/**
 * Whether a split had events it had not read between the probe `prev` and now (so that the
 * front passing its verified position may have removed some), and the pending count to carry to
 * the next probe. A backlog the last probe saw counts only while nothing was delivered since:
 * once it delivers, its replies' pending counts say whether more were waiting.
 */
export function splitActivity(prev: SplitActivity, now: SplitActivity): { active: boolean; numPending: number } {
  const stuck = now.consumer === prev.consumer && now.handledCseq === prev.handledCseq;
  const numPending = now.numPending ?? (stuck ? prev.numPending ?? 0 : 0);
  const active = now.pendingSeen !== prev.pendingSeen || now.transitGaps !== prev.transitGaps || numPending > 0 ||
    (stuck && (prev.numPending ?? 0) > 0);
  return { active, numPending };
}

/** What a split's reader knew when a probe read the stream's first sequence. */
export interface ProbeInput {
  /** Verified position before the probe. */
  verified: number;
  /**
   * The split's position when the stream's info was requested (every sequence up to it was
   * passed). 0: it has read nothing yet, so the events before the stream's first sequence were
   * never its to read (as at a first start on a stream whose limits removed old events).
   */
  read: number;
  /** {@link idleClaim} of this probe (0: none). */
  claim: number;
  /** The stream's first sequence, read after `read` and `claim`. */
  first: number;
  /** Whether the split had events since the previous probe (delivered, pending, lost in transit). */
  active: boolean;
}

export type ProbeVerdict =
  /** Nothing after the verified position was removed: it moves up. */
  | { kind: "verified"; verified: number }
  /** The front passed unverified positions of an idle split: none of its events were there. */
  | { kind: "idle"; verified: number }
  /** The front passed unverified positions of an active split: its events `from`..`to` may be gone. */
  | { kind: "lost"; from: number; to: number };

/** Judges one probe of one split; see the module doc. */
export function judgeProbe(p: ProbeInput): ProbeVerdict {
  const reached = Math.max(p.verified, p.read, p.claim);
  if (p.read === 0) return { kind: "verified", verified: Math.max(reached, p.first - 1) };
  if (p.first <= p.verified + 1) return { kind: "verified", verified: reached };
  if (p.active) return { kind: "lost", from: p.verified + 1, to: p.first - 1 };
  return { kind: "idle", verified: Math.max(reached, p.first - 1) };
}

/** Shortest and longest pause between two probes of a source subtask. */
export const PROBE_MIN_MS = 20;
export const PROBE_MAX_MS = 1000;

/**
 * The pause before the next probe: half the time the front needs, at its current speed, to reach
 * the nearest verified position (`margin` sequences ahead of it), within the bounds above. A
 * stream without limits has a front that does not move (speed 0): the longest pause.
 */
export function nextProbeDelay(margin: number, frontPerMs: number, minMs = PROBE_MIN_MS, maxMs = PROBE_MAX_MS): number {
  if (!(frontPerMs > 0)) return maxMs;
  return Math.min(maxMs, Math.max(minMs, Math.floor(Math.max(0, margin) / frontPerMs / 2)));
}

/**
 * How far past its verified position a reader may read before it asks for a probe: a quarter of
 * the stream's length (last - first + 1), so that a burst that moves the front by the stream's
 * length meets several probes on the way. At least 1.
 */
export function probeStride(first: number, last: number): number {
  return Math.max(1, Math.floor((last - first + 1) / 4));
}

/** The stream's limits that remove events, in words (for a failure's reason). */
export function describeLimits(c: { max_msgs?: number; max_bytes?: number; max_age?: number; max_msgs_per_subject?: number }): string {
  const parts: string[] = [];
  if ((c.max_msgs ?? 0) > 0) parts.push(`max_msgs ${c.max_msgs}`);
  if ((c.max_bytes ?? 0) > 0) parts.push(`max_bytes ${c.max_bytes}`);
  if ((c.max_age ?? 0) > 0) parts.push(`max_age ${Math.round(c.max_age! / 1e6)} ms`);
  if ((c.max_msgs_per_subject ?? 0) > 0) parts.push(`max_msgs_per_subject ${c.max_msgs_per_subject}`);
  return parts.length > 0 ? parts.join(", ") : "no limits (a purge)";
}

/** What {@link removedReason} names. */
export interface RemovedEvents {
  stream: string;
  split: string;
  from: number;
  to: number;
  /** Where the stream stood, e.g. "it now starts at sequence 5201" or "the split's next event is sequence 900". */
  where: string;
  /** {@link describeLimits} of the stream. */
  limits: string;
  /** True: those events were the split's (a covering split); false: some of them may have been. */
  exact: boolean;
}

/** Why a job fails when events of a split were (or may have been) removed before it read them, and how to go on. */
export function removedReason(r: RemovedEvents): string {
  const what = r.exact ? `events ${r.from} to ${r.to} were removed from stream ${r.stream}`
    : `events of the split between sequences ${r.from} and ${r.to} may have been removed from stream ${r.stream}`;
  return `split ${r.split}: ${what} before pvflow read them (${r.where}; ${r.limits}): pvflow fell behind the ` +
    "stream's retention. Refusing to skip them silently: the committed counts stop before them. To accept the " +
    "loss and keep the counts, stop pvflow and set the split's position to the stream's first sequence - 1 " +
    `(UPDATE positions SET seq = <first - 1> WHERE stream = '${r.stream}' AND subject = '${r.split}'); to count ` +
    "only what the stream still holds, start over with a new PVFLOW_DB_URL. To prevent it, raise the stream's " +
    "limits or give pvflow more capacity";
}

/**
 * Whether the front passed the verified position of a split that showed no unread events: its
 * consumer's backlog must be asked before it is judged idle (SplitReader.backlogNow).
 */
export function needsBacklog(u: { verified: number; position: number; active: boolean }, first: number): boolean {
  return !u.active && u.position > 0 && first > u.verified + 1;
}

/**
 * The failure's reason when the stream's `first` sequence, read after the sources acknowledged a
 * checkpoint, shows that events of one of its `unverified` splits may have been removed unread;
 * undefined when every position is verified.
 */
export function checkUnverified(stream: string, unverified: readonly UnverifiedSplit[], first: number): string | undefined {
  for (const u of unverified) {
    const verdict = judgeProbe({ verified: u.verified, read: u.position, claim: 0, first, active: u.active });
    if (verdict.kind === "lost") {
      return removedReason({
        stream, split: u.split, from: verdict.from, to: verdict.to, where: `it now starts at sequence ${first}`, limits: u.limits, exact: false,
      });
    }
  }
  return undefined;
}
