/**
 * @module
 * Bearer-token check for admin endpoints, in constant time: both sides are hashed first so the
 * comparison never depends on where they differ or on their lengths.
 */
import { createHash, timingSafeEqual } from "node:crypto";

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Whether the `Authorization` header carries exactly `Bearer <token>` (the scheme is case-insensitive, RFC 9110). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const presented = header !== undefined && /^bearer /i.test(header) ? header.slice(7) : "";
  return timingSafeEqual(digest(presented), digest(token)) && presented.length > 0;
}
