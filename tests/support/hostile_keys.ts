/**
 * @module
 * Hostile page-view keys for property tests (fast-check): prototype names, emoji, combining marks,
 * control characters, NUL, lone surrogates, keys around the 1 KiB bound — and what pvflow must do
 * with each: count it exactly, or dead-letter it with one reason.
 */
import fc from "fast-check";
import { MAX_KEY_BYTES } from "../../src/source/event_parser.ts";
import type { DeadLetterReason } from "../../src/types.ts";

const enc = new TextEncoder();

/** Any UTF-16 code unit, NUL and lone surrogates included. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));

/** Keys a hostile or careless producer sends. */
export const hostileKey: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom("__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "__defineGetter__", "valueOf",
    "😀", "👩‍👩‍👧", "e\u0301", "\u0301", "a\u0300\u0301\u0302", "\u0001", "\u007f", "\t\n\r", "\u2028\u2029", "\ufeff",
    "\ufffd", "x\ud800", "x\udc00", "\ud83d", "a\u0000b", "a\u0000c", "\u0000", "%00", "%2F", "a/b", "%25", ".", "..", "",
    "x".repeat(MAX_KEY_BYTES), "x".repeat(MAX_KEY_BYTES + 1), "é".repeat(MAX_KEY_BYTES / 2), "😀".repeat(MAX_KEY_BYTES / 4),
    "😀".repeat(MAX_KEY_BYTES / 4) + "x"),
  fc.string({ unit: "binary", minLength: 1, maxLength: 20 }),
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 10 }),
  fc.string({ unit: codeUnit, minLength: 1, maxLength: 12 }),
  fc.string({ unit: fc.integer({ min: 1, max: 0x1f }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 5 }),
  fc.string({ unit: "binary", minLength: 250, maxLength: 400 }), // around the 1 KiB bound in UTF-8
);

/** The reason `key` must be dead-lettered for, or undefined when it must be counted as it is. */
export function expectedReason(key: string): DeadLetterReason | undefined {
  if (key.length === 0) return "key_empty";
  if (enc.encode(key).length > MAX_KEY_BYTES) return "key_too_long";
  if (key.includes("\u0000")) return "key_contains_nul";
  if (!key.isWellFormed()) return "key_lone_surrogate";
  return undefined;
}
