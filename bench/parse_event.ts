/**
 * @module
 * `bun bench/parse_event.ts`: ns per event of {@link parseEvent} (the byte scan, falling back to
 * decode + JSON.parse) against {@link parseEventSlow} (always decode + JSON.parse), on the bench
 * prefill's payloads, with and without a time field, alternating in the same run. Prints one JSON
 * object: `{median, min, max, runs}` ns/event per variant and the ratios fast/slow.
 *
 * Knobs: BENCH_PARSE_N (200000 payloads), BENCH_PARSE_REPS (7), BENCH_KEYS (10000).
 */
import { parseEvent, parseEventSlow, type ParseResult } from "../src/source/event_parser.ts";
import { payload } from "./prefill.ts";
import { ratio, stat } from "./stats.ts";

const N = Number(process.env.BENCH_PARSE_N ?? 200_000);
const REPS = Number(process.env.BENCH_PARSE_REPS ?? 7);
const KEYS = Number(process.env.BENCH_KEYS ?? 10_000);
const MAX_EVENT_BYTES = 65536; // PVFLOW_MAX_EVENT_BYTES' default is larger than any payload here

const enc = new TextEncoder();
const payloads = Array.from({ length: N }, (_, i) => enc.encode(payload(i, KEYS)));
type Parse = typeof parseEvent;

/** ns per event of one pass over every payload; the key lengths are summed so no call is dead code. */
function pass(parse: Parse, timeField: string | undefined): number {
  let sink = 0;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const r: ParseResult = parse(payloads[i], "site", MAX_EVENT_BYTES, timeField);
    sink += r.key === undefined ? -1 : r.key.length;
  }
  const ns = ((performance.now() - t0) * 1e6) / N;
  if (sink !== sinkExpected) throw new Error(`parse results differ: ${sink} vs ${sinkExpected}`);
  return ns;
}

let sinkExpected = 0;
for (let i = 0; i < N; i++) sinkExpected += parseEventSlow(payloads[i], "site", MAX_EVENT_BYTES).key!.length;

const variants: [string, Parse, string | undefined][] = [
  ["slow", parseEventSlow, undefined],
  ["fast", parseEvent, undefined],
  ["slowTs", parseEventSlow, "ts"],
  ["fastTs", parseEvent, "ts"],
];
for (const [, parse, tf] of variants) pass(parse, tf); // warm-up: every variant compiled before timing
const runs: Record<string, number[]> = Object.fromEntries(variants.map(([name]) => [name, []]));
for (let rep = 0; rep < REPS; rep++) for (const [name, parse, tf] of variants) runs[name].push(pass(parse, tf));
const s = Object.fromEntries(Object.entries(runs).map(([name, r]) => [name, stat(r)]));
console.log(JSON.stringify({
  scenario: "parse_event",
  events: N,
  bytesPerEvent: Math.round(payloads.reduce((a, p) => a + p.length, 0) / N),
  nsPerEvent: s,
  ratios: { fastOverSlow: ratio(s.fast, s.slow), fastOverSlowWithTime: ratio(s.fastTs, s.slowTs) },
}));
