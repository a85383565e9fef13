/**
 * @module
 * Makes `docs/dashboard.png`, the README's picture of the dashboard: a real nats-server, the demo's
 * sample traffic and the binary (2 sources × 2 count subtasks over 4 splits), run for
 * `SHOT_SECONDS` (default 60) so that the rate history has something to show, then one 1280×900
 * screenshot in headless Chromium (`/usr/bin/chromium`, or `PVFLOW_CHROMIUM`).
 *
 * Run: `node_modules/.bin/bun scripts/screenshot.ts` (stops everything it started when done)
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { ensureBinary } from "../tests/support/binary.ts";
import { NatsServer } from "../tests/support/nats_server.ts";
import { PvflowProcess } from "../tests/support/pvflow_process.ts";

const ROOT = resolve(import.meta.dir, "..");
const OUT = join(ROOT, "docs/dashboard.png");
const seconds = Number(process.env.SHOT_SECONDS || 60);
const dir = await mkdtemp(join(tmpdir(), "pvflow-screenshot-"));
const log = (line: string) => console.error(`screenshot: ${line}`);

await using nats = await NatsServer.start();
const traffic = Bun.spawn([process.execPath, "scripts/sample_traffic.ts"], {
  cwd: ROOT, env: { ...process.env, NATS_URL: nats.url, SAMPLE_RATE: process.env.SAMPLE_RATE || "2000" }, stdout: "ignore", stderr: "ignore",
});
try {
  await Bun.sleep(1000); // the traffic creates the stream
  await using pv = await PvflowProcess.start({
    binary: await ensureBinary(),
    env: {
      NATS_URL: nats.url, PVFLOW_SUBJECTS: "pv.0,pv.1,pv.2,pv.3", PVFLOW_PARALLELISM: "2", PVFLOW_SOURCE_PARALLELISM: "2",
      PVFLOW_DB_URL: `file:${join(dir, "pv.db")}`,
    },
  });
  await pv.waitReady();
  log(`pvflow at ${pv.url}/, collecting ${seconds} s of history`);
  await Bun.sleep(seconds * 1000);
  const browser = await chromium.launch({
    executablePath: process.env.PVFLOW_CHROMIUM ?? "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, colorScheme: "light" });
    await page.goto(`${pv.url}/`);
    await page.waitForFunction(() => Number(document.querySelector<HTMLElement>('[data-testid="refreshed"]')?.dataset.seq) >= 2);
    await page.screenshot({ path: OUT });
    log(`wrote ${OUT}`);
  } finally {
    await browser.close();
  }
} finally {
  traffic.kill("SIGTERM");
  await traffic.exited;
  await rm(dir, { recursive: true, force: true });
}
