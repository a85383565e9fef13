/**
 * @module
 * This instance as a member of its cluster (`PVFLOW_CLUSTER`): opens the lease bucket
 * `pvflow_<cluster>` on the job's NATS connection, runs the {@link Membership} loop over every
 * split, and tells the job which splits it owns, under which fencing tokens. `status()` is the
 * `cluster` section of `/status`: members, who owns which split, lease ages, rebalances.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { Config } from "../config.ts";
import { ConfigRefusedError } from "../job_streams.ts";
import { clusterFacts, factsMismatch } from "./cluster_facts.ts";
import { LeaseStore } from "./leases.ts";
import { Membership } from "./membership.ts";

/** The `cluster` section of `/status`. */
export interface ClusterStatus {
  name: string;
  instance: string;
  leaseTtlMs: number;
  /** This instance's splits and their fencing tokens. */
  owned: { split: string; epoch: number }[];
  /** Live members (by heartbeat) and the splits each holds a lease of. */
  members: { id: string; heartbeatAgeMs: number; splits: string[]; self: boolean }[];
  /** Every held lease. */
  leases: { split: string; owner: string; epoch: number; ageMs: number }[];
  /** Splits nobody holds a lease of right now (moving, or no member left for them). */
  unowned: string[];
  /** Changes of this instance's owned splits since it started. */
  rebalances: number;
  /** Epoch ms of the latest change, if any. */
  lastRebalanceAt?: number;
  /** Age of the view above (the latest membership round). */
  viewAgeMs?: number;
}

/** What {@link ClusterMember.start} needs. */
export interface ClusterMemberOptions {
  nc: NatsConnection;
  /** The config; its `cluster` must be set. */
  config: Readonly<Config>;
  /** Replicas of the lease bucket: those of the data stream (3 on an R3 stream). */
  replicas: number;
  /** Called with the owned splits after each change. */
  onChange(owned: string[]): void;
  log(line: string): void;
}

/** See the module doc. */
export class ClusterMember {
  readonly #o: ClusterMemberOptions;
  readonly #membership: Membership;
  readonly #firstRound = Promise.withResolvers<void>();
  rebalances = 0;
  lastRebalanceAt: number | undefined;

  private constructor(o: ClusterMemberOptions, store: LeaseStore, facts: Record<string, string>) {
    this.#o = o;
    this.#membership = new Membership({
      store, member: o.config.cluster!.instanceId, splits: o.config.subjects, log: o.log, facts,
      onChange: (owned) => {
        this.rebalances++;
        this.lastRebalanceAt = Date.now();
        o.log(`cluster: this instance owns ${owned.length} of ${o.config.subjects.length} splits${owned.length ? ` (${owned.join(", ")})` : ""}`);
        o.onChange(owned);
      },
      onRound: () => this.#firstRound.resolve(),
    });
  }

  /**
   * Opens the lease bucket (refused when it exists with another TTL or replica count), refuses to
   * join live members that use another stream, split set, key field or database (a
   * {@link ConfigRefusedError}), and starts the loop.
   */
  static async start(o: ClusterMemberOptions): Promise<ClusterMember> {
    const cluster = o.config.cluster!;
    const store = await LeaseStore.open({
      js: jetstream(o.nc), jsm: await jetstreamManager(o.nc), bucket: `pvflow_${cluster.name}`,
      ttlMs: cluster.leaseTtlMs, replicas: o.replicas,
    });
    const facts = clusterFacts(o.config);
    const mismatch = factsMismatch(facts, await store.members(), cluster.instanceId);
    if (mismatch !== undefined) throw new ConfigRefusedError(mismatch);
    const member = new ClusterMember(o, store, facts);
    member.#membership.start();
    return member;
  }

  /** Resolves after the first membership round (the owned splits are known). */
  ready(): Promise<void> {
    return this.#firstRound.promise;
  }

  /** The owned splits, sorted. */
  owned(): string[] {
    return this.#membership.owned;
  }

  /** The fencing token of each of `splits` (owned ones only). */
  fence(splits: readonly string[]): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of splits) {
      const e = this.#membership.epoch(s);
      if (e !== undefined) out[s] = e;
    }
    return out;
  }

  /** Stops the loop; leases are left to expire. */
  stop(): Promise<void> {
    return this.#membership.stop();
  }

  /** Releases every lease and the heartbeat: the others take the splits over at once. */
  leave(): Promise<void> {
    return this.#membership.leave();
  }

  status(): ClusterStatus {
    const cluster = this.#o.config.cluster!;
    const splits = this.#o.config.subjects;
    const view = this.#membership.view;
    const leases = (view?.leases ?? []).map((l) => ({ split: l.split, owner: l.owner, epoch: l.epoch, ageMs: l.ageMs }));
    const ids = new Set([...(view?.members ?? []).map((m) => m.member), cluster.instanceId]);
    const members = [...ids].sort().map((id) => ({
      id,
      heartbeatAgeMs: view?.members.find((m) => m.member === id)?.ageMs ?? 0,
      splits: leases.filter((l) => l.owner === id).map((l) => l.split),
      self: id === cluster.instanceId,
    }));
    const held = new Set(leases.map((l) => l.split));
    const owned = this.owned();
    const fence = this.fence(owned);
    return {
      name: cluster.name, instance: cluster.instanceId, leaseTtlMs: cluster.leaseTtlMs,
      owned: owned.map((split) => ({ split, epoch: fence[split] })),
      members, leases, unowned: splits.filter((s) => !held.has(s)),
      rebalances: this.rebalances, lastRebalanceAt: this.lastRebalanceAt,
      viewAgeMs: view ? Date.now() - view.at : undefined,
    };
  }
}
