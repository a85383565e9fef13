/**
 * @module
 * `GET /windows` (windows on): committed window results, read from `window_counts`.
 * `?key=K[&from=T&to=T]` is one key's windows starting in `[from, to)`; `?start=T` is every key's
 * window starting at T. Each result with its revision; the latest revision is the newest count.
 */
import type { Context, Hono } from "hono";
import type { CheckpointStore, WindowsQuery } from "../checkpoint/store.ts";

/** Results per answer at most. */
export const MAX_WINDOWS = 10_000;

const bad = (c: Context, error: string) => c.json({ error }, 400);
const time = (v: string | undefined) => (v === undefined ? undefined : /^\d{1,16}$/.test(v) ? Number(v) : NaN);

/** Adds `GET /windows` to `app`. */
export function mountWindowsRoute(app: Hono, store: Pick<CheckpointStore, "readWindows">): void {
  app.get("/windows", async (c) => {
    const { key, from, to, start } = c.req.query();
    let query: WindowsQuery;
    if (key !== undefined) {
      if (start !== undefined) return bad(c, "key cannot be combined with start (use from and to)");
      const f = time(from), t = time(to);
      if (Number.isNaN(f) || Number.isNaN(t)) return bad(c, `from and to must be epoch milliseconds, got ${JSON.stringify({ from, to })}`);
      query = { key, from: f, to: t };
    } else if (start !== undefined) {
      const s = time(start);
      if (Number.isNaN(s)) return bad(c, `start must be epoch milliseconds, got ${JSON.stringify(start)}`);
      query = { start: s! };
    } else {
      return bad(c, "give key=K (with optional from and to) or start=T");
    }
    return c.json({ windows: await store.readWindows(query, MAX_WINDOWS) });
  });
}
