/**
 * Proves the strict Prometheus text parser used by the status tests rejects what it must.
 */
import { expect, test } from "bun:test";
import { parsePrometheusText } from "./prometheus.ts";

const HIST = [
  "# HELP h_seconds A histogram.",
  "# TYPE h_seconds histogram",
  'h_seconds_bucket{le="0.1"} 1',
  'h_seconds_bucket{le="1"} 3',
  'h_seconds_bucket{le="+Inf"} 4',
  "h_seconds_sum 2.5",
  "h_seconds_count 4",
];

test("prometheus parser - accepts valid text with counters, labelled gauges and a histogram", () => {
  const text = [
    "# HELP c_total A counter.", "# TYPE c_total counter", "c_total 3",
    "# TYPE g gauge", 'g{split="pv.>",x="a\\"b\\\\c\\nd"} -1.5e3', 'g{split="pv.1"} NaN',
    ...HIST,
  ].join("\n") + "\n";
  const f = parsePrometheusText(text);
  expect([...f.keys()]).toEqual(["c_total", "g", "h_seconds"]);
  expect(f.get("g")!.samples[0]).toEqual({ name: "g", labels: { split: "pv.>", x: 'a"b\\c\nd' }, value: -1500 });
  expect(f.get("h_seconds")!.samples.length).toBe(5);
});

test("prometheus parser - rejects each kind of violation", () => {
  const bad: [string, string[]][] = [
    ["no newline", ["# TYPE a gauge", "a 1"]],
    ["no TYPE", ["a 1"]],
    ["HELP only", ["# HELP a x", "a 1"]],
    ["other comment", ["# hello", "# TYPE a gauge", "a 1"]],
    ["bad type", ["# TYPE a thing", "a 1"]],
    ["second TYPE", ["# TYPE a gauge", "# TYPE a gauge", "a 1"]],
    ["bad value", ["# TYPE a gauge", "a one"]],
    ["bad label", ["# TYPE a gauge", "a{1x=\"v\"} 1"]],
    ["unquoted label", ["# TYPE a gauge", "a{x=v} 1"]],
    ["bad escape", ["# TYPE a gauge", 'a{x="\\t"} 1']],
    ["duplicate series", ["# TYPE a gauge", 'a{x="1"} 1', 'a{x="1"} 2']],
    ["interleaved", ["# TYPE a gauge", "# TYPE b gauge", "a 1", "b 1", 'a{x="1"} 1']],
    ["empty line", ["# TYPE a gauge", "", "a 1"]],
    ["not cumulative", HIST.map((l) => l.replace('le="1"} 3', 'le="1"} 0'))],
    ["no +Inf", HIST.filter((l) => !l.includes("+Inf"))],
    ["+Inf != count", HIST.map((l) => l.replace("_count 4", "_count 5"))],
    ["no count", HIST.filter((l) => !l.includes("_count"))],
    ["bounds not increasing", HIST.map((l) => l.replace('le="1"', 'le="0.05"'))],
  ];
  for (const [what, lines] of bad) {
    const text = lines.join("\n") + (what === "no newline" ? "" : "\n");
    expect(() => parsePrometheusText(text), what).toThrow();
  }
});
