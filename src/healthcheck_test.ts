/**
 * @module
 * Unit tests for {@link healthcheck} against a real local HTTP server standing in for the status
 * server's `/readyz`: ready only on 200; the admin token is sent; a 503, no listener and no answer
 * within the timeout are not ready, each saying why.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { healthcheck, readyzUrl } from "./healthcheck.ts";
import { type HttpServer, serve as listen, sleep } from "./platform.ts";

const servers: HttpServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

function serve(fetch: (req: Request) => Response | Promise<Response>): number {
  const s = listen({ hostname: "127.0.0.1", port: 0, fetch });
  servers.push(s);
  return s.port;
}

describe("healthcheck", () => {
  test("healthcheck - ready only when /readyz answers 200", async () => {
    const paths: string[] = [];
    const port = serve((req) => {
      paths.push(new URL(req.url).pathname);
      return Response.json({ ready: true }, { status: 200 });
    });
    expect(await healthcheck({ host: "127.0.0.1", port })).toEqual({ ready: true, line: `ready (http://127.0.0.1:${port}/readyz)` });
    expect(paths).toEqual(["/readyz"]);
  });

  test("healthcheck - a 503 is not ready, with the state and reason it gave", async () => {
    const port = serve(() => Response.json({ ready: false, state: "RESTORING", reason: "waiting for NATS: connection refused" }, { status: 503 }));
    const r = await healthcheck({ host: "127.0.0.1", port });
    expect(r.ready).toBe(false);
    expect(r.line).toBe(`not ready: http://127.0.0.1:${port}/readyz answered 503 (RESTORING: waiting for NATS: connection refused)`);
  });

  test("healthcheck - sends the admin token as a Bearer token when set, nothing otherwise", async () => {
    const seen: Array<string | null> = [];
    const port = serve((req) => {
      seen.push(req.headers.get("authorization"));
      return new Response("ok", { status: req.headers.get("authorization") === "Bearer s3cret" ? 200 : 401 });
    });
    expect((await healthcheck({ host: "127.0.0.1", port, adminToken: "s3cret" })).ready).toBe(true);
    const without = await healthcheck({ host: "127.0.0.1", port });
    expect(without.ready).toBe(false);
    expect(without.line).toContain("answered 401");
    expect(seen).toEqual(["Bearer s3cret", null]);
  });

  test("healthcheck - no listener is not ready", async () => {
    const port = serve(() => new Response("x"));
    await servers.pop()?.stop();
    const r = await healthcheck({ host: "127.0.0.1", port });
    expect(r.ready).toBe(false);
    expect(r.line).toStartWith(`not ready: http://127.0.0.1:${port}/readyz: `);
  });

  test("healthcheck - no answer within the timeout is not ready", async () => {
    const port = serve(async () => {
      await sleep(2_000);
      return new Response("late");
    });
    const r = await healthcheck({ host: "127.0.0.1", port, timeoutMs: 100 });
    expect(r).toEqual({ ready: false, line: `not ready: http://127.0.0.1:${port}/readyz: no answer within 100 ms` });
  });

  test("healthcheck - port 0 cannot be probed", async () => {
    const r = await healthcheck({ host: "127.0.0.1", port: 0 });
    expect(r.ready).toBe(false);
    expect(r.line).toContain("PVFLOW_HTTP_PORT is 0");
  });

  test("healthcheck - a wildcard bind address is probed on loopback; IPv6 in brackets", () => {
    expect(readyzUrl("0.0.0.0", 8080)).toBe("http://127.0.0.1:8080/readyz");
    expect(readyzUrl("::", 8080)).toBe("http://[::1]:8080/readyz");
    expect(readyzUrl("::1", 9)).toBe("http://[::1]:9/readyz");
    expect(readyzUrl("localhost", 9)).toBe("http://localhost:9/readyz");
  });
});
