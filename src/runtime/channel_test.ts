/**
 * @module
 * Unit tests for {@link OutputChannel}, {@link InputChannel} and {@link RecordWriter} over REAL
 * `MessageChannel`s: credit accounting, barriers and end of input bypassing credit, order, and the
 * backpressure bound — a sender that never gets a grant stops after `credits` batches with at most
 * one batch buffered, then resumes when the receiver grants.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { sleep } from "../platform.ts";
import type { Barrier, StreamElement } from "../types.ts";
import { InputChannel, OutputChannel } from "./channel.ts";
import { RecordWriter } from "./record_writer.ts";

// ---------------------------------------------------------------------------------------------
// Harness

interface Pair {
  out: OutputChannel;
  input: InputChannel;
  /** Every element the receiver got, in arrival order. */
  got: StreamElement[];
}

const open: Pair[] = [];

/** A real MessageChannel with a sender holding `credits` and a recording receiver that never grants by itself. */
function pair(credits: number): Pair {
  const mc = new MessageChannel();
  const got: StreamElement[] = [];
  const p: Pair = {
    out: new OutputChannel(mc.port1, credits),
    input: new InputChannel(mc.port2, (e) => got.push(e)),
    got,
  };
  open.push(p);
  return p;
}

afterEach(() => {
  for (const p of open.splice(0)) {
    p.out.close();
    p.input.close();
  }
});

/** One macrotask turn: lets MessagePort deliveries run. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Waits (event-loop turns, bounded) until `cond` holds; fails naming `what` otherwise. */
async function until(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(1);
  }
}

/** Lets many event-loop turns and ~`ms` of wall time pass (for "nothing more happens" checks). */
async function settle(ms = 50): Promise<void> {
  for (let i = 0; i < 20; i++) await turn();
  await sleep(ms);
}

const barrier = (id: number): Barrier => ({ checkpointId: id, timestamp: 1000 + id });
const records = (els: StreamElement[]) => els.filter((e) => e.kind === "records").flatMap((e) => e.keys);
const kinds = (els: StreamElement[]) => els.map((e) => e.kind);

// ---------------------------------------------------------------------------------------------
// OutputChannel / InputChannel

describe("channel", () => {
  test("channel - credits are spent per record batch and restored by grants", async () => {
    const { out, input, got } = pair(3);
    expect(out.credits).toBe(3);
    out.sendRecords(["a", "b"]);
    out.sendRecords(["c"]);
    expect(out.credits).toBe(1);
    expect(out.writable).toBe(true);
    out.sendRecords(["d", "e", "f"]);
    expect(out.credits).toBe(0);
    expect(out.writable).toBe(false);
    expect(out.batchesSent).toBe(3);
    await until(() => got.length === 3, "3 batches");
    // a batch spends one credit regardless of its size
    expect(records(got)).toEqual(["a", "b", "c", "d", "e", "f"]);

    input.grant(2);
    await until(() => out.credits === 2, "2 credits granted");
    expect(out.writable).toBe(true);
    input.grant(); // default: one
    await until(() => out.credits === 3, "1 more credit");
  });

  test("channel - barriers and end of input never wait for credit", async () => {
    const { out, got } = pair(0);
    expect(out.writable).toBe(false);
    out.send({ kind: "barrier", barrier: barrier(1) });
    out.send({ kind: "barrier", barrier: barrier(2) });
    out.send({ kind: "end" });
    await until(() => got.length === 3, "barriers and end");
    expect(got).toEqual([
      { kind: "barrier", barrier: barrier(1) },
      { kind: "barrier", barrier: barrier(2) },
      { kind: "end" },
    ]);
    expect(out.credits).toBe(0); // not spent either
  });

  test("channel - whenWritable resolves on a grant, not before", async () => {
    const { out, input } = pair(1);
    await out.whenWritable(); // credit available: resolves at once
    out.sendRecords(["a"]);
    let resolved = false;
    const p = out.whenWritable().then(() => (resolved = true));
    await settle();
    expect(resolved).toBe(false);
    input.grant(1);
    await p;
    expect(resolved).toBe(true);
    expect(out.writable).toBe(true);
  });

  test("channel - a grant that leaves credits at or below zero wakes nobody", async () => {
    const { out, input } = pair(0);
    out.sendRecords(["flushed-before-barrier"]); // allowed without credit: credits -1
    expect(out.credits).toBe(-1);
    let resolved = false;
    const p = out.whenWritable().then(() => (resolved = true));
    input.grant(1); // pays back the debt only
    await until(() => out.credits === 0, "debt paid back");
    await settle(20);
    expect(resolved).toBe(false);
    input.grant(1);
    await p;
    expect(out.credits).toBe(1);
  });

  test("channel - elements arrive in the order sent", async () => {
    const { out, got } = pair(100);
    const sent: StreamElement[] = [];
    for (let i = 0; i < 50; i++) {
      const keys = [`k${i}`, `k${i}-2`];
      out.sendRecords(keys);
      sent.push({ kind: "records", keys });
      if (i % 7 === 3) {
        const el = { kind: "barrier", barrier: barrier(i) } as const;
        out.send(el);
        sent.push(el);
      }
    }
    out.send({ kind: "end" });
    sent.push({ kind: "end" });
    await until(() => got.length === sent.length, "every element");
    expect(got).toEqual(sent);
  });

  test("channel - nothing is sent after end of input", async () => {
    const { out, got } = pair(5);
    out.sendRecords(["a"]);
    out.send({ kind: "end" });
    out.sendRecords(["late"]);
    out.send({ kind: "barrier", barrier: barrier(9) });
    out.send({ kind: "end" });
    await until(() => got.length >= 2, "records and end");
    await settle();
    expect(kinds(got)).toEqual(["records", "end"]);
  });
});

// ---------------------------------------------------------------------------------------------
// RecordWriter

describe("record writer", () => {
  test("record writer - backpressure bound: a receiver that never grants stalls the sender after `credits` batches", async () => {
    const CREDITS = 4;
    const BATCH = 100;
    const { out, input, got } = pair(CREDITS);
    const writer = new RecordWriter([out], BATCH);
    let emitted = 0;
    let maxBuffered = 0;
    let stop = false;
    const loop = (async () => {
      // capped so that a writer that never backpressures fails the assertions instead of running forever
      while (!stop && emitted < 100 * BATCH) {
        writer.emit(0, `k${emitted % 13}`);
        emitted++;
        maxBuffered = Math.max(maxBuffered, writer.bufferedRecords);
        if (writer.backpressured) await writer.whenWritable();
        else if (emitted % BATCH === 0) await turn(); // let credits (and a runaway) be observable
      }
    })();

    // let it run for many event-loop turns
    await settle(300);
    expect(out.batchesSent).toBe(CREDITS);
    await until(() => got.length === CREDITS, "the credited batches");
    await settle(20);
    expect(got.length).toBe(CREDITS);
    expect(records(got).length).toBe(CREDITS * BATCH);
    expect(writer.bufferedRecords).toBeLessThanOrEqual(BATCH);
    expect(maxBuffered).toBeLessThanOrEqual(BATCH);
    expect(writer.backpressured).toBe(true);
    // stalled: exactly one full batch waits for credit, nothing was read beyond it
    expect(emitted).toBeLessThanOrEqual(CREDITS * BATCH + BATCH);
    expect(emitted).toBe(CREDITS * BATCH + BATCH);

    // the receiver grants 2: the waiting batch goes, one more is filled and sent, then it stalls again
    input.grant(2);
    await until(() => out.batchesSent === CREDITS + 2 && emitted === (CREDITS + 3) * BATCH, "the sender to resume");
    await settle(50);
    expect(out.batchesSent).toBe(CREDITS + 2);
    expect(emitted).toBe((CREDITS + 3) * BATCH);
    expect(writer.bufferedRecords).toBe(BATCH);
    await until(() => got.length === CREDITS + 2, "the granted batches");
    expect(records(got).length).toBe((CREDITS + 2) * BATCH);
    // every record arrives once, in emission order
    expect(records(got)).toEqual(Array.from({ length: (CREDITS + 2) * BATCH }, (_, i) => `k${i % 13}`));

    stop = true;
    input.grant(1);
    await loop;
  });

  test("record writer - closing a stalled channel releases the sender", async () => {
    const { out } = pair(1);
    const writer = new RecordWriter([out], 2);
    // guard: a whenWritable that spins on a closed channel fails here instead of starving the event loop
    const orig = out.whenWritable.bind(out);
    let waits = 0;
    out.whenWritable = () => {
      if (++waits > 1000) throw new Error("RecordWriter.whenWritable spins on a closed channel");
      return orig();
    };
    for (const k of ["a", "b", "c", "d"]) writer.emit(0, k);
    expect(writer.backpressured).toBe(true);
    const p = writer.whenWritable();
    await settle(20);
    out.close();
    await p; // must resolve, not spin or hang
    expect(waits).toBeLessThan(1000);
  });

  test("record writer - broadcastBarrier flushes partial batches before the barrier on every channel, even without credit", async () => {
    const c0 = pair(0);
    const c1 = pair(0);
    const c2 = pair(3);
    const writer = new RecordWriter([c0.out, c1.out, c2.out], 100);
    writer.emit(0, "a1");
    writer.emit(0, "a2");
    writer.emit(1, "b1");
    // channel 2 has nothing pending: it gets the barrier alone
    expect(writer.bufferedRecords).toBe(3);
    writer.broadcastBarrier(barrier(7));
    expect(writer.bufferedRecords).toBe(0);
    await until(() => c0.got.length === 2 && c1.got.length === 2 && c2.got.length === 1, "flush + barrier");
    expect(c0.got).toEqual([{ kind: "records", keys: ["a1", "a2"] }, { kind: "barrier", barrier: barrier(7) }]);
    expect(c1.got).toEqual([{ kind: "records", keys: ["b1"] }, { kind: "barrier", barrier: barrier(7) }]);
    expect(c2.got).toEqual([{ kind: "barrier", barrier: barrier(7) }]);
    // the flush without credit is a debt, paid back by the next grant
    expect(c0.out.credits).toBe(-1);
    expect(c1.out.credits).toBe(-1);
    expect(c2.out.credits).toBe(3);
  });

  test("record writer - flushWritable sends partial batches only where credit exists", async () => {
    const c0 = pair(1);
    const c1 = pair(0);
    const writer = new RecordWriter([c0.out, c1.out], 100);
    writer.emit(0, "a1");
    writer.emit(1, "b1");
    writer.emit(1, "b2");
    writer.flushWritable();
    expect(writer.bufferedRecords).toBe(2); // channel 1's records stay
    expect(c0.out.batchesSent).toBe(1);
    expect(c1.out.batchesSent).toBe(0);
    // a marker sent after the flush: channel 1 receives it with no records before it
    c0.out.send({ kind: "barrier", barrier: barrier(1) });
    c1.out.send({ kind: "barrier", barrier: barrier(1) });
    await until(() => c0.got.length === 2 && c1.got.length === 1, "flush and markers");
    expect(kinds(c0.got)).toEqual(["records", "barrier"]);
    expect(records(c0.got)).toEqual(["a1"]);
    expect(kinds(c1.got)).toEqual(["barrier"]);

    // once channel 1 gets credit, flushWritable sends its partial batch
    c1.input.grant(1);
    await until(() => c1.out.writable, "credit on channel 1");
    writer.flushWritable();
    expect(writer.bufferedRecords).toBe(0);
    await until(() => c1.got.length === 2, "channel 1's batch");
    expect(c1.got[1]).toEqual({ kind: "records", keys: ["b1", "b2"] });
  });

  test("record writer - broadcastEnd sends end on all channels, with or without credit", async () => {
    const c0 = pair(0);
    const c1 = pair(2);
    const writer = new RecordWriter([c0.out, c1.out], 100);
    writer.emit(0, "dropped");
    writer.broadcastEnd();
    expect(writer.bufferedRecords).toBe(0);
    await until(() => c0.got.length === 1 && c1.got.length === 1, "end on both");
    expect(c0.got).toEqual([{ kind: "end" }]);
    expect(c1.got).toEqual([{ kind: "end" }]);
    // nothing follows the end
    writer.emit(1, "late");
    writer.broadcastBarrier(barrier(2));
    await settle();
    expect(c0.got.length).toBe(1);
    expect(c1.got.length).toBe(1);
  });

  test("record writer - a full batch goes out at once while its channel has credit", async () => {
    const c0 = pair(2);
    const writer = new RecordWriter([c0.out], 3);
    for (const k of ["a", "b"]) writer.emit(0, k);
    expect(c0.out.batchesSent).toBe(0);
    writer.emit(0, "c");
    expect(c0.out.batchesSent).toBe(1);
    expect(writer.bufferedRecords).toBe(0);
    expect(writer.backpressured).toBe(false);
    await until(() => c0.got.length === 1, "the batch");
    expect(c0.got[0]).toEqual({ kind: "records", keys: ["a", "b", "c"] });
  });
});
