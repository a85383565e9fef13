/**
 * The single binary alone: copied into an empty folder (no node_modules beside it), it starts,
 * creates its libSQL file, serves /healthz, and exits cleanly on SIGTERM. Bad configuration stops
 * it with exit code 2 and one line.
 */
import { expect, test } from "bun:test";
import { copyFile, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JSC_OPTIONS } from "../src/jsc_tuning.ts";
import { ensureBinary } from "./support/binary.ts";
import { allCounts } from "./support/counts.ts";
import { openStream, publishRange } from "./support/events.ts";
import { NatsServer } from "./support/nats_server.ts";
import { PvflowProcess, waitFor } from "./support/pvflow_process.ts";

async function emptyFolderWithBinary(): Promise<{ dir: string; binary: string } & AsyncDisposable> {
  const dir = await mkdtemp(join(tmpdir(), "pvflow-alone-"));
  const binary = join(dir, "pvflow");
  await copyFile(await ensureBinary(), binary);
  await Bun.$`chmod +x ${binary}`;
  return { dir, binary, [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
}

test("binary - runs alone from an empty folder: opens its libSQL file, serves healthz, stops on SIGTERM", async () => {
  await using alone = await emptyFolderWithBinary();
  await using nats = await NatsServer.start();
  expect(await readdir(alone.dir)).toEqual(["pvflow"]);
  await using pv = await PvflowProcess.start({ binary: alone.binary, cwd: alone.dir, env: { NATS_URL: nats.url } });
  const health = await fetch(pv.url + "/healthz");
  expect(health.status).toBe(200);
  expect(await health.json()).toEqual({ status: "ok" });
  await pv.waitReady();
  expect((await readdir(alone.dir)).sort()).toContain("pvflow.db"); // the default file:pvflow.db
  expect(await pv.kill("SIGTERM")).toBe(0);
  expect(pv.log).toContain("STOPPED");
});

test("binary - re-executes itself in place with its JavaScriptCore heap options, keeping the user's own", async () => {
  await using alone = await emptyFolderWithBinary();
  await using nats = await NatsServer.start();
  const environ = async (pid: number) =>
    Object.fromEntries((await readFile(`/proc/${pid}/environ`, "utf8")).split("\0").filter(Boolean).map((l) => {
      const i = l.indexOf("=");
      return [l.slice(0, i), l.slice(i + 1)];
    }));
  const [option] = Object.keys(JSC_OPTIONS);
  {
    await using pv = await PvflowProcess.start({ binary: alone.binary, cwd: alone.dir, env: { NATS_URL: nats.url } });
    const env = await environ(pv.proc.pid); // the pid the test spawned: re-executed in place
    expect(env[option]).toBe(JSC_OPTIONS[option]);
    expect(env.NATS_URL).toBe(nats.url);
    expect(await pv.kill("SIGTERM")).toBe(0);
  }
  await using pv = await PvflowProcess.start({ binary: alone.binary, cwd: alone.dir, env: { NATS_URL: nats.url, [option]: "16384" } });
  expect((await environ(pv.proc.pid))[option]).toBe("16384");
  expect(await pv.kill("SIGTERM")).toBe(0);
});

test("binary - its task workers run PVFLOW_TASK_NICE nicer than every other thread (2 × 2: two slot threads)", async () => {
  await using nats = await NatsServer.start();
  const dir = await mkdtemp(join(tmpdir(), "pvflow-nice-"));
  const binary = await ensureBinary();
  const niceByThread = async (pid: number) => {
    const out: { name: string; nice: number }[] = [];
    for (const tid of await readdir(`/proc/${pid}/task`)) {
      const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, "utf8").catch(() => "");
      if (!stat) continue; // ended meanwhile
      out.push({ name: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")), nice: Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]) });
    }
    return out;
  };
  for (const [env, nice] of [[{}, 5], [{ PVFLOW_TASK_NICE: "0" }, 0], [{ PVFLOW_TASK_NICE: "12" }, 12]] as const) {
    await using pv = await PvflowProcess.start({
      binary,
      env: { NATS_URL: nats.url, PVFLOW_SUBJECTS: "pv.0,pv.1", PVFLOW_PARALLELISM: "2", PVFLOW_SOURCE_PARALLELISM: "2", PVFLOW_DB_URL: `file:${join(dir, `${nice}.db`)}`, ...env },
    });
    await pv.waitReady();
    const threads = await niceByThread(pv.proc.pid);
    const nicer = threads.filter((t) => t.nice !== 0);
    if (nice === 0) expect(nicer).toEqual([]);
    else expect(nicer).toEqual([{ name: "Worker", nice }, { name: "Worker", nice }]);
    // the main thread and the commit thread (a Worker too) keep their priority
    expect(threads.filter((t) => t.name === "Worker" && t.nice === 0).length).toBe(nice === 0 ? 3 : 1);
    expect(await pv.kill("SIGTERM")).toBe(0);
  }
  await rm(dir, { recursive: true, force: true });
});

test.if(process.platform === "linux")("binary - once running it pages out what only starting up touched (RSS down by 10+ MB, logged), then counts exactly; PVFLOW_RELEASE_STARTUP_PAGES=false keeps them", async () => {
  await using nats = await NatsServer.start();
  const dir = await mkdtemp(join(tmpdir(), "pvflow-pages-"));
  const binary = await ensureBinary();
  const { nc, js } = await openStream(nats.url);
  const expected = new Map<string, number>(); // each run reads the whole stream into a fresh database
  const released = /startup pages released: RSS (\d+) -> (\d+) MB/;
  const fileMb = async (pid: number) => Number(/RssFile:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
  try {
    for (const on of [true, false]) {
      await using pv = await PvflowProcess.start({
        binary,
        env: {
          NATS_URL: nats.url, PVFLOW_PARALLELISM: "1", PVFLOW_SOURCE_PARALLELISM: "1", PVFLOW_DB_URL: `file:${join(dir, `${on}.db`)}`,
          ...(on ? {} : { PVFLOW_RELEASE_STARTUP_PAGES: "false" }),
        },
      });
      await pv.waitReady();
      if (on) {
        await waitFor(() => released.test(pv.log), 10_000, () => `no "startup pages released" line in:\n${pv.log}`);
        const [, before, after] = released.exec(pv.log)!.map(Number);
        expect(after).toBeLessThan(before - 10);
        expect(await fileMb(pv.proc.pid)).toBeLessThan(45); // ~60 MB of the binary's own pages before
      } else {
        await Bun.sleep(2500);
        expect(pv.log).not.toContain("startup pages");
        expect(await fileMb(pv.proc.pid)).toBeGreaterThan(45);
      }
      // The code paged out comes back as it is needed: the job counts every event exactly.
      await publishRange(js, on ? 0 : 3000, on ? 3000 : 6000, expected);
      await waitFor(async () => JSON.stringify([...(await allCounts(pv))].sort()) === JSON.stringify([...expected].sort()), 20_000,
        () => "committed counts never matched the published events");
      expect(await pv.kill("SIGTERM")).toBe(0);
    }
  } finally {
    await nc.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("binary - a bad environment value exits 2 with one line naming the variable", async () => {
  await using alone = await emptyFolderWithBinary();
  const proc = Bun.spawn([alone.binary], {
    cwd: alone.dir, env: { PATH: process.env.PATH, PVFLOW_PARALLELISM: "abc" }, stdout: "pipe", stderr: "pipe",
  });
  const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  expect(code).toBe(2);
  expect(err.trim()).toBe('pvflow: PVFLOW_PARALLELISM must be an integer from 1 to 128, got "abc"');
  expect(await readdir(alone.dir)).toEqual(["pvflow"]); // nothing created
});

test("binary - answers --version and rejects unknown arguments", async () => {
  await using alone = await emptyFolderWithBinary();
  const run = async (arg: string) => {
    const p = Bun.spawn([alone.binary, arg], { cwd: alone.dir, stdout: "pipe", stderr: "pipe" });
    return { code: await p.exited, out: await new Response(p.stdout).text(), err: await new Response(p.stderr).text() };
  };
  const version = await run("--version");
  expect(version.code).toBe(0);
  expect(version.out).toMatch(/^pvflow \d+\.\d+\.\d+\n$/);
  // --help: every variable with its default (their agreement with the README: src/config_vars_test.ts).
  const help = await run("--help");
  expect(help.code).toBe(0);
  expect(help.out).toContain("pvflow healthcheck");
  for (const line of ["PVFLOW_CHECKPOINT_INTERVAL_MS", "PVFLOW_LOG_FORMAT", "NATS_URL"]) expect(help.out).toMatch(new RegExp(`^  ${line} +default: `, "m"));
  const unknown = await run("--port=80");
  expect(unknown.code).toBe(2);
  expect(unknown.err).toContain("configured by environment variables");
});
