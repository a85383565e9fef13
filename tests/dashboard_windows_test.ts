/**
 * End-to-end: with windows on, the dashboard's "PV per window" table (headless Chromium, as in
 * `dashboard_test.ts`) shows, for the top keys, the last revision of each committed window that
 * `GET /windows` answers. Skipped without Chromium, like `dashboard_test.ts`.
 */
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { ensureBinary } from "./support/binary.ts";
import { openStream, SPLITS } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { pipelineEnv, PvflowProcess, waitFor } from "./support/pvflow_process.ts";

const CHROMIUM = process.env.PVFLOW_CHROMIUM ?? "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run", "--disable-quic", "--disable-sync"];
const T0 = 1_700_000_100_000;

test.skipIf(!HAVE_CHROMIUM)("dashboard - windows: PV per window of the top keys equals GET /windows", async () => {
  const binary = await ensureBinary();
  const dir = await mkdtemp(join(tmpdir(), "pvflow-dashboard-windows-"));
  await using nats = await NatsServer.start();
  const { nc, js } = await openStream(nats.url);
  try {
    // 12 windows of 1 s, keys k0..k5 with different weights, on every split; then later events close them.
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 2400; i++) {
      const key = `k${[0, 0, 0, 1, 1, 2, 3, 4, 5, 0][i % 10]}`;
      pending.push(js.publish(SPLITS[i % 4], JSON.stringify({ site: key, ts: T0 + Math.floor(i * 5) })));
    }
    // the watermark goes to T0 + 13.4 s: the dashboard shows the windows just behind it
    for (const s of SPLITS) pending.push(js.publish(s, JSON.stringify({ site: "k9", ts: T0 + 13_500 })));
    await Promise.all(pending);
    const env = pipelineEnv(nats.url, join(dir, "pv.db"), { PVFLOW_WINDOW_MS: "1000", PVFLOW_OUT_OF_ORDERNESS_MS: "100" });
    await using pv = await PvflowProcess.start({ binary, env });
    await waitFor(async () => (await pv.json(`/windows?start=${T0 + 11_000}`)).body.windows?.length > 0, 30_000, () => pv.log);
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1440, height: 1200 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(pv.url + "/");
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="window-row"] td[data-count]:not([data-count=""])').length >= 8 * 5,
        undefined, { timeout: 15_000 });
      const cells = await page.evaluate(() => Array.from(document.querySelectorAll<HTMLElement>('[data-testid="window-row"]')).flatMap((r) =>
        Array.from(r.querySelectorAll<HTMLElement>("td[data-start]")).map((td) => [r.dataset.key!, Number(td.dataset.start), td.dataset.count!] as const)));
      const keys = [...new Set(cells.map((c) => c[0]))];
      expect(keys.slice(0, 3)).toEqual(["k0", "k1", "k2"].slice(0, 3)); // top keys first (k0 40%, k1 20%)
      for (const key of keys) {
        const answer = (await pv.json(`/windows?key=${key}&from=${T0}&to=${T0 + 12_000}`)).body.windows as { windowStart: number; count: number }[];
        const last = new Map<number, number>();
        for (const w of answer) last.set(w.windowStart, w.count);
        for (const [k, start, count] of cells) if (k === key) expect(`${key}@${start}: ${count}`).toBe(`${key}@${start}: ${last.get(start) ?? ""}`);
      }
      expect(cells.filter((c) => c[0] === "k0").map((c) => Number(c[2]))).toEqual(Array(8).fill(80)); // 200 events/s, 40% k0
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
    expect(await pv.kill("SIGTERM")).toBe(0);
  } finally {
    await nc.close();
    await rm(dir, { recursive: true, force: true });
  }
}, 120_000);
