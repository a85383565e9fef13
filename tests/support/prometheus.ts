/**
 * @module
 * A small, strict parser of the Prometheus text exposition format (0.0.4), for tests: it throws
 * with the line number on anything a scraper could reject or misread. Checked: `# HELP` / `# TYPE`
 * lines (at most one each per family, TYPE before the family's samples), sample lines
 * `name{label="value",...} value [timestamp]` with valid names, escapes and numbers; every sample
 * belongs to a family declared by TYPE (histograms: `_bucket` with `le`, `_sum`, `_count`); a
 * family's samples are contiguous; no series appears twice; every histogram's buckets have
 * increasing bounds, cumulative counts, end with `le="+Inf"`, and that bucket equals `_count`.
 */

/** One sample line. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** One metric family. */
export interface Family {
  name: string;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  help?: string;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const FLOAT = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

/** Parses `text` into its families by name; throws on any violation. */
export function parsePrometheusText(text: string): Map<string, Family> {
  if (!text.endsWith("\n")) throw new Error("exposition must end with a newline");
  const families = new Map<string, Family>();
  const series = new Set<string>();
  const closed = new Set<string>();
  const typed = new Set<string>();
  let current: string | undefined;
  const lines = text.slice(0, -1).split("\n");
  lines.forEach((line, i) => {
    const fail = (msg: string): never => {
      throw new Error(`line ${i + 1}: ${msg}: ${JSON.stringify(line)}`);
    };
    if (line === "") fail("empty line");
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line) ?? fail("a comment other than # HELP or # TYPE");
      const [, kind, name, rest] = m;
      if (!METRIC_NAME.test(name)) fail("bad metric name");
      if (closed.has(name)) fail(`family ${name} continues after another family`);
      const f = families.get(name);
      if (kind === "TYPE") {
        if (!TYPES.has(rest)) fail(`unknown type ${rest}`);
        if (typed.has(name)) fail(`second TYPE for ${name}`);
        typed.add(name);
        families.set(name, { ...(f ?? { name, samples: [] }), type: rest as Family["type"] });
      } else {
        if (f?.help !== undefined) fail(`second HELP for ${name}`);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ""))) fail("bad escape in HELP");
        families.set(name, { ...(f ?? { name, samples: [], type: "untyped" }), help: rest });
      }
      if (current !== undefined && current !== name) closed.add(current);
      current = name;
      return;
    }
    const sample = parseSample(line, fail);
    const family = familyOf(sample, families) ?? fail(`sample ${sample.name} has no family declared by TYPE`);
    if (!typed.has(family.name)) fail(`family ${family.name} has no TYPE`);
    if (closed.has(family.name)) fail(`family ${family.name} continues after another family`);
    if (current !== undefined && current !== family.name) closed.add(current);
    current = family.name;
    const key = sample.name + JSON.stringify(Object.entries(sample.labels).sort());
    if (series.has(key)) fail("duplicate series");
    series.add(key);
    family.samples.push(sample);
  });
  for (const f of families.values()) if (f.type === "histogram") checkHistogram(f);
  return families;
}

function parseSample(line: string, fail: (msg: string) => never): Sample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)(?: (-?\d+))?$/.exec(line) ?? fail("not a sample line");
  const [, name, rawLabels, rawValue] = m;
  if (!FLOAT.test(rawValue)) fail(`bad value ${rawValue}`);
  const value = rawValue.endsWith("Inf") ? (rawValue.startsWith("-") ? -Infinity : Infinity) : Number(rawValue);
  const labels: Record<string, string> = {};
  if (rawLabels !== undefined) {
    let rest = rawLabels.slice(1, -1);
    while (rest.length > 0) {
      const lm = /^([^=,"]+)="((?:[^"\\\n]|\\[\\"n])*)"(,?)/.exec(rest) ?? fail(`bad labels ${rawLabels}`);
      const [all, lname, lvalue, comma] = lm;
      if (!LABEL_NAME.test(lname) || lname.startsWith("__")) fail(`bad label name ${lname}`);
      if (lname in labels) fail(`label ${lname} twice`);
      labels[lname] = lvalue.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
      rest = rest.slice(all.length);
      if (comma === "" && rest.length > 0) fail(`bad labels ${rawLabels}`);
    }
  }
  return { name, labels, value };
}

function familyOf(s: Sample, families: Map<string, Family>): Family | undefined {
  const direct = families.get(s.name);
  if (direct && direct.type !== "histogram" && direct.type !== "summary") return direct;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (!s.name.endsWith(suffix)) continue;
    const f = families.get(s.name.slice(0, -suffix.length));
    if (f?.type === "histogram" && (suffix !== "_bucket" || "le" in s.labels)) return f;
    if (f?.type === "summary" && suffix !== "_bucket") return f;
  }
  return undefined;
}

function checkHistogram(f: Family): void {
  const groups = new Map<string, { buckets: [number, number][]; sum?: number; count?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const g = groups.get(key) ?? { buckets: [] };
    groups.set(key, g);
    if (s.name === `${f.name}_bucket`) {
      if (!FLOAT.test(le)) throw new Error(`${f.name}: bad le ${JSON.stringify(le)}`);
      g.buckets.push([le === "+Inf" ? Infinity : Number(le), s.value]);
    } else if (s.name === `${f.name}_sum`) g.sum = s.value;
    else g.count = s.value;
  }
  if (groups.size === 0) throw new Error(`${f.name}: histogram without samples`);
  for (const [key, g] of groups) {
    const where = `${f.name}${key === "[]" ? "" : " " + key}`;
    if (g.sum === undefined || g.count === undefined) throw new Error(`${where}: _sum or _count missing`);
    if (g.buckets.length === 0) throw new Error(`${where}: no buckets`);
    for (let i = 1; i < g.buckets.length; i++) {
      if (!(g.buckets[i][0] > g.buckets[i - 1][0])) throw new Error(`${where}: bucket bounds not increasing`);
      if (g.buckets[i][1] < g.buckets[i - 1][1]) throw new Error(`${where}: buckets not cumulative`);
    }
    const last = g.buckets[g.buckets.length - 1];
    if (last[0] !== Infinity) throw new Error(`${where}: last bucket is not le="+Inf"`);
    if (last[1] !== g.count) throw new Error(`${where}: +Inf bucket ${last[1]} != _count ${g.count}`);
  }
}
