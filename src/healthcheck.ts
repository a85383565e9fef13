/**
 * @module
 * `pvflow healthcheck`: asks the instance at PVFLOW_HTTP_HOST:PVFLOW_HTTP_PORT (the same
 * environment the instance runs with, as in a container) for `GET /readyz`, with a short timeout.
 * Ready only on a 200; anything else — 503, no answer, a timeout — is not ready.
 */

/** What the probe found: `ready`, and one line saying why (printed by the CLI). */
export interface HealthcheckResult {
  ready: boolean;
  line: string;
}

/** Where to probe and how. */
export interface HealthcheckOptions {
  host: string;
  port: number;
  /** Sent as a Bearer token when set (the instance may require it). */
  adminToken?: string;
  /** @default 3000 */
  timeoutMs?: number;
}

/** The URL of `/readyz` on `host:port`; a wildcard bind address is probed on loopback. */
export function readyzUrl(host: string, port: number): string {
  const h = host === "0.0.0.0" ? "127.0.0.1" : host === "::" || host === "[::]" ? "::1" : host;
  const bracketed = h.includes(":") && !h.startsWith("[") ? `[${h}]` : h;
  return `http://${bracketed}:${port}/readyz`;
}

/** Probes `/readyz` once. Never throws. */
export async function healthcheck(o: HealthcheckOptions): Promise<HealthcheckResult> {
  if (o.port === 0) {
    return { ready: false, line: "PVFLOW_HTTP_PORT is 0 (any free port): the healthcheck needs the port the instance listens on" };
  }
  const url = readyzUrl(o.host, o.port);
  const timeoutMs = o.timeoutMs ?? 3000;
  try {
    const res = await fetch(url, {
      headers: o.adminToken ? { authorization: `Bearer ${o.adminToken}` } : {},
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = await res.text();
    if (res.status === 200) return { ready: true, line: `ready (${url})` };
    let reason = body.slice(0, 300);
    try {
      const j = JSON.parse(body) as { state?: string; reason?: string | null; error?: string };
      reason = [j.state, j.reason ?? j.error].filter(Boolean).join(": ") || reason;
    } catch {
      // Not JSON: the text as it is.
    }
    return { ready: false, line: `not ready: ${url} answered ${res.status}${reason ? ` (${reason})` : ""}` };
  } catch (err) {
    const e = err as Error;
    const why = e.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : e.message;
    return { ready: false, line: `not ready: ${url}: ${why}` };
  }
}
