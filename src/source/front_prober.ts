/**
 * @module
 * Probes the stream's front for the splits of one source subtask (./front_guard.ts): the idle
 * splits' consumer info, then ONE stream info (its first sequence is the stream's, shared by every
 * split), then each split's verdict. Probes run one at a time: at least every second, sooner when
 * the front moves fast relative to the nearest verified position, and when a reader has read a
 * quarter of the stream's length past its last probe. They keep the verified positions close
 * behind the reading, move idle splits' positions up, and find a loss between checkpoints (the
 * subtask fails). A checkpoint does not wait for them: the job verifies what they have not yet,
 * with one stream info of its own before it commits (src/attempt.ts) — a busy source reads its
 * answers late (its event loop is busy with events), the job's main thread does not.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { nextProbeDelay, PROBE_MAX_MS, PROBE_MIN_MS, probeStride } from "./front_guard.ts";
import type { SplitReader, SplitReaderFatal } from "./split_reader.ts";

/** What a prober needs. */
export interface FrontProberOptions {
  jsm: JetStreamManager;
  stream: string;
  readers: readonly SplitReader[];
  /** Called once with the first loss found. */
  fail(err: SplitReaderFatal): void;
  log(line: string): void;
}

/** One source subtask's prober; see the module doc. */
export class FrontProber {
  #o: FrontProberOptions;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #again = false;
  #stopped = false;
  #lastStart = -Infinity;
  /** The stream's last sequence at the previous probe (read before this probe's consumer infos). */
  #lastSeq = 0;
  /** The previous probe's front and when it was read, for the front's speed. */
  #front: { first: number; at: number } | undefined;
  #failures = 0;

  constructor(options: FrontProberOptions) {
    this.#o = options;
  }

  /** Starts probing (the first probe at once). */
  start(): void {
    this.request();
  }

  /** Stops probing. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** A probe as soon as the one under way (if any) has ended, at most one per {@link PROBE_MIN_MS}. */
  request(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#schedule(Math.max(0, this.#lastStart + PROBE_MIN_MS - performance.now()));
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#probe(), ms);
  }

  async #probe(): Promise<void> {
    if (this.#stopped || this.#running) return;
    const readers = this.#o.readers.filter((r) => r.guarded);
    if (readers.length === 0) { // covering splits only: they check themselves
      this.#schedule(PROBE_MAX_MS);
      return;
    }
    this.#running = true;
    this.#again = false;
    this.#lastStart = performance.now();
    let delay = PROBE_MAX_MS;
    let failed = false;
    try {
      await Promise.all(readers.map((r) => r.probeConsumer(this.#o.jsm)));
      const reads = readers.map((r) => r.probeRead(this.#lastSeq));
      const { first_seq: first, last_seq: last } = (await this.#o.jsm.streams.info(this.#o.stream)).state;
      if (this.#stopped) return;
      if (this.#failures > 0) this.#o.log(`probing stream ${this.#o.stream} again after ${this.#failures} failed attempts`);
      this.#failures = 0;
      const stride = probeStride(first, last);
      let margin = Infinity;
      for (let i = 0; i < readers.length; i++) {
        let read = reads[i];
        if (!read.active && !read.asked && first > readers[i].verified + 1) {
          // The front passed its verified position: is a backlog waiting now? (see backlogNow)
          const backlog = await readers[i].backlogNow(this.#o.jsm);
          if (backlog === undefined) continue; // cannot tell: judged at the next probe (or when its consumer is recreated)
          if (backlog > 0) read = { ...read, active: true };
        }
        const verdict = readers[i].probeJudge(read, first, stride);
        if (verdict?.kind === "lost") {
          this.stop();
          this.#o.fail(readers[i].lossOf(verdict, first));
          return;
        }
        margin = Math.min(margin, readers[i].verified + 1 - first);
      }
      const now = performance.now();
      const speed = this.#front && now > this.#front.at ? (first - this.#front.first) / (now - this.#front.at) : 0;
      this.#front = { first, at: now };
      this.#lastSeq = last;
      delay = nextProbeDelay(margin, speed);
    } catch (err) {
      // NATS unreachable, say: positions read meanwhile wait for the next probe.
      failed = true;
      if (this.#failures++ === 0) this.#o.log(`cannot probe stream ${this.#o.stream}: ${(err as Error).message}; retrying`);
    } finally {
      this.#running = false;
    }
    if (this.#stopped) return;
    if (!failed && this.#again) delay = Math.min(delay, PROBE_MIN_MS);
    this.#schedule(delay);
  }
}
