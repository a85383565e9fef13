/**
 * @module
 * Probes the stream's front for the splits of one source subtask (./front_guard.ts): the idle
 * splits' consumer info, then ONE stream info (its first sequence is the stream's, shared by every
 * split), then each split's verdict. Probes run one at a time: at least every second, sooner when
 * the front moves fast relative to the nearest verified position, when a reader has read a quarter
 * of the stream's length past its verified position, and when a checkpoint waits for its positions
 * to be verified ({@link whenVerified}). A loss fails the subtask; the checkpoint that waited for it
 * is never acknowledged, so no committed position passes it.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { SplitPositions } from "../types.ts";
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
  #waiters: { positions: SplitPositions; resolve: () => void }[] = [];

  constructor(options: FrontProberOptions) {
    this.#o = options;
  }

  /** Starts probing (the first probe at once). */
  start(): void {
    this.request();
  }

  /** Stops probing; checkpoints still waiting are never acknowledged. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#waiters = [];
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

  /**
   * Undefined when every guarded split's verified position is at least its position in
   * `positions`; else a promise that resolves once it is (a probe is requested now).
   */
  whenVerified(positions: SplitPositions): Promise<void> | undefined {
    if (this.#verified(positions)) return undefined;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiters.push({ positions, resolve });
    this.request();
    return promise;
  }

  #verified(positions: SplitPositions): boolean {
    return this.#o.readers.every((r) => !r.guarded || r.verified >= (positions[r.split.subject] ?? 0));
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
      await Promise.all(readers.map((r) => r.probeConsumer()));
      const reads = readers.map((r) => r.probeRead(this.#lastSeq));
      const { first_seq: first, last_seq: last } = (await this.#o.jsm.streams.info(this.#o.stream)).state;
      if (this.#stopped) return;
      if (this.#failures > 0) this.#o.log(`probing stream ${this.#o.stream} again after ${this.#failures} failed attempts`);
      this.#failures = 0;
      const stride = probeStride(first, last);
      let margin = Infinity;
      for (let i = 0; i < readers.length; i++) {
        const verdict = readers[i].probeJudge(reads[i], first, stride);
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
      this.#waiters = this.#waiters.filter((w) => {
        if (!this.#verified(w.positions)) return true;
        w.resolve();
        return false;
      });
    } catch (err) {
      // NATS unreachable, say: positions read meanwhile wait for the next probe.
      failed = true;
      if (this.#failures++ === 0) this.#o.log(`cannot probe stream ${this.#o.stream}: ${(err as Error).message}; retrying`);
    } finally {
      this.#running = false;
    }
    if (this.#stopped) return;
    if (!failed && (this.#again || this.#waiters.length > 0)) delay = Math.min(delay, PROBE_MIN_MS);
    this.#schedule(delay);
  }
}
