/**
 * @module
 * A cluster under a live publisher for the failover and rebalance benchmarks: a fresh sqld, an
 * R3 stream of {@link SPLIT_COUNT} splits fed at a steady rate, pvflow instances in cluster mode
 * (default lease TTL and checkpoint interval), and a sampler of every split's committed position
 * and epoch in the shared database. `drain()` checks the run was exact: after the publisher
 * stops, the committed counts add up to what was published.
 */
import { PvflowProcess } from "../tests/support/pvflow_process.ts";
import { Sqld } from "../tests/support/sqld.ts";
import { Committed, createStream, instanceEnv, PositionSamples, SPLIT_COUNT, startPublisher, until, type Publisher, type SplitRow } from "./cluster_parts.ts";
import { splits } from "./prefill.ts";

/** One instance's `/status` cluster section (the parts the benchmarks read). */
export interface ClusterView {
  owned: { split: string; epoch: number }[];
  leases: { split: string; owner: string; epoch: number }[];
}

/** See the module doc; `await using` stops everything. */
export class LiveCluster implements AsyncDisposable {
  readonly subjects = splits("live", SPLIT_COUNT);
  readonly instances = new Map<string, PvflowProcess>();
  readonly samples = new PositionSamples();
  #sampling: Promise<void> | undefined;
  #stop = false;

  private constructor(
    private readonly binary: string,
    private readonly natsUrls: string,
    private readonly name: string,
    readonly sqld: Sqld,
    readonly committed: Committed,
    readonly publisher: Publisher,
  ) {}

  /** Fresh sqld and stream `LIVE`, the publisher at `rate` events/s, the sampler running. */
  static async start(binary: string, natsUrls: string, name: string, rate: number): Promise<LiveCluster> {
    const sqld = await Sqld.start();
    await createStream(natsUrls, "LIVE", "live");
    const c = new LiveCluster(binary, natsUrls, name, sqld, new Committed(sqld.url, "LIVE"), await startPublisher(natsUrls, splits("live", SPLIT_COUNT), rate));
    c.#sampling = (async () => {
      while (!c.#stop) {
        c.samples.add(performance.now(), await c.committed.positions());
        await Bun.sleep(20);
      }
    })();
    return c;
  }

  /** Starts instance `id` (resolves once its status server listens, not once ready). */
  async spawn(id: string): Promise<PvflowProcess> {
    const p = await PvflowProcess.start({
      binary: this.binary,
      env: instanceEnv({ natsUrls: this.natsUrls, dbUrl: this.sqld.url, subjects: this.subjects, cluster: this.name, id, stream: "LIVE" }),
    });
    this.instances.set(id, p);
    return p;
  }

  /** Instance `id`'s view of the cluster. */
  async view(id: string): Promise<ClusterView> {
    return (await this.instances.get(id)!.json("/status")).body.cluster;
  }

  /** The latest sample of the committed positions. */
  latest(): Map<string, SplitRow> {
    return this.samples.samples.at(-1)?.rows ?? new Map();
  }

  /**
   * Waits until the members `ids` each own their equal share, and every split has been committed
   * under its current owner's epoch twice (steady state: past the claim and the first commit).
   */
  async steady(ids: string[], timeoutMs = 60_000): Promise<void> {
    const share = this.subjects.length / ids.length;
    await until(async () => {
      const views = await Promise.all(ids.map((id) => this.view(id).catch(() => undefined)));
      return views.every((v) => v?.owned.length === share);
    }, timeoutMs, `${ids.join(", ")} owning ${share} splits each`, 100);
    const views = await Promise.all(ids.map((id) => this.view(id)));
    const epochs = new Map(views.flatMap((v) => v.owned.map((o) => [o.split, o.epoch] as const)));
    const first = new Map<string, number>();
    await until(() => this.subjects.every((s) => {
      const row = this.latest().get(s);
      if (row?.epoch !== epochs.get(s)) return false;
      if (!first.has(s)) first.set(s, row!.seq);
      return row!.seq > first.get(s)!;
    }), timeoutMs, "every split committed under its owner's epoch");
  }

  /** The time of the first sample where `split` carries an epoch above `epoch` and a position past `seq`. */
  async committedAgain(split: string, epoch: number, seq: number, timeoutMs = 60_000): Promise<number> {
    let at = 0;
    let i = 0;
    await until(() => {
      for (const all = this.samples.samples; at === 0 && i < all.length; i++) {
        const row = all[i].rows.get(split);
        if (row && (row.epoch ?? 0) > epoch && row.seq > seq) at = all[i].at;
      }
      return at > 0;
    }, timeoutMs, `${split} committed again under a newer lease`, 5);
    return at;
  }

  /** Stops the publisher and waits until the committed counts add up to every published event. */
  async drain(timeoutMs = 120_000): Promise<void> {
    await this.publisher.stop();
    const want = this.publisher.published;
    let got = 0;
    await until(async () => (got = await this.committed.total()) >= want, timeoutMs, `${want} events committed`, 100).catch((e) => {
      throw new Error(`${(e as Error).message} (committed ${got})`);
    });
    await Bun.sleep(500); // a double count would show as more
    got = await this.committed.total();
    if (got !== want) throw new Error(`committed ${got} events, published ${want}: not exact`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#stop = true;
    await this.publisher.stop().catch(() => {});
    for (const p of this.instances.values()) await p.kill("SIGTERM").catch(() => {});
    await this.#sampling?.catch(() => {});
    this.committed.close();
    await this.sqld[Symbol.asyncDispose]();
  }
}
