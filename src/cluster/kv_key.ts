/**
 * @module
 * Split and member names as NATS KV key tokens: a split is a subject (`pv.0`, `pv.>`), and a key
 * token may hold only `A-Z a-z 0-9 _ -`; every other byte becomes `=XX` (its hex), reversibly.
 */

const PLAIN = /^[A-Za-z0-9_-]$/;

/** `pv.0` → `pv=2E0`; the empty name is refused (it would be an empty token). */
export function encodeKeyToken(name: string): string {
  if (name === "") throw new Error("a lease key name must not be empty");
  let out = "";
  for (const ch of name) {
    if (PLAIN.test(ch)) out += ch;
    else for (const b of new TextEncoder().encode(ch)) out += `=${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** The inverse of {@link encodeKeyToken}. */
export function decodeKeyToken(token: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === "=") {
      bytes.push(parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(token.charCodeAt(i));
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}
