/**
 * @module
 * Tests for {@link parseEvent}: every reason on a fixed example, and a fast-check property over
 * hostile keys — any UTF-16 string, as a JSON producer would escape it — that a key comes back
 * exactly or is dead-lettered with the one right reason.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { expectedReason, hostileKey } from "../../tests/support/hostile_keys.ts";
import { MAX_KEY_BYTES, parseEvent } from "./event_parser.ts";

const enc = new TextEncoder();
const payload = (event: unknown) => enc.encode(JSON.stringify(event));
const parse = (event: unknown, keyField = "site") => parseEvent(payload(event), keyField, 65536);

describe("event parser", () => {
  test("event parser - each malformed event gets its reason", () => {
    expect(parseEvent(enc.encode("x".repeat(11)), "site", 10)).toEqual({ reason: "too_large" });
    expect(parseEvent(new Uint8Array([0x7b, 0xff, 0x7d]), "site", 100)).toEqual({ reason: "not_utf8" });
    // CESU-8 (a surrogate encoded in UTF-8 bytes) is not UTF-8
    expect(parseEvent(new Uint8Array([0x22, 0xed, 0xa0, 0x80, 0x22]), "site", 100)).toEqual({ reason: "not_utf8" });
    expect(parseEvent(enc.encode('{"site": "a\u0000b"}'), "site", 100)).toEqual({ reason: "not_json" }); // a raw NUL
    expect(parse([1])).toEqual({ reason: "not_object" });
    expect(parse({ other: "a" })).toEqual({ reason: "key_missing" });
    expect(parse({ site: 1 })).toEqual({ reason: "key_not_string" });
    expect(parse({ site: "" })).toEqual({ reason: "key_empty" });
    expect(parse({ site: "k".repeat(MAX_KEY_BYTES + 1) })).toEqual({ reason: "key_too_long" });
    expect(parse({ site: "a\u0000b" })).toEqual({ reason: "key_contains_nul" });
    expect(parse({ site: "x\ud800" })).toEqual({ reason: "key_lone_surrogate" });
    expect(parse({ site: "x\udc00" })).toEqual({ reason: "key_lone_surrogate" });
    expect(parse({ site: "\udc00\ud800" })).toEqual({ reason: "key_lone_surrogate" }); // reversed pair
  });

  test("event parser - keys that are object-prototype names, and such a key field, are ordinary", () => {
    for (const k of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
      expect(parseEvent(enc.encode(`{"site": ${JSON.stringify(k)}}`), "site", 100)).toEqual({ key: k });
    }
    expect(parseEvent(enc.encode('{"__proto__": "p"}'), "__proto__", 100)).toEqual({ key: "p" });
    expect(parseEvent(enc.encode('{"a": 1}'), "__proto__", 100)).toEqual({ reason: "key_missing" });
    expect(parseEvent(enc.encode('{"a": 1}'), "toString", 100)).toEqual({ reason: "key_missing" });
  });

  test("event parser - property: a key comes back exactly, or is dead-lettered with the right reason", () => {
    fc.assert(
      fc.property(hostileKey, fc.boolean(), (key, asciiOnly) => {
        // Producers escape differently: JSON.stringify (raw UTF-8, escaped lone surrogates) or all-ASCII \u escapes.
        const json = asciiOnly
          ? JSON.stringify({ site: key }).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
          : JSON.stringify({ user: "u1", site: key, ts: 1 });
        const r = parseEvent(enc.encode(json), "site", 65536);
        const reason = expectedReason(key);
        if (reason === undefined) expect(r).toEqual({ key });
        else expect(r).toEqual({ reason });
      }),
      { numRuns: 2000 },
    );
  });
});

describe("event parser - event time", () => {
  test("event parser - with a time field, the time comes back or the event gets its reason", () => {
    const p = (event: unknown) => parseEvent(payload(event), "site", 65536, "ts");
    expect(p({ site: "a", ts: 1700000000000 })).toEqual({ key: "a", ts: 1700000000000 });
    expect(p({ site: "a", ts: 0 })).toEqual({ key: "a", ts: 0 });
    expect(p({ site: "a" })).toEqual({ reason: "time_missing" });
    expect(p({ site: "a", ts: "1700000000000" })).toEqual({ reason: "time_invalid" });
    expect(p({ site: "a", ts: 1.5 })).toEqual({ reason: "time_invalid" });
    expect(p({ site: "a", ts: -1 })).toEqual({ reason: "time_invalid" });
    expect(p({ site: "a", ts: null })).toEqual({ reason: "time_invalid" });
    expect(p({ site: "a", ts: 2 ** 53 })).toEqual({ reason: "time_invalid" });
    expect(parseEvent(enc.encode('{"site":"a","ts":1e400}'), "site", 100, "ts")).toEqual({ reason: "time_invalid" });
    // a key problem is reported first, and a time field on the prototype is not a field
    expect(p({ site: "", ts: 1 })).toEqual({ reason: "key_empty" });
    expect(parseEvent(enc.encode('{"site":"a"}'), "site", 100, "toString")).toEqual({ reason: "time_missing" });
    // without a time field, the time is not looked at
    expect(parse({ site: "a", ts: "nope" })).toEqual({ key: "a" });
  });

  test("event parser - property: any safe non-negative integer time comes back exactly, anything else is time_invalid", () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.double(), fc.string(), fc.boolean()), (ts) => {
        const r = parseEvent(payload({ site: "k", ts }), "site", 65536, "ts");
        const valid = typeof ts === "number" && Number.isSafeInteger(ts) && ts >= 0;
        // JSON turns NaN/Infinity into null and -0 into 0
        const sent = JSON.parse(JSON.stringify({ ts })).ts;
        if (valid) expect(r).toEqual({ key: "k", ts: sent });
        else if (typeof sent === "number" && Number.isSafeInteger(sent) && sent >= 0) expect(r).toEqual({ key: "k", ts: sent });
        else expect(r).toEqual({ reason: "time_invalid" });
      }),
      { numRuns: 1000 },
    );
  });
});
