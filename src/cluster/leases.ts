/**
 * @module
 * Split leases and member heartbeats in a NATS KV bucket, on the JetStream API (what `@nats-io/kv`
 * does underneath; that package is not a dependency): stream `KV_<bucket>`, subjects
 * `$KV.<bucket>.splits.<split>` and `$KV.<bucket>.members.<id>`, one message per subject, expiry
 * by the stream's `max_age` (the lease TTL; nats-server 2.9 has no per-key TTL). Acquire is
 * create-if-absent and renew a revision-checked update (`Nats-Expected-Last-Subject-Sequence`),
 * so the server decides every race; no clocks are compared. A lease's fencing token is its
 * `epoch`: the KV revision (stream sequence) of the write that acquired it, kept by renewals —
 * strictly increasing across owners.
 */
import { headers, nanos } from "@nats-io/nats-core";
import {
  DiscardPolicy, JetStreamApiCodes, JetStreamApiError, StorageType, type JetStreamClient, type JetStreamManager,
  type StoredMsg,
} from "@nats-io/jetstream";
import { decodeKeyToken, encodeKeyToken } from "./kv_key.ts";

/** Options of {@link LeaseStore.open}. */
export interface LeaseStoreOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The KV bucket (stream `KV_<bucket>`), e.g. `pvflow_<cluster>`. */
  bucket: string;
  /** A lease or heartbeat not renewed for this long is gone (the bucket's max_age). @default 6000 */
  ttlMs?: number;
  /** Replicas of the bucket (3 on a 3-node cluster). @default 1 */
  replicas?: number;
}

/** A split's lease as stored. */
export interface Lease {
  split: string;
  owner: string;
  /** The KV revision of the latest write (what the next renew must name). */
  revision: number;
  /** The fencing token: the revision of the write that acquired the lease. */
  epoch: number;
  /** Time since the latest write, by the server's timestamp and this machine's clock. */
  ageMs: number;
}

/** What {@link LeaseStore.acquire} got: the lease, or who holds it (undefined: lost a race just now). */
export type AcquireResult = { ok: true; lease: Lease } | { ok: false; owner: string | undefined };

/** A live member's heartbeat, with what it wrote in it (see {@link LeaseStore.heartbeat}). */
export interface MemberBeat { member: string; ageMs: number; facts?: Record<string, string> }

interface LeaseValue { owner: string; epoch?: number }

const RELEASED = "DEL";
const OPERATION = "KV-Operation";

/** Leases of splits and heartbeats of members in one KV bucket. */
export class LeaseStore {
  readonly ttlMs: number;
  readonly #stream: string;
  readonly #prefix: string;

  private constructor(private readonly js: JetStreamClient, private readonly jsm: JetStreamManager, bucket: string, ttlMs: number) {
    this.ttlMs = ttlMs;
    this.#stream = `KV_${bucket}`;
    this.#prefix = `$KV.${bucket}`;
  }

  /** Creates the bucket if absent; an existing one with another TTL or replica count is refused. */
  static async open(o: LeaseStoreOptions): Promise<LeaseStore> {
    if (!/^[A-Za-z0-9_-]+$/.test(o.bucket)) throw new Error(`lease bucket must match [A-Za-z0-9_-]+, got ${JSON.stringify(o.bucket)}`);
    const ttlMs = o.ttlMs ?? 6000;
    const replicas = o.replicas ?? 1;
    const store = new LeaseStore(o.js, o.jsm, o.bucket, ttlMs);
    const config = {
      name: store.#stream, subjects: [`${store.#prefix}.>`], max_age: nanos(ttlMs), duplicate_window: nanos(Math.min(ttlMs, 120_000)),
      max_msgs_per_subject: 1, discard: DiscardPolicy.Old, allow_rollup_hdrs: true, deny_delete: true, allow_direct: true,
      num_replicas: replicas, storage: StorageType.File,
    };
    try {
      await o.jsm.streams.add(config);
    } catch (err) {
      const info = await o.jsm.streams.info(store.#stream).catch(() => undefined);
      if (info === undefined) throw err;
      const have = { ttlMs: info.config.max_age / 1e6, replicas: info.config.num_replicas };
      if (have.ttlMs === ttlMs && have.replicas === replicas) throw err;
      throw new Error(`lease bucket ${o.bucket} exists with TTL ${have.ttlMs} ms and ${have.replicas} replicas, expected TTL ${ttlMs} ms and ${replicas} replicas`);
    }
    return store;
  }

  /**
   * Takes the split's lease if it is free (never written, expired or released) or already this
   * member's (then with a new epoch: every acquisition is fenced from the ones before it).
   */
  async acquire(split: string, member: string): Promise<AcquireResult> {
    const last = await this.#last(this.#splitSubject(split));
    const current = last === null ? undefined : parseLease(split, last);
    if (current !== undefined && current.owner !== member) return { ok: false, owner: current.owner };
    const lease = await this.#write(split, { owner: member }, last?.seq ?? 0);
    return lease === undefined ? { ok: false, owner: undefined } : { ok: true, lease };
  }

  /**
   * Renews a held lease (same epoch); undefined if it is lost (expired, released or taken). A
   * renewal whose ack was lost but which landed is recognised (same owner and epoch) and continued.
   */
  async renew(lease: Lease): Promise<Lease | undefined> {
    const value = { owner: lease.owner, epoch: lease.epoch };
    const renewed = await this.#write(lease.split, value, lease.revision);
    if (renewed !== undefined) return renewed;
    const last = await this.#last(this.#splitSubject(lease.split));
    const now = last === null ? undefined : parseLease(lease.split, last);
    if (now?.owner !== lease.owner || now.epoch !== lease.epoch) return undefined;
    return this.#write(lease.split, value, now.revision);
  }

  /** Gives a held lease up (a revision-checked release marker); false if it was no longer held. */
  async release(lease: Lease): Promise<boolean> {
    const h = headers();
    h.set(OPERATION, RELEASED);
    try {
      await this.js.publish(this.#splitSubject(lease.split), new Uint8Array(), { headers: h, expect: { lastSubjectSequence: lease.revision } });
      return true;
    } catch (err) {
      if (isWrongLastSequence(err)) return false;
      throw err;
    }
  }

  /** The split's lease, or undefined if it is free. */
  async get(split: string): Promise<Lease | undefined> {
    const last = await this.#last(this.#splitSubject(split));
    return last === null ? undefined : parseLease(split, last);
  }

  /** Every held lease, sorted by split. */
  async list(): Promise<Lease[]> {
    const out: Lease[] = [];
    for (const [token, m] of await this.#lastPerSubject("splits")) {
      const lease = parseLease(decodeKeyToken(token), m);
      if (lease !== undefined) out.push(lease);
    }
    return out.sort((a, b) => (a.split < b.split ? -1 : a.split > b.split ? 1 : 0));
  }

  /** Writes this member's heartbeat (it lives for the TTL), with `facts` the others can compare with theirs. */
  async heartbeat(member: string, facts?: Record<string, string>): Promise<void> {
    await this.js.publish(`${this.#prefix}.members.${encodeKeyToken(member)}`, JSON.stringify({ member, facts }));
  }

  /** Removes this member's heartbeat at once (a graceful leave; a killed member's just expires). */
  async leave(member: string): Promise<void> {
    const h = headers();
    h.set(OPERATION, RELEASED);
    await this.js.publish(`${this.#prefix}.members.${encodeKeyToken(member)}`, new Uint8Array(), { headers: h });
  }

  /** Members with a live heartbeat, sorted by id. */
  async members(): Promise<MemberBeat[]> {
    const out = [...await this.#lastPerSubject("members")].filter(([, m]) => m.header.get(OPERATION) !== RELEASED)
      .map(([token, m]) => ({ member: decodeKeyToken(token), ageMs: ageOf(m), facts: factsOf(m) }));
    return out.sort((a, b) => (a.member < b.member ? -1 : a.member > b.member ? 1 : 0));
  }

  #splitSubject(split: string): string {
    return `${this.#prefix}.splits.${encodeKeyToken(split)}`;
  }

  /** Writes a lease value expecting `revision` as the subject's last; undefined if it was not. */
  async #write(split: string, value: LeaseValue, revision: number): Promise<Lease | undefined> {
    try {
      const ack = await this.js.publish(this.#splitSubject(split), JSON.stringify(value), { expect: { lastSubjectSequence: revision } });
      return { split, owner: value.owner, revision: ack.seq, epoch: value.epoch ?? ack.seq, ageMs: 0 };
    } catch (err) {
      if (isWrongLastSequence(err)) return undefined;
      throw err;
    }
  }

  async #last(subject: string): Promise<StoredMsg | null> {
    return this.jsm.streams.getMessage(this.#stream, { last_by_subj: subject });
  }

  /** The last message of every subject under `<prefix>.<kind>.`, keyed by its key token. */
  async #lastPerSubject(kind: string): Promise<Map<string, StoredMsg>> {
    const filter = `${this.#prefix}.${kind}.`;
    const info = await this.jsm.streams.info(this.#stream, { subjects_filter: `${filter}*` });
    const out = new Map<string, StoredMsg>();
    for (const subject of Object.keys(info.state.subjects ?? {})) {
      const m = await this.#last(subject); // null: it expired since the listing
      if (m !== null) out.set(subject.slice(filter.length), m);
    }
    return out;
  }
}

/** The lease in a stored message; undefined for a release marker. */
function parseLease(split: string, m: StoredMsg): Lease | undefined {
  if (m.header.get(OPERATION) === RELEASED) return undefined;
  const v = m.json<LeaseValue>();
  return { split, owner: v.owner, revision: m.seq, epoch: v.epoch ?? m.seq, ageMs: ageOf(m) };
}

function factsOf(m: StoredMsg): Record<string, string> | undefined {
  try {
    return m.json<{ facts?: Record<string, string> }>().facts;
  } catch {
    return undefined; // not written by this version
  }
}

function ageOf(m: StoredMsg): number {
  return Math.max(0, Date.now() - m.time.getTime());
}

function isWrongLastSequence(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence;
}
