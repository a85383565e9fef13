/**
 * @module
 * The pvflow binary: environment → config → checkpoint store → job → status server. SIGTERM or
 * SIGINT stop gracefully (final checkpoint) within PVFLOW_SHUTDOWN_TIMEOUT_MS, else exit 1; a
 * second signal exits at once.
 */
import { CommitWorker } from "./src/checkpoint/commit_worker.ts";
import { CheckpointStore } from "./src/checkpoint/store.ts";
import { adoptKeyField } from "./src/checkpoint/store_meta.ts";
import { savepointDir, savepointsUnsupported, writeSavepointOnWorker } from "./src/checkpoint/savepoint.ts";
import { ConfigError, loadConfig, redactUrl, type Config } from "./src/config.ts";
import { DASHBOARD_HTML } from "./src/http/dashboard_page.ts";
import { createStatusApp } from "./src/http/status_app.ts";
import { Job } from "./src/job.ts";
import { ConfigRefusedError } from "./src/job_streams.ts";

const VERSION = process.env.PVFLOW_VERSION ?? "dev";
const log = (line: string) => console.error(`${new Date().toISOString()} pvflow: ${line}`);

// No flags: configuration is by environment only. Answer the two flags people try anyway.
const args = process.argv.slice(2).filter((a) => a !== process.argv[1]);
if (args.includes("--version") || args.includes("-v")) {
  console.log(`pvflow ${VERSION}`);
  process.exit(0);
}
if (args.length > 0) {
  const help = args.includes("--help") || args.includes("-h");
  (help ? console.log : console.error)(
    "usage: pvflow   (configured by environment variables: NATS_URL, PVFLOW_SUBJECTS, PVFLOW_DB_URL, ... — see README)",
  );
  process.exit(help ? 0 : 2);
}

let config: Readonly<Config>;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(`pvflow: ${err.message}`);
  process.exit(2);
}

let store: CheckpointStore;
try {
  store = await CheckpointStore.open({
    url: config.dbUrl, authToken: config.dbAuthToken, stream: config.stream, checkpointHistory: config.checkpointHistory,
  });
} catch (err) {
  console.error(`pvflow: ${(err as Error).message}`);
  process.exit(1);
}
try {
  // The counts are per key field: refuse to mix another field's counts into them.
  await adoptKeyField(store.client, config.keyField);
} catch (err) {
  store.close();
  console.error(`pvflow: ${(err as Error).message}`);
  process.exit(err instanceof ConfigError ? 2 : 1);
}
log(`pvflow ${VERSION}: checkpoint store ${redactUrl(config.dbUrl)}, ${config.checkpointMode}`);

// Worker URLs are resolved here, in the root module, so they also point into a binary's bundle.
const workerUrl = new URL("./src/runtime/task_worker.ts", import.meta.url);
const committer = new CommitWorker(new URL("./src/checkpoint/commit_worker_entry.ts", import.meta.url), {
  url: config.dbUrl, authToken: config.dbAuthToken, stream: config.stream, epoch: store.epoch, // commits under our claim
  checkpointHistory: config.checkpointHistory,
});
const job = new Job(config, store, { log, workerUrl, committer });
const savepointWorkerUrl = new URL("./src/checkpoint/savepoint_worker_entry.ts", import.meta.url);
const savepoints = {
  unsupported: savepointsUnsupported(config.dbUrl),
  write: () => writeSavepointOnWorker(savepointWorkerUrl, { dbUrl: config.dbUrl, dir: savepointDir(config.dbUrl, config.savepointDir) }),
};
const app = createStatusApp({ job, store, version: VERSION, adminToken: config.adminToken, dashboardHtml: DASHBOARD_HTML, savepoints });
let server: ReturnType<typeof Bun.serve>;
try {
  server = Bun.serve({ hostname: config.httpHost, port: config.httpPort, fetch: app.fetch });
} catch (err) {
  console.error(`pvflow: cannot listen on ${config.httpHost}:${config.httpPort} (PVFLOW_HTTP_HOST/PVFLOW_HTTP_PORT): ${(err as Error).message}`);
  process.exit(1);
}
log(`status server on http://${server.hostname}:${server.port}`);

let signals = 0;
const onSignal = (sig: string) => {
  if (++signals > 1) {
    log(`${sig} again: exiting now`);
    process.exit(130);
  }
  log(`${sig}: stopping (final checkpoint; send again to exit at once)`);
  // PVFLOW_SHUTDOWN_TIMEOUT_MS bounds the whole stop, whatever hangs (a commit, a teardown, NATS).
  setTimeout(() => {
    log(`stop did not finish within PVFLOW_SHUTDOWN_TIMEOUT_MS (${config.shutdownTimeoutMs} ms): exiting now`);
    process.exit(1);
  }, config.shutdownTimeoutMs);
  job.stop();
};
process.on("SIGTERM", () => onSignal("SIGTERM"));
process.on("SIGINT", () => onSignal("SIGINT"));

await job.run();
if (job.state === "FAILED" && job.failure instanceof ConfigRefusedError) {
  // A configuration NATS showed to be unusable: like a ConfigError, one line and exit code 2.
  console.error(`pvflow: ${job.failure.message}`);
  server.stop(true);
  committer.close();
  store.close();
  process.exit(2);
}
if (job.state === "FAILED" && signals === 0) {
  // Stay up so that /status and /readyz say why; a signal ends the process with code 1.
  log("job FAILED; the status server stays up until SIGTERM/SIGINT");
  await new Promise<void>((resolve) => {
    process.removeAllListeners("SIGTERM").removeAllListeners("SIGINT");
    process.once("SIGTERM", resolve).once("SIGINT", resolve);
  });
}
server.stop(true);
committer.close();
store.close();
process.exit(job.state === "FAILED" ? 1 : 0);
