/**
 * @module
 * A pvflow cluster for the end-to-end tests of cluster mode (issue 14): a 3-node JetStream cluster
 * with an R3 stream, one sqld, pvflow instances in cluster mode (`PVFLOW_CLUSTER`), a live
 * publisher whose retries count once (`Nats-Msg-Id`), a monitor that samples every live instance's
 * `/counts` and records any total past the events published so far (a double count), and the exact
 * verifier over EVERY live instance's paginated `/counts`. The positions table of sqld tells when a
 * split was committed again by a new owner (its lease epoch changed and its position moved on). An
 * instance can be started behind proxies to NATS, to drop its packets (a partition) on demand.
 */
import { createClient, type Client } from "@libsql/client";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { expect } from "bun:test";
import type { ClusterStatus } from "../../src/cluster/cluster_member.ts";
import { tokenParts } from "../../src/cluster/fence_token.ts";
import { sleep } from "../../src/platform.ts";
import { allCounts } from "./counts.ts";
import { event, total } from "./events.ts";
import { NatsCluster } from "./nats_cluster.ts";
import { PvflowProcess, waitFor } from "./pvflow_process.ts";
import { Sqld } from "./sqld.ts";
import { TcpProxy } from "./tcp_proxy.ts";

/** Six splits: three instances own two each, so a join or a leave has something to move. */
export const CLUSTER_SPLITS = Array.from({ length: 6 }, (_, i) => `pv.${i}`);
const KEYS = 200;
/** Small pages: every read of `/counts` follows `next` several times. */
const PAGE = 64;
/** Completed checkpoints each instance must add, once the totals are reached, before the exact check. */
const SETTLE_CHECKPOINTS = 5;

/** Options of {@link PvflowCluster.start}. */
export interface PvflowClusterOptions {
  binary: string;
  /** Environment of every instance on top of the defaults (e.g. `PVFLOW_LEASE_TTL_MS`). */
  env?: Record<string, string>;
  /** Events per publish batch (the batch is awaited, then {@link pauseMs}). @default 40 */
  batch?: number;
  /** @default 50 */
  pauseMs?: number;
}

/** A split's row in the positions table: its position, fencing token and the token's lease epoch. */
export interface SplitRow { seq: number; token: number | null; epoch: number | null }

/** See the module doc. `await using` stops everything. */
export class PvflowCluster implements AsyncDisposable {
  /** The current process of each instance id (a restarted one replaces the old). */
  readonly instances = new Map<string, PvflowProcess>();
  /** Instances under SIGSTOP: they answer nothing, so the monitor and the verifier skip them. */
  readonly paused = new Set<string>();
  /** Per key, the events the stream stored. */
  readonly expected = new Map<string, number>();
  /** Events the stream acknowledged. */
  published = 0;
  /** Events whose publish began (stored or in flight): no committed total may ever exceed it. */
  started = 0;
  /** Samples of a total past {@link started}: each one a double count. */
  readonly doubleCounts: string[] = [];
  /** Samples taken by the monitor (so a test can show it looked). */
  samples = 0;
  readonly #all: PvflowProcess[] = [];
  readonly #links = new Map<string, TcpProxy[]>();
  readonly #o: PvflowClusterOptions;
  #publishing: Promise<void> | undefined;
  #stopPublishing = false;
  #monitoring: Promise<void> | undefined;
  #stopMonitor = false;

  private constructor(
    o: PvflowClusterOptions,
    readonly nats: NatsCluster,
    readonly sqld: Sqld,
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly db: Client,
  ) {
    this.#o = o;
  }

  /** Starts the NATS cluster, the R3 stream `PV` on `pv.>`, sqld and the double-count monitor. */
  static async start(o: PvflowClusterOptions): Promise<PvflowCluster> {
    const nats = await NatsCluster.start();
    const sqld = await Sqld.start().catch(async (err) => {
      await nats[Symbol.asyncDispose]();
      throw err;
    });
    const nc = await connect({ servers: nats.urls.split(","), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "PV", subjects: ["pv.>"], num_replicas: 3 });
    const c = new PvflowCluster(o, nats, sqld, nc, jetstream(nc), jsm, createClient({ url: sqld.url }));
    c.#monitoring = c.#monitor();
    return c;
  }

  /** The environment of instance `id`. */
  env(id: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      NATS_URL: this.nats.urls, PVFLOW_SUBJECTS: CLUSTER_SPLITS.join(","), PVFLOW_PARALLELISM: "1",
      PVFLOW_SOURCE_PARALLELISM: "1", PVFLOW_CHECKPOINT_INTERVAL_MS: "200", PVFLOW_DB_URL: this.sqld.url,
      PVFLOW_CLUSTER: "t", PVFLOW_INSTANCE_ID: id, PVFLOW_RESTART_BACKOFF_MS: "100",
      ...this.#o.env, ...extra,
    };
  }

  /**
   * Starts instance `id` (again, after it exited) and waits until it serves. `proxied`: its NATS
   * connections go through a proxy per node, so {@link cutOffNats} can drop its packets.
   */
  async startInstance(id: string, extra: Record<string, string> = {}, o: { proxied?: boolean } = {}): Promise<PvflowProcess> {
    if (o.proxied && !this.#links.has(id)) {
      const proxies: TcpProxy[] = [];
      for (const n of this.nats.nodes) proxies.push(await TcpProxy.start(n.port));
      this.#links.set(id, proxies);
    }
    const via = this.#links.get(id);
    const env = { ...this.env(id, extra), ...(via ? { NATS_URL: via.map((p) => p.url()).join(",") } : {}) };
    const p = await PvflowProcess.start({ binary: this.#o.binary, env, startTimeoutMs: 30_000 });
    this.#all.push(p);
    this.instances.set(id, p);
    return p;
  }

  /** Drops (true) or forwards again (false) every packet between a proxied instance and NATS. */
  cutOffNats(id: string, cut: boolean): void {
    const via = this.#links.get(id);
    if (!via) throw new Error(`instance ${id} was not started proxied`);
    for (const p of via) p.paused = cut;
  }

  /** The running process of `id`. */
  instance(id: string): PvflowProcess {
    const p = this.instances.get(id);
    if (!p) throw new Error(`no instance ${id}`);
    return p;
  }

  /** Ids of the instances alive and not paused. */
  live(): string[] {
    return [...this.instances].filter(([id, p]) => p.proc.exitCode === null && p.proc.signalCode === null && !this.paused.has(id))
      .map(([id]) => id).sort();
  }

  /** Everything the instances wrote, for a failure message. */
  logs(): string {
    return [...this.instances].map(([id, p]) => `--- ${id}\n${p.log}`).join("\n");
  }

  /** `/status` of `id`. */
  async status(id: string): Promise<any> {
    return (await this.instance(id).json("/status")).body;
  }

  /** The `cluster` section of `id`'s `/status`. */
  async cluster(id: string): Promise<ClusterStatus> {
    return (await this.status(id)).cluster;
  }

  /** The splits `id` owns now. */
  async owned(id: string): Promise<string[]> {
    return (await this.cluster(id)).owned.map((o) => o.split);
  }

  /**
   * Waits until `ids` own every split once between them, balanced (⌊n/m⌋ or ⌈n/m⌉ each), each
   * RUNNING; resolves with each one's splits.
   */
  async waitBalanced(ids: string[], timeoutMs: number): Promise<Map<string, string[]>> {
    let owners = new Map<string, string[]>();
    const lo = Math.floor(CLUSTER_SPLITS.length / ids.length);
    await waitFor(async () => {
      owners = new Map();
      for (const id of ids) {
        const s = await this.status(id).catch(() => undefined);
        if (s?.state !== "RUNNING" || !s.cluster) return false;
        owners.set(id, s.cluster.owned.map((o: { split: string }) => o.split));
      }
      const all = [...owners.values()].flat();
      return all.length === CLUSTER_SPLITS.length && new Set(all).size === all.length
        && [...owners.values()].every((o) => o.length === lo || o.length === lo + 1);
    }, timeoutMs, () => `not balanced over ${ids.join(", ")}: ${JSON.stringify([...owners])}\n${this.logs()}`);
    return owners;
  }

  /** Every split's row in sqld's positions table. */
  async positions(): Promise<Map<string, SplitRow>> {
    const rs = await this.db.execute({ sql: "SELECT subject, seq, epoch FROM positions WHERE stream = 'PV'", args: [] });
    return new Map(rs.rows.map((r) => {
      const token = r[2] === null ? null : Number(r[2]); // the column is named epoch; it holds the token
      return [r[0] as string, { seq: Number(r[1]), token, epoch: token === null ? null : tokenParts(token).epoch }];
    }));
  }

  /**
   * Waits until each of `splits` was committed again under a new lease: its lease epoch differs
   * from the one in `before` and its position moved past it. Resolves with the new rows.
   */
  async waitCommittedAgain(splits: string[], before: Map<string, SplitRow>, timeoutMs: number): Promise<Map<string, SplitRow>> {
    let now = new Map<string, SplitRow>();
    await waitFor(async () => {
      now = await this.positions();
      return splits.every((s) => {
        const b = before.get(s);
        const n = now.get(s);
        return b !== undefined && n !== undefined && n.epoch !== b.epoch && n.seq > b.seq;
      });
    }, timeoutMs, () => `not committed again: ${JSON.stringify(splits.map((s) => [s, before.get(s), now.get(s)]))}\n${this.logs()}`);
    return now;
  }

  /**
   * Makes node `i` the leader of `stream`: asks the leader to step down until the election lands
   * there (each election picks among the replicas).
   */
  async moveLeader(stream: string, i: number, timeoutMs = 60_000): Promise<void> {
    const name = this.nats.nodes[i]!.name;
    const leader = async () => (await this.jsm.streams.info(stream).catch(() => undefined))?.cluster?.leader;
    await waitFor(async () => {
      const now = await leader();
      if (now === name) return true;
      if (now === undefined) return false; // an election in progress
      await this.nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, undefined, { timeout: 2000 }).catch(() => undefined);
      await waitFor(async () => ![undefined, now].includes(await leader()), 10_000, () => `${stream}: no new leader after ${now}`);
      return (await leader()) === name;
    }, timeoutMs, () => `${stream}: the leader did not move to ${name}`);
  }

  /**
   * Once the publisher has stored `batches` more batches, each split's last stored sequence: events
   * stored from now on (e.g. after a fault) end there.
   */
  async storedAfter(batches: number): Promise<Map<string, number>> {
    const from = this.published;
    const batch = this.#o.batch ?? 40;
    await waitFor(() => this.published >= from + batches * batch, 60_000, () => `the publisher stored nothing more after ${from} events`);
    const out = new Map<string, number>();
    for (const s of CLUSTER_SPLITS) out.set(s, (await this.jsm.streams.getMessage("PV", { last_by_subj: s }))?.seq ?? 0);
    return out;
  }

  /** Whether `rows` (sqld's positions) cover every split up to its sequence in `mark`. */
  committedUpTo(rows: Map<string, SplitRow>, mark: Map<string, number>): boolean {
    return CLUSTER_SPLITS.every((s) => (rows.get(s)?.seq ?? 0) >= mark.get(s)!);
  }

  /** Publishes batches (on from the last event) until {@link stopPublishing}; `expected` follows what the stream stored. */
  startPublishing(): void {
    const batch = this.#o.batch ?? 40;
    const pauseMs = this.#o.pauseMs ?? 50;
    if (this.#publishing && !this.#stopPublishing) throw new Error("the publisher is running");
    this.#stopPublishing = false;
    this.#publishing = (async () => {
      while (!this.#stopPublishing) {
        const from = this.started;
        this.started += batch;
        const keys = await Promise.all(Array.from({ length: batch }, (_, k) => this.#publishOnce(from + k)));
        for (const key of keys) this.expected.set(key, (this.expected.get(key) ?? 0) + 1);
        this.published += batch;
        await sleep(pauseMs);
      }
    })();
  }

  /** Stops the publisher after its batch in flight; resolves with the events published. */
  async stopPublishing(): Promise<number> {
    this.#stopPublishing = true;
    await this.#publishing;
    return this.published;
  }

  /** Waits until `/counts` of the instances alive totals at least `n`. */
  async waitCommitted(n: number, timeoutMs: number): Promise<void> {
    await waitFor(async () => {
      for (const id of this.live()) if (total(await allCounts(this.instance(id), PAGE).catch(() => new Map())) < n) return false;
      return true;
    }, timeoutMs, () => `the committed total did not reach ${n}\n${this.logs()}`);
  }

  /**
   * The exact check, after the publisher stopped: every live instance's `/counts` (all pages) reaches
   * the published total; then, while each one completes {@link SETTLE_CHECKPOINTS} more
   * checkpoints (every instance commits: any late double count would land meanwhile), the monitor
   * keeps sampling; then each one's counts equal `expected`, key by key, and no sample ever went
   * past the events published.
   */
  async verifyExact(timeoutMs = 60_000): Promise<void> {
    if (!this.#stopPublishing) throw new Error("verifyExact needs the publisher stopped");
    const ids = this.live();
    expect(ids.length).toBeGreaterThan(0);
    expect(total(this.expected)).toBe(this.published);
    await this.waitCommitted(this.published, timeoutMs);
    const completed = async (id: string) => (await this.status(id)).checkpoints.completed as number;
    const base = new Map<string, number>();
    for (const id of ids) base.set(id, await completed(id));
    await waitFor(async () => {
      for (const id of ids) if ((await completed(id)) < base.get(id)! + SETTLE_CHECKPOINTS) return false;
      return true;
    }, timeoutMs, () => `no ${SETTLE_CHECKPOINTS} more checkpoints on ${ids.join(", ")}\n${this.logs()}`);
    const before = this.samples;
    await waitFor(() => this.samples > before, 10_000, () => "the monitor took no sample");
    for (const id of ids) {
      const counts = await allCounts(this.instance(id), PAGE);
      expect({ id, total: total(counts) }).toEqual({ id, total: this.published });
      expect(counts).toEqual(this.expected);
      // One key by its own route, on every instance.
      const [key, count] = [...this.expected].sort((a, b) => b[1] - a[1])[0]!;
      expect((await this.instance(id).json(`/counts/${encodeURIComponent(key)}`)).body.count).toBe(count);
    }
    expect(this.doubleCounts).toEqual([]);
  }

  /** Publishes event i until the cluster stores it; `Nats-Msg-Id` makes a retried one count once. */
  async #publishOnce(i: number): Promise<string> {
    const e = event(i, KEYS);
    const subject = CLUSTER_SPLITS[i % CLUSTER_SPLITS.length];
    for (let attempt = 0; ; attempt++) {
      try {
        await this.js.publish(subject, e.data, { msgID: `e${i}`, timeout: 2000 });
        return e.key;
      } catch (err) {
        if (attempt > 100) throw err;
        await sleep(100);
      }
    }
  }

  /** Samples every live instance's total; a total past the events started is a double count. */
  async #monitor(): Promise<void> {
    while (!this.#stopMonitor) {
      for (const id of this.live()) {
        const counts = await allCounts(this.instance(id), PAGE).catch(() => undefined); // restarting: skip
        if (counts === undefined) continue;
        const started = this.started; // read after the counts: they can only be behind it
        const n = total(counts);
        if (n > started) this.doubleCounts.push(`${id}: total ${n} > ${started} events published`);
        for (const [k, v] of counts) {
          // No key may ever count more than it was published (an upper bound: in flight ones included).
          if (v > (this.expected.get(k) ?? 0) + (started - this.published)) this.doubleCounts.push(`${id}: ${k} = ${v}`);
        }
      }
      this.samples++;
      await sleep(250);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#stopPublishing = true;
    this.#stopMonitor = true;
    await this.#publishing?.catch(() => {});
    await this.#monitoring?.catch(() => {});
    for (const p of this.#all) {
      if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill("SIGCONT");
      await p[Symbol.asyncDispose]();
    }
    for (const via of this.#links.values()) for (const p of via) await p[Symbol.asyncDispose]();
    this.db.close();
    await this.nc.close().catch(() => {});
    await this.sqld[Symbol.asyncDispose]();
    await this.nats[Symbol.asyncDispose]();
  }
}
