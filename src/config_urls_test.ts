/**
 * @module
 * Tests for {@link redactUrl}: a table of the URL forms met in practice, then a property test
 * (fast-check) that no generated password or token — nor any 4-character piece of one — ever
 * appears in the redacted text, whatever characters it holds.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { redactUrl } from "./config_urls.ts";

describe("config urls - redactUrl", () => {
  const cases: Array<[string, string]> = [
    ["nats://user:pass@h:4222", "nats://***@h:4222"],
    ["nats://user@h:4222", "nats://***@h:4222"],
    ["nats://s3cretToken@127.0.0.1:4222", "nats://***@127.0.0.1:4222"],
    ["nats://u:pa#ss@h:4222", "nats://***@h:4222"],
    ["nats://u:pa/ss@h:4222", "nats://***@h:4222"],
    ["nats://u:pa?ss@h:4222", "nats://***@h:4222"],
    ["nats://u:pa@ss@h:4222", "nats://***@h:4222"],
    ["nats://u:p#a/b?c@d@host:4222", "nats://***@host:4222"],
    ["nats://u:p%40%2Fss@h:4222", "nats://***@h:4222"],
    ["u:pass@h:4222", "***@h:4222"],
    ["token@h", "***@h"],
    ["nats://u:p@a:4222,nats://v:q@b:4222", "nats://***@a:4222,nats://***@b:4222"],
    ["nats://a:4222,tls://tok@b:4443,c:4222", "nats://a:4222,tls://***@b:4443,c:4222"],
    ["nats://u:pa,ss@h:4222", "nats://***@h:4222"],
    ["libsql://db.turso.io?authToken=eyJabc.def", "libsql://db.turso.io"],
    ["libsql://db.turso.io/?tls=1&authToken=eyJabc#frag", "libsql://db.turso.io/"],
    ["https://u:p@h:8080/db?authToken=t", "https://***@h:8080/db"],
    ["http://u:p@[::1]:8080/", "http://***@[::1]:8080/"],
    ["file:/data/x.db?authToken=t", "file:/data/x.db"],
    ["file:/data/me@home/x.db", "file:/data/me@home/x.db"],
    // Ambiguous: either a password holding "h?authToken=a" or a query holding "@b": both hidden.
    ["libsql://u:p@h?authToken=a@b", "libsql://***"],
    // Either a path "/p@x" or the password "p" of user "h": hidden, to be safe.
    ["https://h/p@x", "https://***@x"],
  ];
  for (const [url, redacted] of cases) {
    test(`config urls - redactUrl(${JSON.stringify(url)}) is ${JSON.stringify(redacted)}`, () => {
      expect(redactUrl(url)).toBe(redacted);
    });
  }
});

/** Password characters: URL delimiters, percent signs, commas, brackets, spaces and non-ASCII included. */
const secretChar = fc.constantFrom(
  ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
  ..."@#/?:%,;=&+!$*'()[]~.-_ ", "é", "密",
);
const secret = fc.string({ unit: secretChar, minLength: 4, maxLength: 24 });
const host = fc.constantFrom("h", "db.turso.io", "127.0.0.1", "[::1]", "nats-1.svc.cluster.local");
const port = fc.constantFrom("", ":4222", ":1");
const path = fc.constantFrom("", "/", "/db", "/x/y");
const scheme = fc.constantFrom("nats", "tls", "ws", "wss", "http", "https", "libsql");
const user = fc.constantFrom("u", "pvflow", "me.x");

/** A URL (or list) holding `secrets`, as text with the secrets left out, to know which pieces are public. */
type Built = { url: string; template: string; secrets: string[] };

const forms: fc.Arbitrary<Built>[] = [
  // user:password@
  fc.tuple(scheme, user, secret, host, port, path).map(([s, u, pw, h, p, pa]) =>
    ({ url: `${s}://${u}:${pw}@${h}${p}${pa}`, template: `${s}://${u}:@${h}${p}${pa}`, secrets: [pw] })),
  // token@ (no user name)
  fc.tuple(scheme, secret, host, port).map(([s, t, h, p]) =>
    ({ url: `${s}://${t}@${h}${p}`, template: `${s}://@${h}${p}`, secrets: [t] })),
  // percent-encoded password
  fc.tuple(scheme, user, secret, host, port).map(([s, u, pw, h, p]) =>
    ({ url: `${s}://${u}:${encodeURIComponent(pw)}@${h}${p}`, template: `${s}://${u}:@${h}${p}`, secrets: [pw, encodeURIComponent(pw)] })),
  // no scheme
  fc.tuple(user, secret, host, port).map(([u, pw, h, p]) =>
    ({ url: `${u}:${pw}@${h}${p}`, template: `${u}:@${h}${p}`, secrets: [pw] })),
  // a token in the query, with and without user info
  fc.tuple(host, path, secret).map(([h, pa, t]) =>
    ({ url: `libsql://${h}${pa}?authToken=${t}`, template: `libsql://${h}${pa}?authToken=`, secrets: [t] })),
  fc.tuple(user, secret, host, secret).map(([u, pw, h, t]) =>
    ({ url: `https://${u}:${pw}@${h}/?tls=1&authToken=${t}#x`, template: `https://${u}:@${h}/?tls=1&authToken=#x`, secrets: [pw, t] })),
  // several comma-separated servers, credentials in some of them
  fc.tuple(secret, host, secret, host).map(([a, h1, b, h2]) => ({
    url: `nats://x:4222,nats://u:${a}@${h1}:4222,tls://${b}@${h2}:4443,y:4222`,
    template: `nats://x:4222,nats://u:@${h1}:4222,tls://@${h2}:4443,y:4222`,
    secrets: [a, b],
  })),
];

/** Every 4-character piece of `s` that does not occur in `publicText` anyway. */
const pieces = (s: string, publicText: string) =>
  Array.from({ length: Math.max(0, s.length - 3) }, (_, i) => s.slice(i, i + 4)).filter((p) => !publicText.includes(p));

test("config urls - no generated password or token, nor a piece of one, appears in redactUrl's output", () => {
  fc.assert(
    fc.property(fc.oneof(...forms), ({ url, template, secrets }) => {
      const out = redactUrl(url);
      // What the output may show anyway: the URL without its secrets, and the redaction mark
      // (a password "/***" shows up in "nats://***@h" without leaking anything).
      const publicText = `${template} ://***@`;
      for (const s of secrets) {
        if (publicText.includes(s)) continue; // e.g. "4222" as a password: public anyway
        expect(out).not.toContain(s);
        for (const p of pieces(s, publicText)) expect(out).not.toContain(p);
      }
    }),
    { numRuns: 50000 },
  );
});
