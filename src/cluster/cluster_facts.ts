/**
 * @module
 * Pure: what every instance of a cluster must agree on, written in each heartbeat and compared
 * by a joining instance with the live members' — so that an instance with other splits, another
 * key field or another database refuses to start instead of mixing its counts into the cluster's.
 */
import { createHash } from "node:crypto";
import type { Config } from "../config.ts";
import type { MemberBeat } from "./leases.ts";

/** The facts, by the variable that sets each. */
export function clusterFacts(c: Readonly<Config>): Record<string, string> {
  return {
    PVFLOW_STREAM: c.stream,
    PVFLOW_SUBJECTS: [...c.subjects].sort().join(","),
    PVFLOW_KEY_FIELD: c.keyField,
    PVFLOW_CHECKPOINT_MODE: c.checkpointMode,
    // A digest, not the URL: it may carry credentials, and heartbeats are readable by every client.
    PVFLOW_DB_URL: createHash("sha256").update(c.dbUrl).digest("hex").slice(0, 16),
  };
}

/**
 * The first disagreement with a live member, as a one-line refusal (`NAME must be ..., got ...`),
 * or undefined. Members without facts (another version) are not compared.
 */
export function factsMismatch(mine: Record<string, string>, members: readonly MemberBeat[], self: string): string | undefined {
  for (const m of members) {
    if (m.member === self || m.facts === undefined) continue;
    for (const [name, value] of Object.entries(mine)) {
      const theirs = m.facts[name];
      if (theirs === undefined || theirs === value) continue;
      const shown = (v: string) => (name === "PVFLOW_DB_URL" ? `a database with digest ${v}` : JSON.stringify(v));
      return `${name} must be the same on every instance of the cluster: instance ${m.member} uses ${shown(theirs)}, got ${shown(value)}`;
    }
  }
  return undefined;
}
