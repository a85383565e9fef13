/**
 * End-to-end: the dashboard at `GET /` of the compiled binary, in a real headless Chromium (Debian's
 * `chromium` driven by playwright-core), against a real nats-server. The numbers the page shows
 * match `/status` and `/counts` — live while events arrive (the page's value lies between two
 * `/status` reads around one of its refreshes), exactly once the stream is idle; its rates are the
 * server's (`/status/history`, kept across a reload); its per-count-subtask numbers are `/status`'s
 * and add up to the totals; without cluster mode there is no Cluster card — and the page sends no
 * request to any other host. A screenshot is kept in the test's temp dir.
 *
 * Without Chromium (`/usr/bin/chromium`, or `PVFLOW_CHROMIUM`) the test is skipped, with a warning:
 * `PVFLOW_WITH_BROWSER=1 bash scripts/ensure_deps.sh` installs it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Page } from "playwright-core";
import { ensureBinary } from "./support/binary.ts";
import { openStream, publishRange, SPLITS } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { PvflowProcess, waitFor } from "./support/pvflow_process.ts";

const CHROMIUM = process.env.PVFLOW_CHROMIUM ?? "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) {
  console.warn(`dashboard_test: SKIPPED, no Chromium at ${CHROMIUM}; install it with ` +
    "`PVFLOW_WITH_BROWSER=1 bash scripts/ensure_deps.sh` (or `apt-get install -y chromium`)");
}
const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
  "--no-first-run", "--disable-quic", "--disable-sync",
];
const TOP = 10;

let dir: string;
let binary: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "pvflow-dashboard-"));
  if (HAVE_CHROMIUM) binary = await ensureBinary();
});
afterAll(async () => {
  // Everything goes but the screenshot, whose path the test printed.
  for (const f of await readdir(dir)) if (!f.endsWith(".png")) await rm(join(dir, f), { recursive: true, force: true });
});

/** What the page shows, read in one go (one refresh renders everything synchronously). */
interface Shown {
  seq: number;
  state: string;
  recordsIn: number;
  recordsInText: string;
  restarts: number;
  deadLettered: number;
  latestCheckpoint: number;
  topKeys: [string, number][];
  lags: Record<string, number>;
  graph: { splits: number; sources: number; counts: number };
  checkpoints: { id: number; status: string }[];
  committed: number;
  /** The read rate shown and the server sample time it is for. */
  rate: { value: number; t: number };
  subtasks: { subtask: number; counted: number; keys: number; rate: number }[];
  throughput: { points: number; firstT: number; lastT: number };
}

function shown(page: Page): Promise<Shown> {
  return page.evaluate(() => {
    const q = (id: string) => document.querySelector<HTMLElement>(`[data-testid="${id}"]`)!;
    const all = (id: string) => Array.from(document.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`));
    const num = (id: string) => Number(q(id).dataset.value);
    return {
      seq: Number(q("refreshed").dataset.seq),
      state: q("state").dataset.value ?? "",
      recordsIn: num("records-in"),
      recordsInText: q("records-in").textContent ?? "",
      restarts: num("restarts"),
      deadLettered: num("dead-lettered"),
      latestCheckpoint: num("latest-checkpoint"),
      topKeys: all("top-key-row").map((r) => [r.dataset.key!, Number(r.dataset.count)] as [string, number]),
      lags: Object.fromEntries(all("lag-row").map((r) => [r.dataset.split!, Number(r.dataset.lag)])),
      graph: { splits: all("graph-split").length, sources: all("graph-source").length, counts: all("graph-count").length },
      checkpoints: all("checkpoint").map((c) => ({ id: Number(c.dataset.id), status: c.dataset.status! })),
      committed: num("records-committed"),
      rate: { value: num("records-per-second"), t: Number(q("records-per-second").dataset.t) },
      subtasks: all("subtask-row").map((r) => ({
        subtask: Number(r.dataset.subtask), counted: Number(r.dataset.counted), keys: Number(r.dataset.keys), rate: Number(r.dataset.rate),
      })),
      throughput: {
        points: Number(q("throughput").dataset.points), firstT: Number(q("throughput").dataset.firstT), lastT: Number(q("throughput").dataset.lastT),
      },
    };
  });
}

/** Waits until the page has completed a refresh that started after this call. */
async function nextRefresh(page: Page): Promise<void> {
  const seq = (await shown(page)).seq;
  // Refresh seq+1 may already be in flight; seq+2 starts after this call.
  await page.waitForFunction((s) => Number(document.querySelector<HTMLElement>('[data-testid="refreshed"]')!.dataset.seq) >= s,
    seq + 2, { timeout: 10_000 });
}

/** `/status` read just before and just after one fresh refresh of the page, and what the page showed. */
async function bracket(page: Page, pv: PvflowProcess): Promise<{ before: any; page: Shown; after: any }> {
  const before = (await pv.json("/status")).body;
  await nextRefresh(page);
  const s = await shown(page);
  const after = (await pv.json("/status")).body;
  return { before, page: s, after };
}

/** Saves a full-page screenshot in the test's temp dir and prints its path. */
async function screenshot(page: Page, name: string): Promise<void> {
  const path = join(dir, name);
  await page.screenshot({ path, fullPage: true });
  console.log(`dashboard screenshot: ${path}`);
}

/** Each split's last stream sequence, read straight from JetStream. */
async function lastSequences(nc: NatsConnection): Promise<Record<string, number>> {
  const jsm = await jetstreamManager(nc);
  const out: Record<string, number> = {};
  for (const s of SPLITS) out[s] = (await jsm.streams.getMessage("PV", { last_by_subj: s }))?.seq ?? 0;
  return out;
}

/** Waits until every split's committed position is its last sequence and nothing lags. */
async function waitIdleAndCommitted(pv: PvflowProcess, nc: NatsConnection): Promise<void> {
  const last = await lastSequences(nc);
  await waitFor(async () => {
    const s = (await pv.json("/status")).body;
    return s.splits.every((x: any) => x.committedPosition === last[x.split] && x.deliveredSequence === last[x.split] && x.lag === 0);
  }, 30_000, () => `not idle and committed at ${JSON.stringify(last)}:\n${pv.log}`);
  // Subtask counters arrive every 500 ms, after the positions: idle once records.in stops moving.
  let previous = -1;
  await waitFor(async () => {
    const now = (await pv.json("/status")).body.records.in;
    const stable = now === previous;
    previous = now;
    if (!stable) await Bun.sleep(600);
    return stable;
  }, 30_000, () => `records.in still moving:\n${pv.log}`);
}

test.skipIf(!HAVE_CHROMIUM)("dashboard - Chromium shows the live job, and its numbers match /status and /counts", async () => {
  await using nats = await NatsServer.start();
  const { nc, js } = await openStream(nats.url);
  const expected = new Map<string, number>();
  await publishRange(js, 0, 6_000, expected);
  for (const bad of ["{not json", '"a string"', '{"user":"u1"}']) await js.publish(SPLITS[0], bad);
  await using pv = await PvflowProcess.start({
    binary,
    env: {
      NATS_URL: nats.url,
      PVFLOW_SUBJECTS: SPLITS.join(","),
      PVFLOW_PARALLELISM: "2",
      PVFLOW_SOURCE_PARALLELISM: "2",
      PVFLOW_CHECKPOINT_INTERVAL_MS: "250",
      PVFLOW_DB_URL: `file:${join(dir, "pv.db")}`,
      // One injected crash, so that the restarts shown are not a trivial 0.
      PVFLOW_FAULT_COUNT_THROW_AT: "1500",
      PVFLOW_RESTART_BACKOFF_MS: "100",
    },
  });
  await pv.waitReady();
  await waitIdleAndCommitted(pv, nc);

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    const requests: string[] = [];
    const pageErrors: string[] = [];
    page.on("request", (r) => requests.push(r.url()));
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.on("console", (m) => m.type() === "error" && pageErrors.push(m.text()));
    const res = await page.goto(pv.url + "/");
    expect(res?.status()).toBe(200);
    expect(await page.title()).toBe("pvflow");
    await page.waitForFunction(() => document.querySelector<HTMLElement>('[data-testid="state"]')?.dataset.value === "RUNNING",
      undefined, { timeout: 15_000 });

    // Live: while events arrive, what the page shows lies between /status read before and after its refresh.
    let from = 6_000;
    const publishing = (async () => {
      for (let b = 0; b < 24; b++, from += 500) {
        await publishRange(js, from, from + 500, expected);
        await Bun.sleep(250);
      }
    })();
    const seen: number[] = [];
    const rates: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { before, page: s, after } = await bracket(page, pv);
      expect(s.state).toBe("RUNNING");
      expect(s.recordsIn).toBeGreaterThanOrEqual(before.records.in);
      expect(s.recordsIn).toBeLessThanOrEqual(after.records.in);
      expect(s.recordsInText).toBe(s.recordsIn.toLocaleString("en-US"));
      // Reported with every barrier: what is committed is never ahead of what was read and counted.
      expect(after.records.in).toBeGreaterThanOrEqual(after.records.committed);
      expect(after.records.counted).toBeGreaterThanOrEqual(after.records.committed);
      expect(s.latestCheckpoint).toBeGreaterThanOrEqual(before.checkpoints.latestCompleted.id);
      expect(s.latestCheckpoint).toBeLessThanOrEqual(after.checkpoints.latestCompleted.id);
      expect(s.restarts).toBe(after.restarts);
      // Rates are the server's: the page's read rate and per-subtask rates are those of the history
      // point it was drawn from (the history keeps every point for 5 minutes).
      const history = (await pv.json("/status/history")).body;
      const point = history.points.find((p: any) => p.t === s.rate.t);
      expect(point).toBeDefined();
      expect(s.rate.value).toBe(point.recordsIn);
      expect(s.subtasks.map((x) => x.rate)).toEqual(point.subtasks);
      expect(s.throughput.lastT).toBe(s.rate.t);
      expect(s.throughput.firstT).toBe(history.points[0].t);
      rates.push(point.recordsIn);
      seen.push(s.recordsIn);
      if (i === 1) await screenshot(page, "dashboard-live.png");
    }
    await publishing;
    expect(seen[2]).toBeGreaterThan(seen[0]); // the page moved with the stream
    expect(Math.max(...rates)).toBeGreaterThan(0); // ~2,000 events/s were arriving

    // Idle: the page equals /status and /counts exactly.
    await waitIdleAndCommitted(pv, nc);
    const { before, page: s, after } = await bracket(page, pv);
    expect(after.records.in).toBe(before.records.in);
    expect(s.state).toBe("RUNNING");
    expect(s.recordsIn).toBe(after.records.in);
    expect(s.restarts).toBe(after.restarts);
    expect(s.restarts).toBe(1);
    expect(s.deadLettered).toBe(after.records.deadLettered);
    expect(s.deadLettered).toBeGreaterThanOrEqual(3); // a replay after the restart may count one again
    expect(s.lags).toEqual(Object.fromEntries(SPLITS.map((x) => [x, 0])));
    expect(s.graph).toEqual({ splits: 4, sources: 2, counts: 2 });
    expect(s.checkpoints.length).toBeGreaterThan(0);
    expect(s.checkpoints.map((c) => c.id)).toContain(s.latestCheckpoint);
    const counts = (await pv.json(`/counts?top=${TOP}`)).body.counts as Record<string, number>;
    expect(s.topKeys).toHaveLength(TOP);
    expect(Object.fromEntries(s.topKeys)).toEqual(counts);
    for (let i = 1; i < s.topKeys.length; i++) expect(s.topKeys[i][1]).toBeLessThanOrEqual(s.topKeys[i - 1][1]);
    for (const [key, count] of s.topKeys) expect(count).toBe(expected.get(key)!);
    // Committed: the sum of the committed counts, i.e. every valid event published, once.
    expect(s.committed).toBe(after.records.committed);
    expect(s.committed).toBe([...expected.values()].reduce((a, b) => a + b, 0));
    // Per count subtask: the server's numbers; they add up to the totals.
    expect(s.subtasks.map(({ rate: _, ...x }) => x)).toEqual(after.countSubtasks);
    expect(s.subtasks.map((x) => x.subtask)).toEqual([0, 1]);
    expect(s.subtasks.reduce((a, x) => a + x.counted, 0)).toBe(after.records.counted);
    expect(s.subtasks.reduce((a, x) => a + x.keys, 0)).toBe(after.keys);
    expect(s.subtasks.every((x) => x.keys > 0)).toBe(true);
    // Without PVFLOW_CLUSTER: no cluster section, no Cluster card (dashboard_cluster_test.ts has the other case).
    expect(after.cluster).toBeUndefined();
    expect(await page.locator('[data-testid="cluster-card"]').isHidden()).toBe(true);

    // A reload keeps the history: it is the server's, not the page's.
    const pointsBefore = (await pv.json("/status/history")).body.points;
    const reloadedAt = Date.now();
    await page.reload();
    await page.waitForFunction(() => Number(document.querySelector<HTMLElement>('[data-testid="refreshed"]')?.dataset.seq) >= 1,
      undefined, { timeout: 10_000 });
    const r = await shown(page);
    expect(r.throughput.firstT).toBe(pointsBefore[0].t);
    expect(r.throughput.firstT).toBeLessThan(reloadedAt - 5_000); // the live phase alone took longer
    expect(r.throughput.points).toBeGreaterThanOrEqual(pointsBefore.length);

    // Self-contained: every request went to the status server, and the page threw nothing.
    const hosts = new Set(requests.filter((u) => !u.startsWith("data:")).map((u) => new URL(u).host));
    expect([...hosts]).toEqual([new URL(pv.url).host]);
    const paths = new Set(requests.map((u) => new URL(u).pathname + new URL(u).search));
    for (const p of ["/", "/status", "/status/history", "/checkpoints", `/counts?top=${TOP}`]) expect(paths).toContain(p);
    expect(pageErrors).toEqual([]);

    await screenshot(page, "dashboard.png");
  } finally {
    await browser.close();
  }
  await nc.close();
}, 120_000);
