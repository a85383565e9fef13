/**
 * @module
 * The fast path of {@link parseEvent}: reads an event's key (and event time) straight from the
 * payload bytes — no UTF-8 decode of the whole payload, no object built. It answers ONLY WHEN
 * CERTAIN that `TextDecoder` + `JSON.parse` would give the same fields, and otherwise returns
 * `undefined` ("don't know") so the slow path runs unchanged and finds the exact dead-letter
 * reason. Certain means: the whole payload is pure ASCII and valid JSON (RFC 8259, validated to
 * the last byte, nesting at most {@link MAX_DEPTH} deep), its top value is an object, no
 * top-level member name has an escape, and the last top-level occurrence of the key field (the
 * one `JSON.parse` keeps) is a string without escapes of at most {@link LONGEST_BUILT_KEY} bytes, and
 * that of the time field, when asked for, a number. Anything else — a byte >= 0x80 (so UTF-8
 * validity and a BOM never arise), a grammar error, an escape where it matters — is "don't know".
 *
 * [parseEvent]: ./event_parser.ts
 */

/** Deeper nesting than this is left to the slow path (it is valid JSON, just not worth a fast path). */
export const MAX_DEPTH = 64;

/**
 * Longest key the fast path builds: a longer one is left to the slow path (which dead-letters it
 * as key_too_long: ASCII bytes are UTF-8 bytes). Any bound would be correct; this one keeps
 * the strings built here small.
 */
const LONGEST_BUILT_KEY = 1024;

/** Longest number token read for the time field (an epoch in ms has 13 digits). */
const MAX_TIME_TOKEN = 64;

/** What `JSON.parse` would give for the two fields: `undefined` = not an own property of the top object. */
export interface ScannedFields {
  /** The key field's value (the fast path only answers when it is a string). */
  key: string | undefined;
  /** The time field's value, when a time field was asked for (only answered when a number). */
  ts: number | undefined;
}

const FAIL = -1;
// the last occurrence of a field, as JSON.parse keeps the last of duplicate members
const ABSENT = 0;
const CERTAIN = 1;
const UNSURE = 2;

/** Whether the last string scanned by {@link scanString} had an escape. */
let sawEscape = false;

/**
 * The fields `keyField` and `timeField` of the top-level object in `data`, exactly as
 * `JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(data))` would hold them, or
 * `undefined` when that is not certain (the caller then decodes and parses).
 */
export function scanFields(data: Uint8Array, keyField: string, timeField?: string): ScannedFields | undefined {
  const n = data.length;
  let i = skipWs(data, 0);
  if (i >= n || data[i] !== 0x7b) return undefined; // not an object (or empty, or not JSON)
  let keyState = ABSENT, keyStart = 0, keyEnd = 0;
  let timeState = ABSENT, timeStart = 0, timeEnd = 0;
  i = skipWs(data, i + 1);
  if (i < n && data[i] === 0x7d) {
    i++;
  } else {
    for (;;) {
      if (i >= n || data[i] !== 0x22) return undefined;
      const nameStart = i + 1;
      i = scanString(data, nameStart);
      // an escaped name may still equal a field ("us\u0065r"): not worth decoding here
      if (i === FAIL || sawEscape) return undefined;
      const nameEnd = i - 1;
      i = colon(data, i);
      if (i === FAIL) return undefined;
      const valueStart = i;
      i = scanValue(data, i, 1);
      if (i === FAIL) return undefined;
      const first = data[valueStart];
      if (nameIs(data, nameStart, nameEnd, keyField)) {
        if (first === 0x22 && !sawEscape && i - 1 - (valueStart + 1) <= LONGEST_BUILT_KEY) {
          keyState = CERTAIN, keyStart = valueStart + 1, keyEnd = i - 1;
        } else {
          keyState = UNSURE;
        }
      }
      if (timeField !== undefined && nameIs(data, nameStart, nameEnd, timeField)) {
        if ((first === 0x2d || isDigit(first)) && i - valueStart <= MAX_TIME_TOKEN) {
          timeState = CERTAIN, timeStart = valueStart, timeEnd = i;
        } else {
          timeState = UNSURE;
        }
      }
      i = skipWs(data, i);
      if (i >= n) return undefined;
      const c = data[i++];
      if (c === 0x7d) break;
      if (c !== 0x2c) return undefined;
      i = skipWs(data, i);
    }
  }
  if (skipWs(data, i) !== n) return undefined; // something after the top value
  if (keyState === UNSURE || timeState === UNSURE) return undefined;
  return {
    key: keyState === CERTAIN ? ascii(data, keyStart, keyEnd) : undefined,
    ts: timeState === CERTAIN ? numberToken(data, timeStart, timeEnd) : undefined,
  };
}

/** Whether the escape-free ASCII name `data[start, end)` is `field`. */
function nameIs(data: Uint8Array, start: number, end: number, field: string): boolean {
  if (end - start !== field.length) return false;
  for (let j = 0; j < field.length; j++) if (data[start + j] !== field.charCodeAt(j)) return false;
  return true;
}

const char = String.fromCharCode;
const codes: number[] = [];

/**
 * The string of the ASCII bytes `data[start, end)` (at most a few KiB). Short ones, the common
 * key, by one `fromCharCode` call with the bytes as arguments: measured (Bun 1.4) about twice as
 * fast as `fromCharCode.apply` over an array and three times over a subarray or a TextDecoder.
 */
function ascii(data: Uint8Array, start: number, end: number): string {
  const s = start;
  switch (end - start) {
    case 0: return "";
    case 1: return char(data[s]);
    case 2: return char(data[s], data[s + 1]);
    case 3: return char(data[s], data[s + 1], data[s + 2]);
    case 4: return char(data[s], data[s + 1], data[s + 2], data[s + 3]);
    case 5: return char(data[s], data[s + 1], data[s + 2], data[s + 3], data[s + 4]);
    case 6: return char(data[s], data[s + 1], data[s + 2], data[s + 3], data[s + 4], data[s + 5]);
    case 7: return char(data[s], data[s + 1], data[s + 2], data[s + 3], data[s + 4], data[s + 5], data[s + 6]);
    case 8: return char(data[s], data[s + 1], data[s + 2], data[s + 3], data[s + 4], data[s + 5], data[s + 6], data[s + 7]);
  }
  codes.length = 0;
  for (let j = start; j < end; j++) codes.push(data[j]);
  return char.apply(null, codes);
}

/** The value of a valid JSON number token: digits only up to 15 are exact in a double; else `Number()`, which reads JSON numbers as JSON.parse does. */
function numberToken(data: Uint8Array, start: number, end: number): number {
  if (end - start <= 15) {
    let v = 0;
    for (let j = start; j < end; j++) {
      const d = data[j] - 0x30;
      if (d < 0 || d > 9) return Number(ascii(data, start, end));
      v = v * 10 + d;
    }
    return v;
  }
  return Number(ascii(data, start, end));
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

/** JSON whitespace is exactly space, tab, LF, CR. */
function skipWs(data: Uint8Array, i: number): number {
  const n = data.length;
  while (i < n) {
    const c = data[i];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

/** One value at `data[i]` (not whitespace); the index after it, or FAIL. */
function scanValue(data: Uint8Array, i: number, depth: number): number {
  if (i >= data.length) return FAIL;
  const c = data[i];
  if (c === 0x22) return scanString(data, i + 1);
  if (c === 0x7b) return scanContainer(data, i + 1, depth + 1, 0x7d);
  if (c === 0x5b) return scanContainer(data, i + 1, depth + 1, 0x5d);
  if (c === 0x2d || isDigit(c)) return scanNumber(data, i);
  if (c === 0x74) return literal(data, i, "true");
  if (c === 0x66) return literal(data, i, "false");
  if (c === 0x6e) return literal(data, i, "null");
  return FAIL;
}

function literal(data: Uint8Array, i: number, word: string): number {
  if (i + word.length > data.length) return FAIL;
  for (let j = 0; j < word.length; j++) if (data[i + j] !== word.charCodeAt(j)) return FAIL;
  return i + word.length;
}

/** A string whose opening quote is before `i`; the index after the closing quote, or FAIL. Sets {@link sawEscape}. */
function scanString(data: Uint8Array, i: number): number {
  const n = data.length;
  sawEscape = false;
  while (i < n) {
    const c = data[i++];
    if (c === 0x22) return i;
    if (c === 0x5c) {
      sawEscape = true;
      if (i >= n) return FAIL;
      const e = data[i++];
      if (e === 0x75) {
        if (i + 4 > n) return FAIL;
        for (let j = 0; j < 4; j++) if (!isHex(data[i++])) return FAIL;
      } else if (e !== 0x22 && e !== 0x5c && e !== 0x2f && e !== 0x62 && e !== 0x66 && e !== 0x6e && e !== 0x72 && e !== 0x74) {
        return FAIL;
      }
    } else if (c < 0x20 || c >= 0x80) {
      return FAIL; // a raw control character is invalid JSON; non-ASCII is left to the decoder
    }
  }
  return FAIL;
}

/** -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at `i`; the index after it, or FAIL. */
function scanNumber(data: Uint8Array, i: number): number {
  const n = data.length;
  if (data[i] === 0x2d) i++;
  if (i >= n) return FAIL;
  if (data[i] === 0x30) i++;
  else if (isDigit(data[i])) while (i < n && isDigit(data[i])) i++;
  else return FAIL;
  if (i < n && data[i] === 0x2e) {
    i++;
    if (i >= n || !isDigit(data[i])) return FAIL;
    while (i < n && isDigit(data[i])) i++;
  }
  if (i < n && (data[i] === 0x65 || data[i] === 0x45)) {
    i++;
    if (i < n && (data[i] === 0x2b || data[i] === 0x2d)) i++;
    if (i >= n || !isDigit(data[i])) return FAIL;
    while (i < n && isDigit(data[i])) i++;
  }
  return i;
}

/**
 * An array (`close` = `]`) or a nested object (`close` = `}`) whose opening bracket is before
 * `i`, at nesting `depth`; the index after its closing bracket, or FAIL.
 */
function scanContainer(data: Uint8Array, i: number, depth: number, close: number): number {
  if (depth > MAX_DEPTH) return FAIL;
  const n = data.length;
  i = skipWs(data, i);
  if (i < n && data[i] === close) return i + 1;
  for (;;) {
    if (close === 0x7d) {
      if (i >= n || data[i] !== 0x22) return FAIL;
      i = scanString(data, i + 1);
      if (i === FAIL) return FAIL;
      i = colon(data, i);
      if (i === FAIL) return FAIL;
    }
    i = scanValue(data, i, depth);
    if (i === FAIL) return FAIL;
    i = skipWs(data, i);
    if (i >= n) return FAIL;
    const c = data[i++];
    if (c === close) return i;
    if (c !== 0x2c) return FAIL;
    i = skipWs(data, i);
  }
}

/** The `:` after a member name at `i`, with the whitespace around it; the index of the value, or FAIL. */
function colon(data: Uint8Array, i: number): number {
  i = skipWs(data, i);
  if (i >= data.length || data[i] !== 0x3a) return FAIL;
  return skipWs(data, i + 1);
}
