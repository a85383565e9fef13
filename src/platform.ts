/**
 * @module
 * The few runtime calls pvflow needs that Bun and Deno spell differently — sleeping and serving
 * HTTP — behind one interface, so the core runs from source under either (and in the compiled Bun
 * binary). Everything else pvflow uses (Workers, MessagePorts, `node:*`, `process`) is common.
 */

/** The Deno global's few members used here; declared locally because the types are Bun's. */
interface DenoHttpServer {
  addr: { hostname: string; port: number };
  shutdown(): Promise<void>;
}
interface DenoGlobal {
  serve(
    options: { hostname: string; port: number; onListen?: () => void },
    handler: (req: Request) => Response | Promise<Response>,
  ): DenoHttpServer;
}

/** The Deno global when running under Deno, else undefined. */
export const deno: DenoGlobal | undefined = (globalThis as { Deno?: DenoGlobal }).Deno;

/** The runtime pvflow runs on (a compiled binary is Bun). */
export const runtime: "bun" | "deno" = typeof Bun !== "undefined" ? "bun" : deno ? "deno" : (() => {
  throw new Error("pvflow runs on Bun or Deno; neither `Bun` nor `Deno` is defined");
})();

/** The runtime's version, e.g. `1.4.5` (Bun) or `2.9.6` (Deno). */
export const runtimeVersion: string = runtime === "bun"
  ? Bun.version
  : (globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version.deno;

/** Lets the process exit while `timer` is pending (`unref`; Deno's timers are plain numbers). */
export function unrefTimer(timer: ReturnType<typeof setInterval>): void {
  if (runtime === "bun") (timer as unknown as { unref(): void }).unref();
  else (globalThis as unknown as { Deno: { unrefTimer(id: number): void } }).Deno.unrefTimer(timer as unknown as number);
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return runtime === "bun" ? Bun.sleep(ms) : new Promise((resolve) => setTimeout(resolve, ms));
}

/** A listening HTTP server. */
export interface HttpServer {
  /** The address actually bound (the port is the real one when 0 was asked for). */
  readonly hostname: string;
  readonly port: number;
  /**
   * Stops listening; resolves once stopped (awaiting is optional). Bun drops open connections at
   * once; Deno's `shutdown` lets requests in flight finish first.
   */
  stop(): Promise<void>;
}

/** Options of {@link serve}. */
export interface ServeOptions {
  hostname: string;
  /** `0`: any free port. */
  port: number;
  fetch: (req: Request) => Response | Promise<Response>;
}

/** Starts an HTTP server; throws synchronously when the address cannot be bound. */
export function serve(o: ServeOptions): HttpServer {
  if (runtime === "bun") {
    const s = Bun.serve({ hostname: o.hostname, port: o.port, fetch: (req) => o.fetch(req) });
    return { hostname: s.hostname ?? o.hostname, port: s.port ?? o.port, stop: () => Promise.resolve(s.stop(true)) };
  }
  // onListen replaces Deno's own "Listening on ..." line: pvflow logs the address itself.
  const s = deno!.serve({ hostname: o.hostname, port: o.port, onListen: () => {} }, (req) => o.fetch(req));
  return { hostname: s.addr.hostname, port: s.addr.port, stop: () => s.shutdown() };
}
