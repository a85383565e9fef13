/**
 * @module
 * One member's loop: every renew interval — and right after another member's entries expire
 * (see round_delay.ts) — it heartbeats, reads the live members and the leases, computes the common
 * target assignment ({@link assignSplits}), releases the splits it must give up, renews the ones it
 * keeps and acquires the free ones it should own. `onChange` reports the owned splits whenever they
 * change (a loss before its release; the splits gained in a round once, at its end). A lease it could not renew in time is dropped locally before
 * the server lets it expire, so this member stops owning a split before anyone else can start.
 */
import { assignSplits } from "./assignment.ts";
import { nextRoundDelay } from "./round_delay.ts";
import type { Lease, LeaseStore, MemberBeat } from "./leases.ts";

/** What the latest round saw: the live members and every held lease. */
export interface MembershipView {
  /** Epoch ms of the round. */
  at: number;
  members: MemberBeat[];
  leases: Lease[];
}

/** Options of {@link Membership}. */
export interface MembershipOptions {
  store: LeaseStore;
  /** This member's id (unique in the cluster). */
  member: string;
  /** Every split of the stream. */
  splits: readonly string[];
  /** How often leases and the heartbeat are renewed. @default store.ttlMs / 3 */
  renewEveryMs?: number;
  /** Written in every heartbeat, for the others to compare with theirs (see {@link MemberBeat}). */
  facts?: Record<string, string>;
  /** Called with the owned splits (sorted) after each change. */
  onChange?(owned: string[]): void;
  /** Called after each round, whether it changed anything or not. */
  onRound?(): void;
  /** Where a failed step is reported. @default no output */
  log?(line: string): void;
}

/** A member taking part in the split assignment; {@link start} runs its loop. */
export class Membership {
  readonly #o: MembershipOptions;
  readonly #renewEveryMs: number;
  /** Owned leases and the local time their last successful write was sent. */
  readonly #owned = new Map<string, { lease: Lease; sentAt: number }>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #tick: Promise<void> = Promise.resolve();
  /** The latest round's view (undefined before the first). */
  view: MembershipView | undefined;
  /** Completed rounds (the first one decides the initial owned set). */
  rounds = 0;

  constructor(o: MembershipOptions) {
    this.#o = o;
    this.#renewEveryMs = o.renewEveryMs ?? Math.floor(o.store.ttlMs / 3);
    if (!(this.#renewEveryMs > 0 && this.#renewEveryMs * 2 < o.store.ttlMs)) {
      throw new Error(`renew interval must be positive and under half the lease TTL (${o.store.ttlMs} ms), got ${this.#renewEveryMs} ms`);
    }
  }

  /** The splits this member owns now, sorted. */
  get owned(): string[] {
    return [...this.#owned.keys()].sort();
  }

  /** The fencing token (lease epoch) of an owned split, or undefined. */
  epoch(split: string): number | undefined {
    return this.#owned.get(split)?.lease.epoch;
  }

  /** Starts the loop (the first round at once). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(0);
  }

  /** Stops the loop and waits for a round in progress; leases are left to expire (as if killed). */
  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    await this.#tick;
  }

  /** Stops, releases every owned lease and removes the heartbeat: the others take over at once. */
  async leave(): Promise<void> {
    await this.stop();
    for (const { lease } of this.#owned.values()) await this.#o.store.release(lease).catch((e) => this.#log("release", lease.split, e));
    await this.#o.store.leave(this.#o.member).catch((e) => this.#log("leave", this.#o.member, e));
    this.#setOwned(() => this.#owned.clear());
  }

  #schedule(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#tick = this.#round().then((pending) => {
        if (this.#running) this.#schedule(this.#nextDelay(pending));
      });
    }, ms);
  }

  /** When the next round runs: see {@link nextRoundDelay} (right after a dead member's entries expire). */
  #nextDelay(pending: boolean): number {
    const { member, store } = this.#o;
    const view = this.view;
    const others = [
      ...(view?.members ?? []).filter((m) => m.member !== member).map((m) => m.ageMs),
      ...(view?.leases ?? []).filter((l) => l.owner !== member).map((l) => l.ageMs),
    ];
    const selfAgeMs = view?.members.find((m) => m.member === member)?.ageMs;
    return nextRoundDelay({ ttlMs: store.ttlMs, renewEveryMs: this.#renewEveryMs, pending, selfAgeMs, othersAgeMs: others });
  }

  /** One round; true if a split meant for this member is still held by another (retry soon). */
  async #round(): Promise<boolean> {
    const { store, member, splits } = this.#o;
    let pending = false;
    // Splits acquired this round: reported once at its end (one restart of the attempt, not one per split).
    const gained: [string, { lease: Lease; sentAt: number }][] = [];
    try {
      await store.heartbeat(member, this.#o.facts);
      const beats = await store.members();
      const members = beats.map((m) => m.member);
      const leaseList = await store.list();
      const leases = new Map(leaseList.map((l) => [l.split, l]));
      this.view = { at: Date.now(), members: beats, leases: leaseList };
      const target = assignSplits([...members, member], splits, new Map([...leases].map(([s, l]) => [s, l.owner])));
      for (const [split, { lease }] of [...this.#owned]) {
        if (target.get(split) === member || !this.#running) continue;
        this.#setOwned(() => this.#owned.delete(split)); // stop owning before the release
        await store.release(lease).catch((e) => this.#log("release", split, e));
      }
      for (const split of splits) {
        if (target.get(split) !== member || !this.#running) continue;
        const held = this.#owned.get(split);
        const other = leases.get(split);
        if (held === undefined && other !== undefined && other.owner !== member) {
          pending = true;
          continue;
        }
        const sentAt = Date.now();
        try {
          if (held !== undefined) {
            const renewed = await store.renew(held.lease);
            this.#setOwned(() => (renewed ? this.#owned.set(split, { lease: renewed, sentAt }) : this.#owned.delete(split)));
          } else {
            const got = await store.acquire(split, member);
            if (got.ok) gained.push([split, { lease: got.lease, sentAt }]);
            else pending = true;
          }
        } catch (e) {
          this.#log(held ? "renew" : "acquire", split, e);
        }
      }
    } catch (e) {
      this.#log("round", member, e);
    }
    this.#setOwned(() => { for (const [split, held] of gained) this.#owned.set(split, held); });
    this.#dropExpiring();
    this.rounds++;
    this.#o.onRound?.();
    return pending;
  }

  /** Drops leases not renewed for TTL − renew interval/2: the server may expire them soon. */
  #dropExpiring(): void {
    const limit = this.#o.store.ttlMs - this.#renewEveryMs / 2;
    const now = Date.now();
    for (const [split, { sentAt }] of [...this.#owned]) {
      if (now - sentAt > limit) this.#setOwned(() => this.#owned.delete(split));
    }
  }

  /** Applies a change to the owned set and reports it if the set of splits changed. */
  #setOwned(change: () => unknown): void {
    const before = this.owned.join("\n");
    change();
    const after = this.owned;
    if (after.join("\n") !== before) this.#o.onChange?.(after);
  }

  #log(step: string, what: string, e: unknown): void {
    this.#o.log?.(`cluster: ${step} ${what} failed: ${(e as Error).message}`);
  }
}
