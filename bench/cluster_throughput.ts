/**
 * @module
 * Cluster-wide throughput over a prefilled R3 stream: `instances` pvflow processes in cluster
 * mode (0: one process WITHOUT `PVFLOW_CLUSTER`, the baseline of the lease overhead) on a fresh
 * sqld, default settings, started together; committed events per second read from the shared
 * sink (`SELECT sum(count) FROM counts`, polled every 100 ms) until all `n` are committed.
 */
import { PvflowProcess } from "../tests/support/pvflow_process.ts";
import { Sqld } from "../tests/support/sqld.ts";
import { Committed, instanceEnv, until } from "./cluster_parts.ts";
import { peakRss } from "./pvflow_run.ts";

/** One throughput run. */
export interface ThroughputResult {
  /** n / (first process start → all n committed): a backlog drained, startup and initial assignment included. */
  committedPerSec: number;
  /** Committed events/s between 20% and 80% of n: the running rate, startup left out. */
  steadyPerSec: number;
  /** First process start → every instance ready. */
  readyMs: number;
  /** The largest peak RSS among the instances. */
  peakRssMb: number;
}

/** See the module doc. `subjects` are the prefilled stream `PV`'s splits. */
export async function throughput(
  binary: string, natsUrls: string, subjects: string[], n: number, instances: number, name: string,
): Promise<ThroughputResult> {
  await using sqld = await Sqld.start();
  const committed = new Committed(sqld.url);
  const ids = instances === 0 ? ["single"] : Array.from({ length: instances }, (_, i) => `i${i}`);
  const procs: PvflowProcess[] = [];
  const samples: { at: number; total: number }[] = [];
  try {
    const t0 = performance.now();
    const started = await Promise.all(ids.map((id) => PvflowProcess.start({
      binary, env: instanceEnv({ natsUrls, dbUrl: sqld.url, subjects, ...(instances === 0 ? {} : { cluster: name, id }) }),
    })));
    procs.push(...started);
    let ready = 0;
    const readying = Promise.all(procs.map((p) => p.waitReady(120_000))).then(() => (ready = performance.now()));
    await until(async () => {
      const total = await committed.total();
      samples.push({ at: performance.now(), total });
      if (total > n) throw new Error(`committed ${total} of ${n} events: counted twice`);
      return total === n;
    }, 600_000, `${n} events committed`, 100);
    await readying;
    const done = samples.at(-1)!.at;
    const at = (f: number) => samples.find((s) => s.total >= f * n)!;
    const [lo, hi] = [at(0.2), at(0.8)];
    const rss = await Promise.all(procs.map((p) => peakRss(p.proc.pid)));
    return {
      committedPerSec: (n / (done - t0)) * 1000,
      steadyPerSec: ((hi.total - lo.total) / (hi.at - lo.at)) * 1000,
      readyMs: ready - t0,
      peakRssMb: Math.max(...rss),
    };
  } finally {
    for (const p of procs) await p.kill("SIGTERM");
    committed.close();
  }
}
