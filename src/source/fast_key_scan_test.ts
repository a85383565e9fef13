/**
 * @module
 * Differential tests of the fast path ({@link scanFields}) against the slow one (TextDecoder +
 * JSON.parse, {@link parseEventSlow}): for random JSON objects — random member names with the
 * key and time fields among them, duplicates, escaped names, nested values, numbers of every
 * shape, strings with escapes and Unicode, all JSON whitespace — and byte-level mutations of
 * them (deleted, inserted, flipped bytes, truncation, garbage, bytes >= 0x80, a BOM, NUL), and
 * hand-written edge cases, {@link parseEvent} gives exactly the slow path's result, and whenever
 * the scan answers, its fields are those of `JSON.parse`. A completeness property checks the
 * scan does answer on plain payloads (else a scan that always said "don't know" would pass).
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { parseEvent, parseEventSlow } from "./event_parser.ts";
import { MAX_DEPTH, scanFields, type ScannedFields } from "./fast_key_scan.ts";

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

/** The fields as the slow path sees them, or undefined when the payload is not a JSON object. */
function referenceFields(data: Uint8Array, keyField: string, timeField?: string): ScannedFields | undefined {
  let event: unknown;
  try {
    event = JSON.parse(dec.decode(data));
  } catch {
    return undefined;
  }
  if (typeof event !== "object" || event === null || Array.isArray(event)) return undefined;
  const o = event as Record<string, unknown>;
  const key = Object.hasOwn(o, keyField) ? o[keyField] : undefined;
  const ts = timeField !== undefined && Object.hasOwn(o, timeField) ? o[timeField] : undefined;
  return { key, ts } as ScannedFields;
}

/** The one check of every test: same result on both paths, and a scan that answers answers right. */
function agree(data: Uint8Array, keyField: string, timeField?: string, maxEventBytes = 65536): boolean {
  const fast = parseEvent(data, keyField, maxEventBytes, timeField);
  const slow = parseEventSlow(data, keyField, maxEventBytes, timeField);
  expect(Object.keys(fast).sort()).toEqual(Object.keys(slow).sort());
  expect(fast).toEqual(slow); // Object.is on each value: -0 and 0 differ
  const scanned = scanFields(data, keyField, timeField);
  if (scanned !== undefined) {
    const ref = referenceFields(data, keyField, timeField);
    expect(ref).toBeDefined();
    expect(Object.is(scanned.key, ref!.key)).toBe(true);
    expect(Object.is(scanned.ts, ref!.ts)).toBe(true);
  }
  return scanned !== undefined;
}

// ---- generators of JSON text -------------------------------------------------------------

const ws = fc.constantFrom("", "", "", " ", "\t", "\n", "\r", "\r\n", "  ", " \n\t ");

const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: min, maxLength: max });
const intPart = fc.oneof(fc.constant("0"), fc.tuple(fc.constantFrom(..."123456789"), digits(0, 20)).map(([a, b]) => a + b));
const numberText: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(fc.boolean(), intPart, fc.option(digits(1, 8)), fc.option(fc.tuple(fc.constantFrom("e", "E"), fc.constantFrom("", "+", "-"), digits(1, 4))))
    .map(([neg, i, frac, exp]) => `${neg ? "-" : ""}${i}${frac === null ? "" : "." + frac}${exp === null ? "" : exp.join("")}`),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER + 10 }).map(String),
  fc.constantFrom("0", "-0", "1700000000000", "999999999999999", "1000000000000000", "9007199254740991", "9007199254740992",
    "9007199254740993", "1e400", "-1e400", "1E2", "1.0", "1700000000000.0", "17e11", "0.0000001", "123456789012345678901234567890"),
);

const hex4 = fc.string({ unit: fc.constantFrom(..."0123456789abcdefABCDEF"), minLength: 4, maxLength: 4 });
/** One character of a JSON string literal, as text: plain ASCII, an escape, or (unless asciiOnly) raw Unicode. */
const stringChar = (asciiOnly: boolean, escapes: boolean): fc.Arbitrary<string> => {
  const plain = fc.integer({ min: 0x20, max: 0x7f }).filter((c) => c !== 0x22 && c !== 0x5c).map((c) => String.fromCharCode(c));
  const parts: fc.Arbitrary<string>[] = [plain, plain, plain];
  if (escapes) {
    parts.push(
      fc.constantFrom('\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\u0000", "\\ud800", "\\udc00", "\\ud83d\\ude00", "\\u0041"),
      hex4.map((h) => "\\u" + h),
    );
  }
  if (!asciiOnly) parts.push(fc.constantFrom("é", "😀", "\u2028", "\u00ff", "\u0080", "\ufeff", "中"));
  return fc.oneof(...parts);
};
const stringText = (asciiOnly: boolean, escapes: boolean, maxLength = 8) =>
  fc.string({ unit: stringChar(asciiOnly, escapes), maxLength }).map((s) => `"${s}"`);

/** Any JSON value as text, nested up to a few levels. */
const valueText = (asciiOnly: boolean): fc.Arbitrary<string> => {
  const { value } = fc.letrec<{ value: string; array: string; object: string }>((tie) => ({
    value: fc.oneof({ depthSize: "small", withCrossShrink: true },
      stringText(asciiOnly, true), numberText, fc.constantFrom("true", "false", "null"), tie("array"), tie("object")),
    array: fc.tuple(ws, fc.array(fc.tuple(ws, tie("value"), ws).map((p) => p.join("")), { maxLength: 4 }))
      .map(([w, xs]) => `[${xs.length ? xs.join(",") : w}]`),
    object: fc.tuple(ws, fc.array(fc.tuple(ws, fieldName(asciiOnly, true), ws, ws, tie("value"), ws), { maxLength: 4 }))
      .map(([w, ms]) => `{${ms.length ? ms.map(([a, n, b, c, v, d]) => `${a}${n}${b}:${c}${v}${d}`).join(",") : w}}`),
  }));
  return value;
};

const KEY_FIELDS = ["user", "site", "ts"];
/** Member names: the fields themselves, look-alikes and escaped spellings of them, and random ones. */
const fieldName = (asciiOnly: boolean, escapes: boolean): fc.Arbitrary<string> => fc.oneof(
  fc.constantFrom('"user"', '"site"', '"ts"', '"User"', '"user "', '"use"', '"users"', '"__proto__"', '""', '"a"'),
  ...(escapes ? [fc.constantFrom('"us\\u0065r"', '"\\u0075ser"', '"t\\u0073"', '"si\\u0074e"', '"user\\u0000"')] : []),
  stringText(asciiOnly, escapes, 5),
);

/** A value for a member named after a field: mostly a plausible key or time, sometimes anything. */
const fieldValue = (asciiOnly: boolean, keyEscapes: boolean) => fc.oneof(
  stringText(asciiOnly, keyEscapes, 12), stringText(asciiOnly, keyEscapes, 12), numberText, valueText(asciiOnly),
  fc.constantFrom('""', '"u42"', "1700000000000", "null", "true", "[]", "{}"),
);

/** A JSON object text: members with random names (the fields among them, possibly twice), random spacing. */
const objectText = (asciiOnly: boolean, escapes: boolean) => {
  const named = fc.tuple(fc.constantFrom(...KEY_FIELDS), fieldValue(asciiOnly, escapes)).map(([n, v]) => [`"${n}"`, v] as const);
  const other = fc.tuple(fieldName(asciiOnly, escapes), valueText(asciiOnly)).map(([n, v]) => [n, v] as const);
  const member = fc.tuple(ws, fc.oneof(named, named, other), ws, ws, ws).map(([a, [n, v], b, c, d]) => `${a}${n}${b}:${c}${v}${d}`);
  return fc.tuple(ws, ws, fc.array(member, { maxLength: 6 }), ws).map(([a, b, ms, c]) => `${a}{${ms.length ? ms.join(",") : b}}${c}`);
};

/** A payload whose fields the scan must answer for: ASCII, escape-free names, plain key strings, numeric times. */
const plainObjectText = (keyField: string, timeField: string | undefined) => {
  const isField = (n: string) => n === `"${keyField}"` || n === `"${timeField}"`;
  const name = stringText(true, false, 5);
  const other = fc.tuple(name, valueText(true)).filter(([n]) => !isField(n));
  const keyMember = stringText(true, false, 12).map((v) => [`"${keyField}"`, v] as const);
  const timeMember = numberText.map((v) => [`"${timeField}"`, v] as const);
  const members = timeField === undefined || timeField === keyField ? [keyMember, other] : [keyMember, timeMember, other];
  const member = fc.tuple(ws, fc.oneof(...members), ws, ws, ws).map(([a, [n, v], b, c, d]) => `${a}${n}${b}:${c}${v}${d}`);
  return fc.tuple(ws, fc.array(member, { maxLength: 6 }), ws).map(([a, ms, b]) => `${a}{${ms.join(",")}}${b}`);
};

// ---- byte-level mutations ---------------------------------------------------------------

const INTERESTING = [0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x30, 0x31, 0x2d, 0x2b, 0x2e, 0x65, 0x45, 0x20, 0x09, 0x0a, 0x0d,
  0x0c, 0x0b, 0x00, 0x1f, 0x7f, 0x80, 0xbf, 0xc3, 0xed, 0xef, 0xf0, 0xff, 0x75, 0x74, 0x6e];
const aByte = fc.oneof(fc.constantFrom(...INTERESTING), fc.integer({ min: 0, max: 255 }));
/** JSON fragments that make near-misses when spliced in anywhere: trailing commas, bad numbers, bad escapes. */
const FRAGMENTS = [",", ",}", ",]", "[,", "{,", "-", "+", ".", "e", "E", "e.", "0", "00", "\\", '"', "\\u", "\\x", ":", "::", "}", "]", "{", "[",
  "tru", "nul", "true", "null", " ", "\f", "\u000b", "1", "1e", "-0", ".5", "é", "\u0000"];
type Mutation = { op: "delete" | "insert" | "replace" | "truncate" | "append" | "bom" | "flip" | "splice"; at: number; byte: number; bit: number; garbage: string; fragment: string };
const mutation: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom("delete", "insert", "replace", "truncate", "append", "bom", "flip", "splice", "splice"),
  fragment: fc.constantFrom(...FRAGMENTS),
  at: fc.nat(),
  byte: aByte,
  bit: fc.integer({ min: 0, max: 7 }),
  garbage: fc.constantFrom("x", "}", "]", ",", "{}", " 1", "\u0000", "é", '"', "\n\t"),
});

function mutate(bytes: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = Array.from(bytes);
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1);
    if (m.op === "delete") b.splice(at, 1);
    else if (m.op === "insert") b.splice(at, 0, m.byte);
    else if (m.op === "replace" && at < b.length) b[at] = m.byte;
    else if (m.op === "flip" && at < b.length) b[at] ^= 1 << m.bit;
    else if (m.op === "truncate") b = b.slice(0, at);
    else if (m.op === "append") b.push(...enc.encode(m.garbage));
    else if (m.op === "bom") b.unshift(0xef, 0xbb, 0xbf);
    else if (m.op === "splice") b.splice(at, 0, ...enc.encode(m.fragment));
  }
  return new Uint8Array(b);
}

const fields = fc.record({
  keyField: fc.constantFrom("user", "user", "site", "ts", "__proto__", ""),
  timeField: fc.constantFrom(undefined, undefined, "ts", "ts", "user", "toString"),
  maxEventBytes: fc.constantFrom(65536, 65536, 65536, 30),
});

// ---- the tests ---------------------------------------------------------------------------

describe("fast key scan", () => {
  test("fast key scan - property: on random JSON objects, parseEvent equals the slow path", () => {
    let answered = 0;
    fc.assert(
      fc.property(fc.boolean().chain((a) => fc.boolean().chain((e) => objectText(a, e))), fields, (text, f) => {
        if (agree(enc.encode(text), f.keyField, f.timeField, f.maxEventBytes)) answered++;
      }),
      { numRuns: 4000 },
    );
    expect(answered).toBeGreaterThan(400); // the fast path is exercised, not just the fallback
  });

  test("fast key scan - property: on byte-level mutations of them, parseEvent equals the slow path", () => {
    fc.assert(
      fc.property(fc.boolean().chain((a) => objectText(a, true)), fc.array(mutation, { minLength: 1, maxLength: 3 }), fields, (text, ms, f) => {
        agree(mutate(enc.encode(text), ms), f.keyField, f.timeField, f.maxEventBytes);
      }),
      { numRuns: 10000 },
    );
  });

  test("fast key scan - property: any JSON value at the top, and any value under the key field, agree", () => {
    fc.assert(
      fc.property(fc.boolean().chain(valueText), fc.boolean().chain(valueText), fields, (top, v, f) => {
        agree(enc.encode(top), f.keyField, f.timeField);
        agree(enc.encode(`{"${f.keyField}":${v},"ts":${v}}`), f.keyField, f.timeField);
      }),
      { numRuns: 3000 },
    );
  });

  test("fast key scan - property: the scan answers on every plain payload (ASCII, plain names and key, numeric time)", () => {
    fc.assert(
      fc.property(fc.constantFrom("user", "site").chain((k) => fc.constantFrom(undefined, "ts").chain((t) =>
        plainObjectText(k, t).map((text) => [text, k, t] as const))), ([text, k, t]) => {
        expect(agree(enc.encode(text), k, t)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  test("fast key scan - the common shape is answered by the scan, with the slow path's result", () => {
    const common = enc.encode('{"site":"s1","user":"u42","ts":1700000000000}');
    expect(scanFields(common, "user", "ts")).toEqual({ key: "u42", ts: 1700000000000 });
    expect(scanFields(common, "site")).toEqual({ key: "s1", ts: undefined });
    expect(parseEvent(common, "user", 65536, "ts")).toEqual({ key: "u42", ts: 1700000000000 });
    expect(agree(common, "user", "ts")).toBe(true);
    expect(agree(common, "site")).toBe(true);
    expect(agree(common, "missing")).toBe(true); // key_missing is certain too
    expect(parseEvent(common, "missing", 65536)).toEqual({ reason: "key_missing" });
  });

  test("fast key scan - hand-written edge cases agree, and the uncertain ones fall back", () => {
    const deep = (d: number) => `{"user":"x","n":${"[".repeat(d)}${"]".repeat(d)}}`;
    const cases: [string, string, string | undefined, boolean][] = [
      // [payload, key field, time field, whether the scan must answer]
      ['{"user":"a","user":"b"}', "user", undefined, true],
      ['{"user":"a","user":1}', "user", undefined, false],
      ['{"user":1,"user":"b"}', "user", undefined, true],
      ['{"user":"a","ts":1,"ts":"x"}', "user", "ts", false],
      ['{"user":"a","ts":"x","ts":2}', "user", "ts", true],
      ['{"us\\u0065r":"x"}', "user", undefined, false],
      ['{"user":"x","us\\u0065r":"y"}', "user", undefined, false],
      ['{"user":"\\u0000"}', "user", undefined, false],
      ['{"user":"\\ud800"}', "user", undefined, false],
      ['{"user":"a\\"b"}', "user", undefined, false],
      ['"user"', "user", undefined, false],
      ["[]", "user", undefined, false],
      ["", "user", undefined, false],
      ["   ", "user", undefined, false],
      ["{}", "user", undefined, true],
      ['{"a":{"user":"x"}}', "user", undefined, true],
      ['{"a":[{"user":"x"}]}', "user", undefined, true],
      ['{"user":"x"}garbage', "user", undefined, false],
      ['{"user":"x"} ', "user", undefined, true],
      ['{"user":"x"}\f', "user", undefined, false], // form feed is not JSON whitespace
      ['{"user":"x"}\u00a0', "user", undefined, false],
      ['\ufeff{"user":"x"}', "user", undefined, false],
      ['{"user":"x"}{}', "user", undefined, false],
      ['{"user":"x",}', "user", undefined, false],
      ['{"user" "x"}', "user", undefined, false],
      ['{"user":"x" "a":1}', "user", undefined, false],
      ['{"user":"\t"}', "user", undefined, false], // raw tab inside a string
      ['{"user":"\u007f"}', "user", undefined, true], // DEL is allowed raw
      ['{"user":"é"}', "user", undefined, false],
      ['{"user":""}', "user", undefined, true],
      ['{"user":"' + "k".repeat(1024) + '"}', "user", undefined, true],
      ['{"user":"' + "k".repeat(1025) + '"}', "user", undefined, false],
      ['{"user":"x","ts":01}', "user", "ts", false],
      ['{"user":"x","ts":1.}', "user", "ts", false],
      ['{"user":"x","ts":.5}', "user", "ts", false],
      ['{"user":"x","ts":+1}', "user", "ts", false],
      ['{"user":"x","ts":1e}', "user", "ts", false],
      ['{"user":"x","ts":1e+}', "user", "ts", false],
      ['{"user":"x","ts":-}', "user", "ts", false],
      ['{"user":"x","ts":1e.5}', "user", "ts", false],
      ['{"user":"x","ts":1e-.5}', "user", "ts", false],
      ['{"user":"x","ts":-01}', "user", "ts", false],
      ['{"user":"x","ts":--1}', "user", "ts", false],
      ['{"user":"x","ts":-+1}', "user", "ts", false],
      ['{"user":"x","a":{"b":1,}}', "user", undefined, false],
      ['{"user":"x","a":{,}}', "user", undefined, false],
      ['{"user":"x","a":{"b"}}', "user", undefined, false],
      ['{"user":"x","a":{"b":}}', "user", undefined, false],
      ['{"user":"x","a":{b:1}}', "user", undefined, false],
      ['{"user":"x","a":[1,]}', "user", undefined, false],
      ['{"user":"x","a":[,1]}', "user", undefined, false],
      ['{"user":"x","a":[1 2]}', "user", undefined, false],
      ['{"user":"x","a":[1,2],"b":{"c":[{}]}}', "user", undefined, true],
      ['{"user":"x","ts":0x10}', "user", "ts", false],
      ['{"user":"x","ts":NaN}', "user", "ts", false],
      ['{"user":"x","ts":Infinity}', "user", "ts", false],
      ['{"user":"x","ts":-0}', "user", "ts", true],
      ['{"user":"x","ts":1e400}', "user", "ts", true],
      ['{"user":"x","ts":1.5}', "user", "ts", true],
      ['{"user":"x","ts":17e11}', "user", "ts", true],
      ['{"user":"x","ts":9007199254740992}', "user", "ts", true],
      ['{"user":"x","ts":"1700000000000"}', "user", "ts", false],
      ['{"user":"x"}', "user", "ts", true],
      ['{"ts":1}', "user", "ts", true],
      ['{"user":"x","ts":tru}', "user", "ts", false],
      ['{"user":"x","a":nul}', "user", undefined, false],
      ['{"user":"x","a":"\\x"}', "user", undefined, false],
      ['{"user":"x","a":"\\u12"}', "user", undefined, false],
      ['{"user":"x","a":"\\u12G4"}', "user", undefined, false],
      ['{"user":"x","a":"\\uABcd"}', "user", undefined, true],
      ['{"user":"x","a":"\\', "user", undefined, false],
      ['{"user":"x"', "user", undefined, false],
      ['{"user":', "user", undefined, false],
      ['{"__proto__":"p"}', "__proto__", undefined, true],
      ['{"a":1}', "toString", undefined, true],
      ['{"user":"x"}', "user", "user", false],
      ['{"user":5}', "user", "user", false],
      [deep(MAX_DEPTH - 1), "user", undefined, true],
      [deep(MAX_DEPTH), "user", undefined, false],
      [deep(10_000), "user", undefined, false],
      ['{"user":"x","n":' + "[".repeat(10_000), "user", undefined, false],
    ];
    for (const [text, k, t, answers] of cases) {
      const data = enc.encode(text);
      if (agree(data, k, t) !== answers) throw new Error(`scan ${answers ? "did not answer" : "answered"} on ${JSON.stringify(text)}`);
    }
    // raw bytes that are no UTF-8 at all, and NUL bytes
    for (const bytes of [[0x7b, 0xff, 0x7d], [0x7b, 0x22, 0x75, 0x22, 0x3a, 0x22, 0x00, 0x22, 0x7d], [0x7b, 0x00, 0x7d], [0x00]]) {
      expect(agree(new Uint8Array(bytes), "u")).toBe(false);
    }
  });
});
