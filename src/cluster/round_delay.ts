/**
 * @module
 * Pure: when a member's next round runs. Every renew interval (a quarter of it while a split meant
 * for it is still held by another) — and no later than just after the earliest expiry of another
 * member's heartbeat or lease: a killed member's splits are then taken over as soon as the server
 * drops its entries, not up to a renew interval after (with the default 6 s TTL, up to 2 s of a
 * takeover). Live members renew long before their entries expire, so only a dead one's entries
 * ever bring a round forward.
 *
 * Ages are the local clock minus the server's timestamps; this member's own heartbeat, written at
 * the start of the round, has the same offset, so subtracting its age takes a clock skew between
 * this machine and the server out. Only the timing of rounds depends on it, never who owns what.
 */

/** Time after an expiry before the round that sees it: the server's expiry timer is not exact. */
export const EXPIRY_MARGIN_MS = 100;

/** What {@link nextRoundDelay} needs from a round. */
export interface RoundTiming {
  ttlMs: number;
  renewEveryMs: number;
  /** A split meant for this member is still held by another (retry soon). */
  pending: boolean;
  /** Age of this member's heartbeat as the round read it back (≈ the skew; undefined: not read). */
  selfAgeMs: number | undefined;
  /** Ages of the other members' heartbeats and of the leases they hold. */
  othersAgeMs: readonly number[];
}

/** Milliseconds until the next round; see the module doc. */
export function nextRoundDelay(t: RoundTiming): number {
  let delay = t.pending ? Math.ceil(t.renewEveryMs / 4) : t.renewEveryMs;
  const offset = t.selfAgeMs ?? 0;
  for (const age of t.othersAgeMs) {
    const left = t.ttlMs - (age - offset);
    // Already past its expiry but still listed: the server is late; the pending retry covers it.
    if (left > 0) delay = Math.min(delay, Math.ceil(left) + EXPIRY_MARGIN_MS);
  }
  return delay;
}
