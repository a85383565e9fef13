/**
 * @module
 * Pure: the fencing tokens cluster mode writes with every claim and commit of a split (checked by
 * the `positions_fence` trigger: a write with a smaller token aborts its transaction).
 */

/** Attempts one lease can fence apart (the low bits of a token; tokens stay safe integers while lease epochs, KV revisions, stay below 2^32 (13 years of 10 writes a second)). */
const ATTEMPTS_PER_LEASE = 2 ** 20;

/**
 * The fencing tokens of one attempt: each lease epoch, then this process's attempt number. So a
 * commit of an earlier attempt of this same instance — one that failed here but may still land,
 * say from a crashed commit thread — is fenced out by the next attempt's claim like a zombie's:
 * its deltas must never be added twice.
 */
export function attemptFence(epochs: Record<string, number>, attempt: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [split, epoch] of Object.entries(epochs)) out[split] = epoch * ATTEMPTS_PER_LEASE + (attempt % ATTEMPTS_PER_LEASE);
  return out;
}

/** A stored token's parts: the lease epoch and the attempt number (for diagnostics and tests). */
export function tokenParts(token: number): { epoch: number; attempt: number } {
  return { epoch: Math.floor(token / ATTEMPTS_PER_LEASE), attempt: token % ATTEMPTS_PER_LEASE };
}
