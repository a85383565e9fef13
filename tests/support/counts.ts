/**
 * @module
 * Reads every committed count over HTTP, page by page (`GET /counts?limit=&after=`), as a client
 * of a job with any number of keys must.
 */

/** Something serving the status endpoints, e.g. a {@link PvflowProcess}. */
export interface StatusClient {
  url: string;
}

/**
 * Every committed `key → count` from `GET /counts`, following `next`. Each page is one checkpoint,
 * but checkpoints complete between pages: counts only grow, so a total read this way is at most the
 * latest committed total, and once the job is idle the result is exactly the committed state.
 */
export async function allCounts(pv: StatusClient, limit = 10_000): Promise<Map<string, number>> {
  const all = new Map<string, number>();
  let after: string | null = null;
  do {
    const q: string = after === null ? "" : `&after=${encodeURIComponent(after)}`;
    const res = await fetch(`${pv.url}/counts?limit=${limit}${q}`);
    if (res.status !== 200) throw new Error(`GET /counts answered ${res.status}: ${await res.text()}`);
    const body = (await res.json()) as { counts: Record<string, number>; next: string | null };
    if (body.next === undefined) throw new Error(`GET /counts answered no "next": not a paged answer`);
    for (const [k, v] of Object.entries(body.counts)) {
      if (all.has(k)) throw new Error(`GET /counts answered key ${JSON.stringify(k)} on two pages`);
      all.set(k, v);
    }
    if (body.next !== null && body.next === after) throw new Error(`GET /counts: next did not advance past ${JSON.stringify(after)}`);
    after = body.next;
  } while (after !== null);
  return all;
}
