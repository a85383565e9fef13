/**
 * @module
 * The pvflow binary: environment → config → checkpoint store → job → status server. SIGTERM or
 * SIGINT stop gracefully (final checkpoint) within PVFLOW_SHUTDOWN_TIMEOUT_MS, else exit 1; a
 * second signal exits at once.
 */
// First: may re-execute the binary with its JavaScriptCore options, before anything is opened.
import "./src/jsc_tuning.ts";
import { CommitWorker } from "./src/checkpoint/commit_worker.ts";
import { CheckpointStore } from "./src/checkpoint/store.ts";
import { runCli } from "./src/cli.ts";
import { adoptKeyField, adoptWindowSize } from "./src/checkpoint/store_meta.ts";
import { savepointDir, savepointsUnsupported, writeSavepointOnWorker } from "./src/checkpoint/savepoint.ts";
import { ConfigError, loadConfig, logFormat, redactUrl, type Config } from "./src/config.ts";
import { DASHBOARD_HTML } from "./src/http/dashboard_page.ts";
import { jobTotals } from "./src/http/job_status.ts";
import { createStatusApp } from "./src/http/status_app.ts";
import { Job } from "./src/job.ts";
import { ConfigRefusedError } from "./src/job_streams.ts";
import { Logger } from "./src/log.ts";
import { RateHistory } from "./src/rate_history.ts";
import { releaseStartupPagesWhen } from "./src/startup_pages.ts";
import { serve, unrefTimer, type HttpServer } from "./src/platform.ts";

const VERSION = process.env.PVFLOW_VERSION ?? "dev";

// Configuration is by environment only; the CLI answers --help, --version and healthcheck.
const exitCode = await runCli(process.argv.slice(2).filter((a) => a !== process.argv[1]), VERSION, {
  out: (line) => console.log(line), err: (line) => console.error(line), env: process.env,
});
if (exitCode !== undefined) process.exit(exitCode);

// The log format first, so that a bad value of any other variable is reported in it.
let logger: Logger;
try {
  logger = new Logger(logFormat());
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(`pvflow: ${err.message}`);
  process.exit(2);
}
logger.captureConsole();
const log = (line: string) => logger.job(line);

let config: Readonly<Config>;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  logger.fatal(err.message, { variable: /^[A-Z][A-Z0-9_]*/.exec(err.message)?.[0] ?? null });
  process.exit(2);
}

let store: CheckpointStore;
try {
  store = await CheckpointStore.open({
    url: config.dbUrl, authToken: config.dbAuthToken, stream: config.stream, checkpointHistory: config.checkpointHistory,
    cluster: config.cluster?.name,
  });
} catch (err) {
  logger.fatal((err as Error).message);
  process.exit(1);
}
try {
  // The counts are per key field: refuse to mix another field's counts into them.
  await adoptKeyField(store.client, config.keyField);
  // Open windows are restored only as windows of the size they were made with.
  const abandoned = await adoptWindowSize(store.client, config.windows?.sizeMs, config.windows?.outputSubject !== undefined);
  if (abandoned > 0) logger.info(`windows are off: ${abandoned} open (key, window) entries abandoned`);
} catch (err) {
  store.close();
  logger.fatal((err as Error).message);
  process.exit(err instanceof ConfigError ? 2 : 1);
}
logger.info(`pvflow ${VERSION}: checkpoint store ${redactUrl(config.dbUrl)}, ${config.checkpointMode}` +
  (config.cluster ? `, cluster ${config.cluster.name} as ${config.cluster.instanceId}` : ""),
  { version: VERSION, db: redactUrl(config.dbUrl), mode: config.checkpointMode, cluster: config.cluster?.name ?? null });

// Worker URLs are resolved here, in the root module, so they also point into a binary's bundle.
const workerUrl = new URL("./src/runtime/task_worker.ts", import.meta.url);
const committer = new CommitWorker(new URL("./src/checkpoint/commit_worker_entry.ts", import.meta.url), {
  url: config.dbUrl, authToken: config.dbAuthToken, stream: config.stream, epoch: store.epoch, // commits under our claim
  checkpointHistory: config.checkpointHistory,
});
const job = new Job(config, store, { log, workerUrl, committer });
// Rates are sampled here, not in the browser: 1 s samples, 5 minutes kept.
const RATE_SAMPLE_MS = 1000;
const rateHistory = new RateHistory({ capacity: 300 });
unrefTimer(setInterval(() => rateHistory.add(Date.now(), jobTotals(job)), RATE_SAMPLE_MS));
const savepointWorkerUrl = new URL("./src/checkpoint/savepoint_worker_entry.ts", import.meta.url);
const savepoints = {
  unsupported: savepointsUnsupported(config.dbUrl),
  write: () => writeSavepointOnWorker(savepointWorkerUrl, { dbUrl: config.dbUrl, dir: savepointDir(config.dbUrl, config.savepointDir) }),
};
const app = createStatusApp({
  job, store, version: VERSION, adminToken: config.adminToken, dashboardHtml: DASHBOARD_HTML,
  rates: { history: rateHistory, sampleIntervalMs: RATE_SAMPLE_MS }, savepoints,
  windows: config.windows ? store : undefined,
});
// Before the server listens: whoever sees it listen may signal at once (the default action would kill).
let signals = 0;
const onSignal = (sig: string) => {
  if (++signals > 1) {
    logger.warn(`${sig} again: exiting now`, { signal: sig });
    process.exit(130);
  }
  logger.info(`${sig}: stopping (final checkpoint; send again to exit at once)`, { signal: sig });
  // PVFLOW_SHUTDOWN_TIMEOUT_MS bounds the whole stop, whatever hangs (a commit, a teardown, NATS).
  setTimeout(() => {
    logger.error(`stop did not finish within PVFLOW_SHUTDOWN_TIMEOUT_MS (${config.shutdownTimeoutMs} ms): exiting now`);
    process.exit(1);
  }, config.shutdownTimeoutMs);
  job.stop();
};
process.on("SIGTERM", () => onSignal("SIGTERM"));
process.on("SIGINT", () => onSignal("SIGINT"));

let server: HttpServer;
try {
  server = serve({ hostname: config.httpHost, port: config.httpPort, fetch: app.fetch });
} catch (err) {
  logger.fatal(`cannot listen on ${config.httpHost}:${config.httpPort} (PVFLOW_HTTP_HOST/PVFLOW_HTTP_PORT): ${(err as Error).message}`);
  process.exit(1);
}
logger.info(`status server on http://${server.hostname}:${server.port}`, { url: `http://${server.hostname}:${server.port}` });

if (config.releaseStartupPages) {
  // Once every worker has loaded and one checkpoint has run the commit path: what only starting
  // up touched goes back to the kernel. Right after a checkpoint, so that the advice (8-40 ms on
  // this thread at full speed) falls between checkpoints, not into one.
  releaseStartupPagesWhen(() => job.state === "RUNNING" && job.latestCompleted !== undefined, (r) => {
    const mb = (b: number) => Math.round(b / 1048576);
    if (r.skipped) logger.info(`startup pages kept resident: ${r.skipped}`, { skipped: r.skipped });
    else logger.info(`startup pages released: RSS ${mb(r.rssBefore)} -> ${mb(r.rssAfter)} MB (${r.mappings} file mappings paged out in ${r.ms} ms)`,
      { rssBeforeBytes: r.rssBefore, rssAfterBytes: r.rssAfter, mappings: r.mappings, ms: r.ms });
  });
}

await job.run();
if (job.state === "FAILED" && job.failure instanceof ConfigRefusedError) {
  // A configuration NATS showed to be unusable: like a ConfigError, one line and exit code 2.
  logger.fatal(job.failure.message);
  server.stop();
  committer.close();
  store.close();
  process.exit(2);
}
if (job.state === "FAILED" && signals === 0) {
  // Stay up so that /status and /readyz say why; a signal ends the process with code 1.
  logger.error("job FAILED; the status server stays up until SIGTERM/SIGINT", { state: "FAILED" });
  await new Promise<void>((resolve) => {
    process.removeAllListeners("SIGTERM").removeAllListeners("SIGINT");
    process.once("SIGTERM", resolve).once("SIGINT", resolve);
  });
}
server.stop();
committer.close();
store.close();
process.exit(job.state === "FAILED" ? 1 : 0);
