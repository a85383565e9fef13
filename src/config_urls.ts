/**
 * @module
 * URL parsing for the config (pure but for one directory check): redacting credentials from any
 * URL or comma-separated list of URLs, validating a NATS server URL, and finding the database
 * file a libSQL `file:` URL names.
 */
import { statSync } from "node:fs";
import { dirname } from "node:path";

const SCHEME = /^(\s*[A-Za-z][A-Za-z0-9+.-]*:\/\/)(.*)$/s;
/** host[:port]: a bracketed IPv6 address or a name without URL delimiters; the port may be empty. */
const AUTHORITY = /^(\[[0-9A-Fa-f:.]+\]|[^\s:/?#@,[\]]+)(:\d*)?$/;

/** Index of the first of `chars` in `s` at or after `from`, or `s.length`. */
function indexOfAny(s: string, chars: string, from: number): number {
  for (let i = from; i < s.length; i++) if (chars.includes(s[i])) return i;
  return s.length;
}

/**
 * One URL (or a URL followed by schemeless `host:port` items), redacted: `prefix` is its
 * `scheme://` (or ""), `valid` whether some reading of it has a well-formed host.
 *
 * Passwords may hold unencoded `@ / ? # ,`, so where the user info ends is ambiguous: every `@`
 * could end it, and each reading has its own query. Everything that is user info or query in
 * ANY reading whose host is well-formed is hidden: up to the last `@`, and from the first `?` or
 * `#` that some reading would start its query with.
 */
function redactOne(prefix: string, rest: string): { text: string; valid: boolean } {
  const ats: number[] = [];
  for (let i = rest.indexOf("@"); i >= 0; i = rest.indexOf("@", i + 1)) ats.push(i);
  const hostStart = ats.length === 0 ? 0 : ats[ats.length - 1] + 1;
  // The displayed part never includes a query, whatever else is ambiguous.
  let queryStart = indexOfAny(rest, "?#", hostStart);
  let valid = false;
  for (const start of [0, ...ats.map((a) => a + 1)]) {
    const end = indexOfAny(rest, "/?#,", start);
    if (!AUTHORITY.test(rest.slice(start, end))) continue;
    if (start === hostStart) valid = true;
    queryStart = Math.min(queryStart, indexOfAny(rest, "?#", end));
  }
  if (ats.length === 0) return { text: prefix + rest.slice(0, queryStart), valid };
  if (queryStart < hostStart) return { text: `${prefix}***`, valid };
  return { text: `${prefix}***@${rest.slice(hostStart, queryStart)}`, valid };
}

/**
 * Removes credentials from a URL or a comma-separated list of URLs, parsing each: user info
 * (`user:pass@`, `token@`, also with `@ / ? #` or `%xx` in the password, with or without a
 * scheme) becomes `***@`; query strings and fragments (`?authToken=...`) are dropped. A `file:`
 * URL keeps its path. When a URL is ambiguous, more is hidden rather than less.
 */
export function redactUrl(url: string): string {
  if (/^\s*file:/i.test(url)) return url.replace(/[?#].*$/s, "");
  const out: string[] = [];
  let group: { prefix: string; rest: string } | undefined;
  const flush = () => {
    if (group) out.push(redactOne(group.prefix, group.rest).text);
  };
  for (const piece of url.split(",")) {
    const m = SCHEME.exec(piece);
    // A piece with a scheme starts the next URL, unless the current one is not yet a whole URL
    // (then the comma was inside its password).
    if (group === undefined || (m && redactOne(group.prefix, group.rest).valid)) {
      flush();
      group = m ? { prefix: m[1], rest: m[2] } : { prefix: "", rest: piece };
    } else {
      group.rest += `,${piece}`;
    }
  }
  flush();
  return out.join(",");
}

/** The schemes a NATS server URL may have. */
const NATS_SCHEMES = new Set(["nats", "tls", "ws", "wss"]);
const HOST_NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/;

/**
 * What is wrong with one NATS server URL (`[scheme://]host[:port]`), as a phrase to append to
 * the allowed form ("" when only the general form is wrong), or undefined when it is fine.
 */
export function natsServerProblem(url: string): string | undefined {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(url);
  if (m && !NATS_SCHEMES.has(m[1].toLowerCase())) return "";
  const rest = m ? m[2] : url;
  const at = rest.lastIndexOf("@");
  const hostPort = rest.slice(at + 1);
  if (/[\s/?#,]/.test(hostPort)) return "";
  if (at >= 0) {
    // The NATS client ignores credentials in server URLs (and cannot parse some of them).
    return "without credentials (set NATS_TOKEN, NATS_USER/NATS_PASSWORD or NATS_CREDS instead)";
  }
  const v6 = /^\[([^\]]*)\](?::(.*))?$/.exec(hostPort);
  let host: string;
  let port: string | undefined;
  if (v6) {
    host = v6[1];
    port = v6[2];
  } else {
    const colon = hostPort.indexOf(":");
    if (colon >= 0 && hostPort.indexOf(":", colon + 1) >= 0) return "with an IPv6 address in brackets, as [::1]:4222";
    host = colon >= 0 ? hostPort.slice(0, colon) : hostPort;
    port = colon >= 0 ? hostPort.slice(colon + 1) : undefined;
  }
  if (v6 ? !isIPv6(host) : !isHostName(host)) return "with a host name, IPv4 address or [IPv6] address";
  if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) {
    return "with a port from 1 to 65535";
  }
  return undefined;
}

function isHostName(h: string): boolean {
  if (!HOST_NAME.test(h)) return false;
  const labels = h.replace(/\.$/, "").split(".");
  // All-numeric names are IPv4 addresses: four octets of at most 255 (a bare port is not a host).
  if (labels.every((l) => /^\d+$/.test(l))) return labels.length === 4 && labels.every((l) => Number(l) <= 255);
  return true;
}

function isIPv6(h: string): boolean {
  if (!/^[0-9A-Fa-f:.]+$/.test(h) || !h.includes(":")) return false;
  try {
    new URL(`http://[${h}]/`);
    return true;
  } catch {
    return false;
  }
}

/** Query parameters the libSQL client accepts on a `file:` URL (it refuses any other at open). */
const FILE_PARAMS = new Set(["authToken", "tls"]);

/**
 * What is wrong with a libSQL `file:` URL, as the allowed form, or undefined when it is fine.
 * Parsed as the libSQL client parses it: `file:rel.db`, `file:/abs.db`, `file:///abs.db`,
 * `file://localhost/abs.db`, percent-encoding decoded, the query not part of the path.
 */
export function fileDbProblem(url: string): string | undefined {
  const m = /^file:(?:\/\/([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#.*)?$/s.exec(url);
  if (!m) return "file:<path>";
  const [, authority, rawPath, query] = m;
  if (authority !== undefined && authority !== "" && authority.toLowerCase() !== "localhost") {
    return "file:<path> of a local file (file:/abs/x.db, file:///abs/x.db or file:rel/x.db)";
  }
  for (const pair of (query ?? "").split("&")) {
    const key = pair.split("=")[0];
    if (key !== "" && !FILE_PARAMS.has(key)) return "file:<path> without query parameters (the libSQL client accepts none for a file)";
  }
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return "file:<path> with valid percent-encoding";
  }
  if (path === "") return "file:<path>";
  // One process, several connections (the commit thread has its own): an in-memory database
  // would be a different, empty one on each.
  if (path.startsWith(":memory:")) return "file:<path> of a file (not :memory:)";
  const dir = dirname(path);
  try {
    if (!statSync(dir).isDirectory()) return `file:<path> in an existing directory (${dir} is not a directory)`;
  } catch (err) {
    return `file:<path> in an existing directory (${dir}: ${(err as NodeJS.ErrnoException).code ?? "not found"})`;
  }
  try {
    if (statSync(path).isDirectory()) return `file:<path> of a file (${path} is a directory)`;
  } catch {
    // Not there yet: created on first start.
  }
  return undefined;
}
