/**
 * End-to-end: `scripts/demo.sh` (what `npm run demo` runs), in a temp `DEMO_DIR`, on real
 * nats-server, sample traffic and the binary. Stopped by a SIGTERM to its own pid (what an IDE or a
 * process manager does), it prints the legend, the dashboard URL and a closing line where
 * published = committed, and leaves none of its processes running. Killed with SIGKILL (no cleanup
 * possible), its watchdog stops them.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { waitFor } from "./support/pvflow_process.ts";

const ROOT = resolve(import.meta.dir, "..");
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pvflow-demo-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A free TCP port on 127.0.0.1. */
function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** Start time of process `pid` (from /proc), or undefined when it is gone or a zombie. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[0] === "Z" ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

/** Processes whose command line mentions `text`. */
async function processesMentioning(text: string): Promise<number[]> {
  const out: number[] = [];
  for (const e of await readdir("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, "utf8").includes(text)) out.push(Number(e));
    } catch { /* gone meanwhile */ }
  }
  return out;
}

interface Demo {
  proc: ReturnType<typeof Bun.spawn>;
  output: () => string;
  port: number;
}

/** Starts the demo and waits until its live view printed two lines with a committed count. */
async function startDemo(): Promise<Demo> {
  const port = freePort();
  const proc = Bun.spawn(["bash", "scripts/demo.sh"], {
    cwd: ROOT,
    env: {
      ...process.env, DEMO_DIR: dir, DEMO_NATS_PORT: "-1", PVFLOW_HTTP_PORT: String(port),
      SAMPLE_RATE: "1000", DEMO_INTERVAL_MS: "500", PVFLOW_PARALLELISM: "2",
    },
    stdout: "pipe", stderr: "pipe",
  });
  let text = "";
  for (const stream of [proc.stdout, proc.stderr] as ReadableStream<Uint8Array>[]) {
    (async () => {
      const dec = new TextDecoder();
      const reader = stream.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += dec.decode(value, { stream: true });
      }
    })();
  }
  const output = () => text;
  await waitFor(() => {
    if (proc.exitCode !== null) throw new Error(`demo exited with ${proc.exitCode}:\n${text}`);
    const rows = text.split("\n").filter((l) => /^\s*\d+s\s+RUNNING\s+\d+\s+\d+\s+[1-9]\d*\s/.test(l));
    return rows.length >= 2;
  }, 90_000, () => `no live view with committed counts:\n${text}`);
  return { proc, output, port };
}

/** The demo's children as it recorded them: name, pid, start time. */
function recordedChildren(): { name: string; pid: number; start: string }[] {
  return readFileSync(join(dir, "pids"), "utf8").trim().split("\n").map((l) => {
    const [name, pid, start] = l.split(" ");
    return { name, pid: Number(pid), start };
  });
}

test("demo - SIGTERM to its pid: legend, dashboard URL, published = committed, nothing left running", async () => {
  const demo = await startDemo();
  const children = recordedChildren();
  expect(children.map((c) => c.name).sort()).toEqual(["demo_watch", "nats-server", "pvflow", "sample_traffic"]);
  for (const c of children) expect(startTime(c.pid)).toBe(c.start);
  const reaper = await processesMentioning(join(dir, "pids"));
  expect(reaper.length).toBe(1); // the watchdog

  demo.proc.kill("SIGTERM");
  const code = await demo.proc.exited;
  const out = demo.output();
  expect(code).toBe(0);

  expect(out).toContain(`demo: dashboard http://127.0.0.1:${demo.port}/ `);
  expect(out).toContain("legend:");
  expect(out).toMatch(/^\s+committed\s+events in the latest completed checkpoint/m);
  const m = /demo: published (\d+), committed (\d+) \((\d+) counted \+ (\d+) dead-lettered\): exact$/m.exec(out);
  expect(m, out).not.toBeNull();
  const [published, committed, counted, dead] = m!.slice(1).map(Number);
  expect(published).toBeGreaterThan(0);
  expect(committed).toBe(published);
  expect(counted + dead).toBe(published);
  expect(out).toContain("demo: stopped pvflow (exit 0)");

  for (const c of [...children, ...reaper.map((pid) => ({ name: "reaper", pid, start: "" }))]) {
    expect(startTime(c.pid) === undefined || (c.start !== "" && startTime(c.pid) !== c.start), `${c.name} ${c.pid} still runs`).toBe(true);
  }
  expect(existsSync(join(dir, "pids"))).toBe(false);
}, 180_000);

test("demo - SIGKILL to its pid: the watchdog stops nats-server, the traffic, pvflow and the live view", async () => {
  const demo = await startDemo();
  const children = recordedChildren();
  expect(children).toHaveLength(4);
  demo.proc.kill("SIGKILL");
  await demo.proc.exited;
  await waitFor(() => children.every((c) => startTime(c.pid) !== c.start), 45_000,
    () => `still running: ${children.filter((c) => startTime(c.pid) === c.start).map((c) => `${c.name} ${c.pid}`).join(", ")}\n` +
      (existsSync(join(dir, "reaper.log")) ? readFileSync(join(dir, "reaper.log"), "utf8") : ""));
  await waitFor(async () => (await processesMentioning(join(dir, "pids"))).length === 0, 10_000, () => "the watchdog still runs");
  const log = readFileSync(join(dir, "reaper.log"), "utf8");
  expect(log).toContain("the demo is gone: stopping pvflow");
  // pvflow got SIGTERM, not SIGKILL: it took its final checkpoint.
  expect(readFileSync(join(dir, "pvflow.log"), "utf8")).toMatch(/SIGTERM: stopping/);
}, 180_000);
