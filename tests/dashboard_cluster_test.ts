/**
 * End-to-end: in cluster mode the dashboard (headless Chromium, as in `dashboard_test.ts`) shows
 * the Cluster card — members, the splits each owns, every split's lease (owner, epoch, age) and
 * the rebalances — equal to `/status`'s `cluster` section; after kill -9 of the other instance, it
 * shows the survivor owning every split. Two instances on a 3-node JetStream cluster and sqld.
 * Skipped without Chromium, like `dashboard_test.ts`.
 */
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { chromium, type Page } from "playwright-core";
import { publishRange, SPLITS } from "./support/events.ts";
import { NatsCluster } from "./support/nats_cluster.ts";
import { PvflowProcess, waitFor } from "./support/pvflow_process.ts";
import { Sqld } from "./support/sqld.ts";
import { withTempDirAndBinary } from "./support/suite.ts";

const CHROMIUM = process.env.PVFLOW_CHROMIUM ?? "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run", "--disable-quic", "--disable-sync"];
const TTL_MS = 3000;

let binary = "";
withTempDirAndBinary("pvflow-dashboard-cluster-", (_d, b) => { binary = b; });

function instanceEnv(natsUrls: string, dbUrl: string, id: string): Record<string, string> {
  return {
    NATS_URL: natsUrls, PVFLOW_SUBJECTS: SPLITS.join(","), PVFLOW_PARALLELISM: "1", PVFLOW_CHECKPOINT_INTERVAL_MS: "250",
    PVFLOW_DB_URL: dbUrl, PVFLOW_CLUSTER: "dash", PVFLOW_INSTANCE_ID: id, PVFLOW_LEASE_TTL_MS: String(TTL_MS),
    PVFLOW_RESTART_BACKOFF_MS: "100",
  };
}

/** What the Cluster card shows, read in one go (one refresh renders it synchronously). */
interface ShownCluster {
  seq: number;
  hidden: boolean;
  instance: string;
  rebalances: number;
  members: { id: string; self: boolean; splits: string[]; heartbeatAgeMs: number }[];
  leases: { split: string; owner: string; epoch: number | null; ageMs: number | null }[];
}

function shownCluster(page: Page): Promise<ShownCluster> {
  return page.evaluate(() => {
    const q = (id: string) => document.querySelector<HTMLElement>(`[data-testid="${id}"]`)!;
    const all = (id: string) => Array.from(document.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`));
    const orNull = (v: string | undefined) => (v === undefined || v === "" ? null : Number(v));
    return {
      seq: Number(q("refreshed").dataset.seq),
      hidden: q("cluster-card").hidden,
      instance: q("cluster-summary").dataset.instance ?? "",
      rebalances: Number(q("cluster-summary").dataset.value),
      members: all("cluster-member").map((r) => ({
        id: r.dataset.member!, self: r.dataset.self === "true", splits: r.dataset.splits ? r.dataset.splits.split(",") : [],
        heartbeatAgeMs: Number(r.dataset.heartbeatAgeMs),
      })),
      leases: all("cluster-lease").map((r) => ({
        split: r.dataset.split!, owner: r.dataset.owner!, epoch: orNull(r.dataset.epoch), ageMs: orNull(r.dataset.ageMs),
      })),
    };
  });
}

/** Waits for a refresh that started after this call, and returns what it showed. */
async function fresh(page: Page): Promise<ShownCluster> {
  const seq = (await shownCluster(page)).seq;
  await page.waitForFunction((s) => Number(document.querySelector<HTMLElement>('[data-testid="refreshed"]')!.dataset.seq) >= s,
    seq + 2, { timeout: 10_000 });
  return shownCluster(page);
}

/** The page's card against a `/status` cluster section (ages move between reads: only bounded). */
function expectSame(shown: ShownCluster, cluster: any): void {
  expect(shown.hidden).toBe(false);
  expect(shown.instance).toBe(cluster.instance);
  expect(shown.rebalances).toBe(cluster.rebalances);
  expect(shown.members.map(({ heartbeatAgeMs: _, ...m }) => m)).toEqual(
    cluster.members.map((m: any) => ({ id: m.id, self: m.self, splits: m.splits })));
  for (const m of shown.members) expect(m.heartbeatAgeMs).toBeLessThan(TTL_MS);
  const leases = new Map(cluster.leases.map((l: any) => [l.split, l]));
  expect(shown.leases.map((l) => l.split)).toEqual(SPLITS);
  for (const l of shown.leases) {
    const want: any = leases.get(l.split);
    expect({ split: l.split, owner: l.owner, epoch: l.epoch }).toEqual({ split: l.split, owner: want.owner, epoch: want.epoch });
    expect(l.ageMs).toBeLessThan(TTL_MS);
  }
}

test.skipIf(!HAVE_CHROMIUM)("dashboard - cluster mode: the Cluster card equals /status's cluster section, before and after a kill -9", async () => {
  await using cluster = await NatsCluster.start();
  await using sqld = await Sqld.start();
  const nc = await connect({ servers: cluster.urls.split(",") });
  try {
    await (await jetstreamManager(nc)).streams.add({ name: "PV", subjects: ["pv.>"], num_replicas: 3 });
    await publishRange(jetstream(nc), 0, 2000, new Map());
    await using a = await PvflowProcess.start({ binary, env: instanceEnv(cluster.urls, sqld.url, "a") });
    await using b = await PvflowProcess.start({ binary, env: instanceEnv(cluster.urls, sqld.url, "b") });
    const status = async (p: PvflowProcess) => (await p.json("/status")).body.cluster;
    // Steady: a's view (taken at the start of its latest round) has every lease, held by live
    // members, and agrees with what each instance owns now (splits and epochs).
    const agrees = (view: any, owner: any) =>
      JSON.stringify(view.leases.filter((l: any) => l.owner === owner.instance).map((l: any) => ({ split: l.split, epoch: l.epoch }))) ===
        JSON.stringify(owner.owned);
    const steady = async (...others: PvflowProcess[]) => {
      const c = await status(a); // undefined until the instance has joined
      if (c === undefined || c.members.length !== others.length + 1 || c.leases.length !== SPLITS.length) return false;
      if (!c.leases.every((l: any) => c.members.some((m: any) => m.id === l.owner)) || !agrees(c, c)) return false;
      for (const o of others) {
        const v = await status(o);
        if (v === undefined || !agrees(c, v)) return false;
      }
      return c.owned.length === SPLITS.length / (others.length + 1);
    };
    await waitFor(() => steady(b), 30_000, () => a.log + b.log);

    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1440, height: 1200 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(a.url + "/");
      await page.waitForFunction(() => !document.querySelector<HTMLElement>('[data-testid="cluster-card"]')!.hidden, undefined, { timeout: 15_000 });

      // Nothing moves now: the card equals /status read just before and just after one refresh.
      const before = await status(a);
      const shown = await fresh(page);
      const after = await status(a);
      expect(after.leases.map((l: any) => [l.split, l.owner, l.epoch])).toEqual(before.leases.map((l: any) => [l.split, l.owner, l.epoch]));
      expectSame(shown, after);
      expect(shown.members.map((m) => [m.id, m.self, m.splits.length])).toEqual([["a", true, 2], ["b", false, 2]]);

      // kill -9 of b: once its leases expire, a owns all four, one member left, one more rebalance.
      await b.kill("SIGKILL");
      await waitFor(() => steady(), 30_000, () => a.log);
      const before2 = await status(a);
      const shown2 = await fresh(page);
      expectSame(shown2, await status(a));
      expect(shown2.members.map((m) => [m.id, m.splits.length])).toEqual([["a", 4]]);
      expect(shown2.leases.every((l) => l.owner === "a")).toBe(true);
      expect(shown2.rebalances).toBe(before2.rebalances);
      expect(shown2.rebalances).toBeGreaterThan(shown.rebalances);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  } finally {
    await nc.close();
  }
}, 120_000);
