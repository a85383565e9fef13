/**
 * @module
 * Turns one event payload into its key, or into the reason it is dead-lettered. Each payload is
 * read once — scanned from its bytes when that is certain (fast_key_scan.ts), else decoded and
 * parsed; a key is accepted only if the checkpoint store can hold it exactly (no NUL, well-formed
 * UTF-16, at most 1 KiB of UTF-8). With windows on, the event time (a numeric epoch-milliseconds
 * field) is read in the same pass.
 */
import type { DeadLetterReason } from "../types.ts";
import { scanFields } from "./fast_key_scan.ts";

/** Longest accepted key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** A key, or why there is none. */
export type ParseResult =
  | { key: string; ts?: number; reason?: undefined }
  | { key?: undefined; ts?: undefined; reason: DeadLetterReason };

/**
 * Extracts the string field `keyField` from a JSON object payload, and, when `timeField` is given
 * (windows on), its event time as `ts`. Without `timeField` nothing about time is looked at. The
 * common payload is answered by {@link scanFields} from its bytes; whatever that scan is not
 * certain about is decoded and parsed ({@link parseEventSlow}), with the same result.
 */
export function parseEvent(data: Uint8Array, keyField: string, maxEventBytes: number, timeField?: string): ParseResult {
  if (data.length > maxEventBytes) return { reason: "too_large" };
  const f = scanFields(data, keyField, timeField);
  if (f === undefined) return decodeAndCheck(data, keyField, timeField);
  return checkFields(f.key !== undefined, f.key, timeField, f.ts !== undefined, f.ts);
}

/** {@link parseEvent} without the fast path: the reference the fast path is tested against. */
export function parseEventSlow(data: Uint8Array, keyField: string, maxEventBytes: number, timeField?: string): ParseResult {
  if (data.length > maxEventBytes) return { reason: "too_large" };
  return decodeAndCheck(data, keyField, timeField);
}

function decodeAndCheck(data: Uint8Array, keyField: string, timeField: string | undefined): ParseResult {
  let text: string;
  try {
    text = decoder.decode(data);
  } catch {
    return { reason: "not_utf8" };
  }
  let event: unknown;
  try {
    event = JSON.parse(text);
  } catch {
    return { reason: "not_json" };
  }
  if (typeof event !== "object" || event === null || Array.isArray(event)) return { reason: "not_object" };
  const fields = event as Record<string, unknown>;
  const hasKey = Object.hasOwn(fields, keyField);
  const hasTime = timeField !== undefined && Object.hasOwn(fields, timeField);
  return checkFields(hasKey, hasKey ? fields[keyField] : undefined, timeField, hasTime, hasTime ? fields[timeField!] : undefined);
}

/** The checks on the two fields of the top-level object, shared by both paths (`has*`: an own property). */
function checkFields(hasKey: boolean, key: unknown, timeField: string | undefined, hasTime: boolean, ts: unknown): ParseResult {
  if (!hasKey) return { reason: "key_missing" };
  if (typeof key !== "string") return { reason: "key_not_string" };
  if (key.length === 0) return { reason: "key_empty" };
  if (key.length > MAX_KEY_BYTES / 3 && encoder.encode(key).length > MAX_KEY_BYTES) return { reason: "key_too_long" };
  // Keys the store cannot hold exactly (both only reachable through JSON escapes, \u0000 and
  // \ud800): libSQL binds text as UTF-8 and reads it back up to the first NUL, and a lone
  // surrogate becomes U+FFFD — two different keys would share one row. Both checks are a scan
  // of the key only (and a flag test for one-byte strings).
  if (key.indexOf("\u0000") !== -1) return { reason: "key_contains_nul" };
  if (!key.isWellFormed()) return { reason: "key_lone_surrogate" };
  if (timeField === undefined) return { key };
  if (!hasTime) return { reason: "time_missing" };
  if (!isEventTime(ts)) return { reason: "time_invalid" };
  return { key, ts };
}

/**
 * Whether `ts` is a valid event time: epoch milliseconds as a safe non-negative integer (a
 * fraction, a string, a negative or unsafe number would make window boundaries ambiguous).
 */
export function isEventTime(ts: unknown): ts is number {
  return typeof ts === "number" && Number.isSafeInteger(ts) && ts >= 0;
}
